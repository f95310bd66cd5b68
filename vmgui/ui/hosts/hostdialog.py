"""The Add/Edit Host dialog: form fields with a live URI preview, or a typed URI.

Validated as you type (host name or IP, port range, key file readable, the TLS certificate
folder holding libvirt's three files, or the typed URI);
warnings (``qemu+libssh``, unencrypted TCP, ``no_verify``) are shown but do not block.
A typed URI is used verbatim; vmgui's defaults only go into URIs built from the fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.hosturi import (
    HostFields,
    Transport,
    build_uri,
    field_errors,
    fields_from_uri,
    uri_warnings,
)
from vmgui.core.validation import ValidationError, validate_uri
from vmgui.ui.dialogs import exec_async
from vmgui.ui.widgets import RED_COLOR, muted_label


@dataclass(frozen=True, slots=True)
class HostChoice:
    """What the Add/Edit Host dialog answers.

    Attributes:
        uri: the libvirt URI (typed ones verbatim).
        name: the display name ("" = vmgui's own label for the URI).
        autoconnect: open the host when vmgui starts.
    """

    uri: str
    name: str = ""
    autoconnect: bool = True


class HostDialog(QDialog):
    """Asks for a host: hypervisor, transport, user, host, port, key file or certificate folder,
    or a typed URI.

    Args:
        initial: the host being edited (its fields are filled in), or None to add one.
        parent: the window.
    """

    def __init__(self, initial: HostChoice | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addHostDialog" if initial is None else "editHostDialog")
        self.setWindowTitle("Add Host" if initial is None else "Edit Host")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("hostNameEdit")
        self.name_edit.setPlaceholderText("(shown as the host's name)")
        self.hypervisor_combo = QComboBox()
        self.hypervisor_combo.addItems(["QEMU/KVM system", "QEMU/KVM user session"])
        self.transport_combo = QComboBox()
        for transport in Transport:
            self.transport_combo.addItem(transport.label, transport)
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("(your user name)")
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText("server.example.org or 192.0.2.10")
        self.port_edit = QLineEdit()
        self.port_edit.setPlaceholderText("(default)")
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("(ssh's own keys and agent)")
        self.key_button = QPushButton("Browse…")
        self.pki_edit = QLineEdit()
        self.pki_edit.setObjectName("hostPkiEdit")
        self.pki_edit.setPlaceholderText("(libvirt's default: ~/.pki/libvirt or /etc/pki)")
        self.pki_edit.setToolTip(
            "The folder with cacert.pem (the CA that signed the host), clientcert.pem and "
            "clientkey.pem (this computer's certificate and key)."
        )
        self.pki_button = QPushButton("Browse…")
        self.verify_check = QCheckBox("Verify the host key")
        self.verify_check.setChecked(True)
        self.typed_check = QCheckBox("Type the URI")
        self.uri_edit = QLineEdit()
        self.uri_edit.setObjectName("hostUriEdit")
        self.uri_edit.setReadOnly(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {RED_COLOR};")
        self.warning_label = muted_label("")
        self.warning_label.setWordWrap(True)
        self.autoconnect_check = QCheckBox("Connect automatically at start")
        self.autoconnect_check.setChecked(True)
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button.setText("Add Host" if initial is None else "Save")

        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.key_button)
        pki_row = QHBoxLayout()
        pki_row.addWidget(self.pki_edit, 1)
        pki_row.addWidget(self.pki_button)
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("Hypervisor:", self.hypervisor_combo)
        form.addRow("Transport:", self.transport_combo)
        form.addRow("User:", self.user_edit)
        form.addRow("Host:", self.host_edit)
        form.addRow("Port:", self.port_edit)
        form.addRow("Key file:", key_row)
        form.addRow("Certificates:", pki_row)
        form.addRow("", self.verify_check)
        form.addRow("URI:", self.uri_edit)
        form.addRow("", self.typed_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.warning_label)
        layout.addWidget(self.autoconnect_check)
        layout.addStretch(1)
        layout.addWidget(self._buttons)
        self.setMinimumWidth(520)

        if initial is not None:
            self._fill(initial)
        for edit in (self.name_edit, self.user_edit, self.host_edit, self.port_edit):
            edit.textChanged.connect(self._on_field_changed)
        self.key_edit.textChanged.connect(self._on_field_changed)
        self.pki_edit.textChanged.connect(self._on_field_changed)
        self.uri_edit.textChanged.connect(self._on_field_changed)
        self.hypervisor_combo.currentIndexChanged.connect(self._on_field_changed)
        self.transport_combo.currentIndexChanged.connect(self._on_field_changed)
        self.verify_check.toggled.connect(self._on_field_changed)
        self.typed_check.toggled.connect(self._on_typed_check_toggled)
        self.key_button.clicked.connect(self._on_key_button_clicked)
        self.pki_button.clicked.connect(self._on_pki_button_clicked)
        self._buttons.accepted.connect(self._on_buttons_accepted)
        self._buttons.rejected.connect(self.reject)
        self._refresh()

    @property
    def ok_button(self) -> QPushButton:
        """The button that accepts the dialog."""
        return self._buttons.button(QDialogButtonBox.StandardButton.Ok)

    def fields(self) -> HostFields:
        """The form's fields."""
        transport = self.transport_combo.currentData()
        return HostFields(
            session=self.hypervisor_combo.currentIndex() == 1,
            transport=transport if isinstance(transport, Transport) else Transport.LOCAL,
            user=self.user_edit.text(),
            host=self.host_edit.text(),
            port=self.port_edit.text(),
            key_file=self.key_edit.text(),
            verify_host_key=self.verify_check.isChecked(),
            pki_path=self.pki_edit.text(),
        )

    def set_fields(self, fields: HostFields) -> None:
        """Fill in the form from ``fields``."""
        self.hypervisor_combo.setCurrentIndex(1 if fields.session else 0)
        self.transport_combo.setCurrentIndex(list(Transport).index(fields.transport))
        self.user_edit.setText(fields.user)
        self.host_edit.setText(fields.host)
        self.port_edit.setText(fields.port)
        self.key_edit.setText(fields.key_file)
        self.verify_check.setChecked(fields.verify_host_key)
        self.pki_edit.setText(fields.pki_path)

    def uri(self) -> str:
        """The URI: typed (stripped), or built from the fields."""
        if self.typed_check.isChecked():
            return self.uri_edit.text().strip()
        return build_uri(self.fields())

    def choice(self) -> HostChoice:
        """The answer (check :meth:`error` first)."""
        return HostChoice(
            self.uri(), self.name_edit.text().strip(), self.autoconnect_check.isChecked()
        )

    def error(self) -> str:
        """Why the dialog cannot be accepted, or ""."""
        if self.typed_check.isChecked():
            try:
                validate_uri(self.uri_edit.text())
            except ValidationError as exc:
                return exc.message
            return ""
        return " ".join(field_errors(self.fields()).values())

    # -- internals --------------------------------------------------------------------------

    def _fill(self, initial: HostChoice) -> None:
        self.name_edit.setText(initial.name)
        self.autoconnect_check.setChecked(initial.autoconnect)
        fields = fields_from_uri(initial.uri)
        if fields is None:
            self.typed_check.setChecked(True)
            self.uri_edit.setReadOnly(False)
            self.uri_edit.setText(initial.uri)
        else:
            self.set_fields(fields)

    def _refresh(self) -> None:
        typed = self.typed_check.isChecked()
        remote = self.fields().transport is not Transport.LOCAL
        ssh = self.fields().transport is Transport.SSH
        tls = self.fields().transport is Transport.TLS
        enabled: list[tuple[QWidget, bool]] = [
            (self.user_edit, remote),
            (self.host_edit, remote),
            (self.port_edit, remote),
            (self.key_edit, ssh),
            (self.key_button, ssh),
            (self.pki_edit, tls),
            (self.pki_button, tls),
            (self.verify_check, ssh),
            (self.hypervisor_combo, True),
            (self.transport_combo, True),
        ]
        for widget, on in enabled:
            widget.setEnabled(on and not typed)
        if not typed:
            self.uri_edit.blockSignals(True)
            self.uri_edit.setText(self.uri())
            self.uri_edit.blockSignals(False)
        message = self.error()
        shown = message if (typed and self.uri_edit.text().strip()) or not typed else ""
        if not typed and not self.host_edit.text().strip():
            shown = ""  # an empty host is not an error yet; it only keeps OK disabled
        self.error_label.setText(shown)
        self.error_label.setVisible(bool(shown))
        warnings = uri_warnings(self.uri()) if not message else []
        self.warning_label.setText(" ".join(warnings))
        self.warning_label.setVisible(bool(warnings))
        self.ok_button.setEnabled(not message)

    def _on_field_changed(self, *_args: object) -> None:
        self._refresh()

    def _on_typed_check_toggled(self, checked: bool) -> None:
        self.uri_edit.setReadOnly(not checked)
        self._refresh()

    def _on_key_button_clicked(self) -> None:
        chooser = QFileDialog(self, "Choose an SSH private key")
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.fileSelected.connect(self.key_edit.setText)
        chooser.open()

    def _on_pki_button_clicked(self) -> None:
        chooser = QFileDialog(self, "Choose the folder with cacert.pem, clientcert.pem and key")
        chooser.setFileMode(QFileDialog.FileMode.Directory)
        chooser.setOption(QFileDialog.Option.ShowDirsOnly, True)
        chooser.fileSelected.connect(self.pki_edit.setText)
        chooser.open()

    def _on_buttons_accepted(self) -> None:
        if not self.error():
            self.accept()


async def ask_host(parent: QWidget, initial: HostChoice | None = None) -> HostChoice | None:
    """Show a :class:`HostDialog`; the answer, or None if cancelled."""
    dialog = HostDialog(initial, parent)
    try:
        if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
            return None
        return dialog.choice()
    finally:
        dialog.deleteLater()
