"""vmgui's answers to a connecting host: the host-key and credential dialogs.

:class:`DialogAsker` is the :class:`~vmgui.virt.credentials.CredentialAsker` of the window:
its coroutines run on the Qt thread (the connect waits on its worker meanwhile) and show
``hostKeyDialog`` (accept() trusts the shown key, reject() refuses) or ``credentialDialog``
(one ``QLineEdit`` per prompt; accept() answers).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.sshprompts import HostKeyQuestion
from vmgui.core.validation import host_display_name
from vmgui.ui.dialogs import exec_async
from vmgui.ui.widgets import muted_label, title_font
from vmgui.virt.credentials import CredentialAnswer, CredentialRequest


class HostKeyDialog(QDialog):
    """Shows an unknown host key (host, key type, SHA256 fingerprint) to trust or refuse."""

    def __init__(self, uri: str, question: HostKeyQuestion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hostKeyDialog")
        self.setWindowTitle("Unknown host key")
        title = QLabel(f"Is this {host_display_name(uri)}?")
        title_font(title)
        intro = QLabel(
            "vmgui has never seen this host's key. Compare the fingerprint with the one the "
            "host's administrator gives you (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub)."
        )
        intro.setWordWrap(True)
        self.host_label = QLabel(question.host)
        self.type_label = QLabel(question.key_type or "unknown")
        self.fingerprint_label = QLabel(question.fingerprint)
        self.fingerprint_label.setObjectName("hostKeyFingerprint")
        for label in (self.host_label, self.type_label, self.fingerprint_label):
            label.setTextInteractionFlags(label.textInteractionFlags().TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Host:", self.host_label)
        form.addRow("Key type:", self.type_label)
        form.addRow("Fingerprint:", self.fingerprint_label)
        buttons = QDialogButtonBox()
        self.trust_button = buttons.addButton(
            "Trust and Connect", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.refuse_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.refuse_button.setText("Refuse")
        # Enter must never trust a key: only a deliberate click on "Trust and Connect" does.
        self.trust_button.setAutoDefault(False)
        self.refuse_button.setDefault(True)
        self.refuse_button.setFocus()
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(muted_label("Accepted keys are remembered in the host's known_hosts."))
        layout.addWidget(buttons)
        self.setMinimumWidth(480)


class CredentialDialog(QDialog):
    """One field per prompt (passwords hidden), and "Remember password" when possible."""

    def __init__(self, request: CredentialRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("credentialDialog")
        self.setWindowTitle("Log in")
        title = QLabel(f"{host_display_name(request.uri)} asks for credentials")
        title_font(title)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        if request.attempt > 1:
            layout.addWidget(muted_label("That was refused; try again."))
        form = QFormLayout()
        self.edits: list[QLineEdit] = []
        for prompt in request.prompts:
            edit = QLineEdit(prompt.default)
            if not prompt.echo:
                edit.setEchoMode(QLineEdit.EchoMode.Password)
            self.edits.append(edit)
            label = QLabel(prompt.text)
            label.setWordWrap(True)
            form.addRow(label, edit)
        layout.addLayout(form)
        self.remember_check = QCheckBox("Remember password")
        secret = any(not p.echo for p in request.prompts)
        self.remember_check.setEnabled(secret and not request.remember_unavailable)
        if request.remember_unavailable:
            self.remember_check.setToolTip(request.remember_unavailable)
        layout.addWidget(self.remember_check)
        self.remember_reason = muted_label(request.remember_unavailable if secret else "")
        self.remember_reason.setWordWrap(True)
        self.remember_reason.setVisible(secret and bool(request.remember_unavailable))
        layout.addWidget(self.remember_reason)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)
        if self.edits:
            self.edits[-1 if request.prompts[0].default else 0].setFocus()

    def answer(self) -> CredentialAnswer:
        """What was typed, one value per prompt."""
        values = tuple(edit.text() for edit in self.edits)
        return CredentialAnswer(values, self.remember_check.isChecked())


class DialogAsker:
    """A CredentialAsker showing vmgui's dialogs over the window.

    Args:
        parent: returns the widget the dialogs are modal to.
    """

    def __init__(self, parent: Callable[[], QWidget]) -> None:
        self._parent = parent

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        """Show ``hostKeyDialog``; True only if the user trusted the key."""
        dialog = HostKeyDialog(uri, question, self._parent())
        try:
            return await exec_async(dialog) == QDialog.DialogCode.Accepted.value
        finally:
            dialog.deleteLater()

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        """Show ``credentialDialog``; the answers, or None if cancelled."""
        dialog = CredentialDialog(request, self._parent())
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            return dialog.answer()
        finally:
            dialog.deleteLater()
