"""The cloud-init page: host name, user, password (hashed on leaving), SSH keys, packages.

The password is turned into a SHA-512 crypt hash when the page is left and the fields are
cleared: the plaintext never reaches the state, the engine or a log.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.cloudinit import (
    CloudInitConfig,
    guest_hostname,
    hash_password,
    validate_hostname,
    validate_ssh_key,
)
from vmgui.core.validation import ValidationError
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import MessageLabel, WizardPage
from vmgui.ui.wizard.context import WizardContext

_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_PASSWORD_SET = "Password set (stored as a hash); type to change it"


def default_user() -> str:
    """The login name, if it makes a valid guest user (not root); else ""."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return ""
    return name if _USER_RE.fullmatch(name) and name != "root" else ""


class CloudInitPage(WizardPage):
    """Settings for the guest's first boot, written into a NoCloud seed."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx,
            "First boot (cloud-init)",
            "Cloud images configure themselves at first boot from these settings.",
        )
        self.setObjectName("cloudInitPage")
        self._applied_key: tuple[object, ...] = ()
        self._hostname_edited = False
        self._password_hash = ""
        self.enable_check = QCheckBox("Configure the guest with cloud-init")
        self.enable_check.setObjectName("cloudInitCheck")
        self.hostname_edit = QLineEdit()
        self.hostname_edit.setObjectName("hostnameEdit")
        self.user_edit = QLineEdit()
        self.user_edit.setObjectName("userEdit")
        self.user_edit.setPlaceholderText("empty: the image's default user (e.g. debian)")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setObjectName("confirmPasswordEdit")
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit.setPlaceholderText("repeat the password")
        self.password_edit.setPlaceholderText("optional")
        self.keys_edit = QPlainTextEdit()
        self.keys_edit.setObjectName("sshKeysEdit")
        self.keys_edit.setPlaceholderText("ssh-ed25519 AAAA… you@example (one key per line)")
        self.keys_edit.setTabChangesFocus(True)
        self.keys_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 4 + 12)
        self.load_key_button = QPushButton("Load from File…")
        self.load_key_button.setObjectName("loadKeyButton")
        self.packages_edit = QLineEdit()
        self.packages_edit.setObjectName("packagesEdit")
        self.packages_edit.setPlaceholderText(
            "e.g. qemu-guest-agent htop (installed on first boot)"
        )
        self.messages = {
            key: MessageLabel(f"{key}Message")
            for key in ("hostname", "user", "password", "keys", "packages")
        }
        self.login_message = MessageLabel("loginMessage")

        self.fields = QWidget()
        form = QFormLayout(self.fields)
        form.setContentsMargins(0, 4, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(8)
        form.addRow("&Host name:", self._with(self.hostname_edit, "hostname"))
        form.addRow("&User:", self._with(self.user_edit, "user"))
        passwords = QHBoxLayout()
        passwords.addWidget(self.password_edit)
        passwords.addWidget(self.confirm_edit)
        password_box = QWidget()
        password_box.setLayout(passwords)
        passwords.setContentsMargins(0, 0, 0, 0)
        form.addRow("Pass&word:", self._with(password_box, "password"))
        keys_row = QVBoxLayout()
        keys_row.setContentsMargins(0, 0, 0, 0)
        keys_row.setSpacing(4)
        keys_row.addWidget(self.keys_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_key_button)
        buttons.addStretch(1)
        keys_row.addLayout(buttons)
        keys_box = QWidget()
        keys_box.setLayout(keys_row)
        form.addRow("&SSH keys:", self._with(keys_box, "keys"))
        form.addRow("&Packages:", self._with(self.packages_edit, "packages"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.enable_check)
        layout.addWidget(self.fields)
        layout.addWidget(self.login_message)
        layout.addStretch(1)
        layout.addWidget(
            muted_label("The password is hashed (SHA-512 crypt) before it leaves this page.")
        )

        self.enable_check.toggled.connect(self._on_enable_check_toggled)
        self.hostname_edit.textEdited.connect(self._on_hostname_edit_text_edited)
        for edit in (
            self.hostname_edit,
            self.user_edit,
            self.password_edit,
            self.confirm_edit,
            self.packages_edit,
        ):
            edit.textChanged.connect(self._on_field_changed)
        self.keys_edit.textChanged.connect(self._on_field_changed)
        self.load_key_button.clicked.connect(self._on_load_key_button_clicked)

    def _with(self, widget: QWidget, key: str) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(widget)
        layout.addWidget(self.messages[key])
        return box

    # -- page -------------------------------------------------------------------------------

    def initializePage(self) -> None:  # noqa: N802
        """Defaults for a new source; the host name follows the guest's name until edited."""
        key = self.state.source_key()
        if key != self._applied_key:
            self._applied_key = key
            self.enable_check.setChecked(self.state.cloud_init_default)
            if not self.user_edit.text():
                self.user_edit.setText(default_user())
        if not self._hostname_edited:
            self.hostname_edit.setText(guest_hostname(self.state.name))
        self.fields.setEnabled(self.enable_check.isChecked())
        self._validate()

    def errors(self) -> dict[str, str]:
        """The broken rules by field ("hostname", "user", "password", "keys", "packages")."""
        if not self.enable_check.isChecked():
            return {}
        errors: dict[str, str] = {}
        try:
            validate_hostname(self.hostname_edit.text().strip())
        except ValidationError as exc:
            errors["hostname"] = exc.message
        user = self.user_edit.text().strip()
        if user and (not _USER_RE.fullmatch(user) or user == "root"):
            errors["user"] = (
                "User name must start with a lowercase letter or '_' and hold only lowercase "
                "letters, digits, '_' and '-' (at most 32); root cannot be created."
            )
        if self.password_edit.text() != self.confirm_edit.text():
            errors["password"] = "The two passwords differ."
        for number, key in enumerate(self.ssh_keys(), start=1):
            try:
                validate_ssh_key(key)
            except ValidationError as exc:
                errors["keys"] = f"Key {number}: {exc.message}"
                break
        for package in self.packages():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9+._:=~-]*", package):
                errors["packages"] = f"{package!r} is not a package name."
                break
        return errors

    def ssh_keys(self) -> list[str]:
        """The keys typed or loaded, one per non-empty line."""
        return [line.strip() for line in self.keys_edit.toPlainText().splitlines() if line.strip()]

    def packages(self) -> list[str]:
        """The packages to install, split at spaces and commas."""
        return [p for p in re.split(r"[\s,]+", self.packages_edit.text()) if p]

    def isComplete(self) -> bool:  # noqa: N802
        """cloud-init is off, or every field is valid."""
        return not self.errors()

    def validatePage(self) -> bool:  # noqa: N802
        """Hash the password, forget the plaintext, and write the seed's settings."""
        if not self.isComplete():
            return False
        if not self.enable_check.isChecked():
            self.state.cloud_init = None
            return True
        if self.password_edit.text():
            self._password_hash = hash_password(self.password_edit.text())
        self.password_edit.clear()
        self.confirm_edit.clear()
        self.password_edit.setPlaceholderText(_PASSWORD_SET if self._password_hash else "optional")
        try:
            self.state.cloud_init = CloudInitConfig(
                hostname=self.hostname_edit.text().strip(),
                user=self.user_edit.text().strip(),
                password_hash=self._password_hash,
                ssh_keys=tuple(self.ssh_keys()),
                packages=tuple(self.packages()),
            )
        except ValidationError as exc:
            self.login_message.show_error(exc.message)
            return False
        return True

    # -- slots ------------------------------------------------------------------------------

    def _on_enable_check_toggled(self, checked: bool) -> None:
        self.fields.setEnabled(checked)
        self._validate()

    def _on_hostname_edit_text_edited(self, _text: str) -> None:
        self._hostname_edited = True

    def _on_field_changed(self) -> None:
        self._validate()

    def _validate(self) -> None:
        errors = self.errors()
        for key, label in self.messages.items():
            label.show_error(errors.get(key, ""))
        has_password = bool(self.password_edit.text() or self._password_hash)
        if self.enable_check.isChecked() and not has_password and not self.ssh_keys():
            self.login_message.show_warning(
                "Without a password or an SSH key nobody can log in to the guest "
                "(except on images that set up their own access)."
            )
        else:
            self.login_message.clear_message()
        self.completeChanged.emit()

    def _on_load_key_button_clicked(self) -> None:
        dialog = QFileDialog(self, "Choose an SSH public key", str(Path.home() / ".ssh"))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["Public keys (*.pub)", "All files (*)"])
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self._on_key_dialog_file_selected)
        dialog.open()

    def _on_key_dialog_file_selected(self, path: str) -> None:
        self.spawn(self.load_key_file(Path(path)))

    async def load_key_file(self, path: Path) -> None:
        """Append the public key(s) in ``path`` (read on a thread) to the key list."""
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.messages["keys"].show_error(f"Could not read {path}: {exc}")
            return
        if "PRIVATE KEY" in text:
            self.messages["keys"].show_error(
                f"{path.name} is a private key: choose the public key (.pub)."
            )
            return
        current = self.keys_edit.toPlainText().rstrip()
        added = "\n".join(line.strip() for line in text.splitlines() if line.strip())
        self.keys_edit.setPlainText(f"{current}\n{added}".strip())
