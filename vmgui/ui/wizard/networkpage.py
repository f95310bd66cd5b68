"""The network and virtualisation page: the host's networks (or user-mode networking) and
KVM or emulation, both read from the host on its worker."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import USER_NETWORK, VirtType
from vmgui.core.settings import SESSION_URI
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import MessageLabel, WizardPage
from vmgui.ui.wizard.context import WizardContext
from vmgui.virt.hostchoices import NetworkChoice

USER_LABEL = "User-mode networking (no host set-up; the guest can reach out, nothing reaches in)"


def network_text(net: NetworkChoice) -> str:
    """A network as listed: its name, forward mode and whether it runs."""
    state = "active" if net.active else "inactive: started when the guest is created"
    return f"{net.name}  ({net.mode}, {state})"


def default_network(uri: str, networks: tuple[NetworkChoice, ...]) -> str:
    """User-mode networking on the session host; else "default", the first active one, or user."""
    if uri == SESSION_URI:
        return USER_NETWORK
    if any(n.name == "default" for n in networks):
        return "default"
    return next((n.name for n in networks if n.active), USER_NETWORK)


class NetworkPage(WizardPage):
    """The guest's network and domain type."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx,
            "Network and virtualization",
            "Connect the guest and choose how its CPU runs.",
        )
        self.setObjectName("networkPage")
        self._loaded_for = ""
        self._networks_ok = False
        self._types_ok = False
        self.network_combo = QComboBox()
        self.network_combo.setObjectName("networkCombo")
        self.network_message = MessageLabel("networkMessage")
        self.kvm_radio = QRadioButton("KVM: hardware virtualization (fast)")
        self.kvm_radio.setObjectName("kvmRadio")
        self.qemu_radio = QRadioButton("Emulated: QEMU TCG (slow; runs anywhere)")
        self.qemu_radio.setObjectName("qemuRadio")
        self._group = QButtonGroup(self)
        self._group.addButton(self.kvm_radio)
        self._group.addButton(self.qemu_radio)
        self.virt_message = MessageLabel("virtMessage")

        network_box = QWidget()
        network_layout = QVBoxLayout(network_box)
        network_layout.setContentsMargins(0, 0, 0, 0)
        network_layout.setSpacing(4)
        network_layout.addWidget(self.network_combo)
        network_layout.addWidget(self.network_message)
        network_layout.addWidget(
            muted_label(
                "A libvirt network gives the guest an address on the host's virtual network "
                "(NAT by default). User-mode networking needs no privileges."
            )
        )
        virt_box = QWidget()
        virt_layout = QVBoxLayout(virt_box)
        virt_layout.setContentsMargins(0, 0, 0, 0)
        virt_layout.setSpacing(4)
        virt_layout.addWidget(self.kvm_radio)
        virt_layout.addWidget(self.qemu_radio)
        virt_layout.addWidget(self.virt_message)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(16)
        form.addRow("&Network:", network_box)
        form.addRow("Virtualization:", virt_box)
        self.network_combo.currentIndexChanged.connect(self._on_network_combo_current_index_changed)
        self._group.buttonToggled.connect(self._on_group_button_toggled)

    def initializePage(self) -> None:  # noqa: N802
        """Load the chosen host's networks and domain types (once per host)."""
        if self._loaded_for == self.state.uri:
            return
        self._loaded_for = self.state.uri
        self._networks_ok = self._types_ok = False
        self.network_combo.clear()
        self.kvm_radio.setEnabled(False)
        self.qemu_radio.setEnabled(False)
        label = self.ctx.host_label()
        self.network_message.show_note(f"Reading the networks of {label}…")
        self.virt_message.show_note(f"Checking the virtualization support of {label}…")
        uri = self.state.uri
        self.spawn(self._load_networks(uri))
        self.spawn(self._load_virt_types(uri))

    async def _load_networks(self, uri: str) -> None:
        networks: tuple[NetworkChoice, ...] = ()
        try:
            networks = await self.ctx.networks()
        except VmguiError as exc:
            if uri == self.state.uri:
                self.network_message.show_error(
                    f"{exc.summary}: {exc.details}. User-mode networking still works."
                )
        else:
            self.network_message.clear_message()
        if uri != self.state.uri:
            return
        for net in networks:
            self.network_combo.addItem(network_text(net), net.name)
        self.network_combo.addItem(USER_LABEL, USER_NETWORK)
        wanted = default_network(uri, networks)
        self.network_combo.setCurrentIndex(max(self.network_combo.findData(wanted), 0))
        self._networks_ok = True
        self.completeChanged.emit()

    async def _load_virt_types(self, uri: str) -> None:
        try:
            types = await self.ctx.virt_types()
        except VmguiError as exc:
            if uri == self.state.uri:
                self.virt_message.show_error(
                    f"{exc.summary}: {exc.details}. Emulation is chosen; it works on any host."
                )
                self.qemu_radio.setEnabled(True)
                self.kvm_radio.setEnabled(True)
                self.qemu_radio.setChecked(True)
                self._types_ok = True
                self.completeChanged.emit()
            return
        if uri != self.state.uri:
            return
        self.kvm_radio.setEnabled(types.kvm)
        self.qemu_radio.setEnabled(True)
        (self.kvm_radio if types.kvm else self.qemu_radio).setChecked(True)
        offered = ", ".join(types.types) or "none"
        if not types.kvm and "qemu" not in types.types:
            self.virt_message.show_warning(
                f"This host offers neither kvm nor qemu guests for {types.arch} (it offers: "
                f"{offered}); creating the guest may fail."
            )
        elif not types.kvm:
            self.virt_message.show_note(
                f"This host offers no KVM for {types.arch}: the guest is emulated (slower)."
            )
        else:
            self.virt_message.show_note(f"The host offers KVM for {types.arch}.")
        self._types_ok = True
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        """The networks and domain types are known and chosen."""
        chosen = self.kvm_radio.isChecked() or self.qemu_radio.isChecked()
        return self._networks_ok and self._types_ok and chosen

    def validatePage(self) -> bool:  # noqa: N802
        """Write the network and the domain type into the state."""
        if not self.isComplete():
            return False
        self.state.network = str(self.network_combo.currentData() or USER_NETWORK)
        self.state.virt_type = VirtType.KVM if self.kvm_radio.isChecked() else VirtType.QEMU
        return True

    def _on_network_combo_current_index_changed(self, _index: int) -> None:
        self.completeChanged.emit()

    def _on_group_button_toggled(self, _button: QRadioButton, _checked: bool) -> None:
        self.completeChanged.emit()
