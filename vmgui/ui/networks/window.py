"""Host → Networks…: a host's virtual networks, their DHCP leases and guests, and actions.

A new network is NAT or isolated (no ``<forward>``); its subnet is checked as it is typed
against every network the host defines (:func:`~vmgui.core.networks.plan_network`), and left
empty it is the first free /24 in 192.168.100-254, shown before Create is pressed. Start,
stop, autostart and delete go through :mod:`vmgui.virt.networks` (which refuses to stop or
delete a network guests are attached to, naming them); delete confirms first. The selected
guest of the host can be given a NIC on the selected network, and a NIC listed under "Attached
guests" can be detached (confirmed; live when the guest runs, and from its saved config; the
question warns when it is the guest's only NIC).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import QModelIndex, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.networks import (
    NEW_MODES,
    AttachedNic,
    VirtualNetwork,
    detach_question,
    plan_network,
)
from vmgui.core.validation import ValidationError
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.hostwindow import HostResourceWindow
from vmgui.ui.networks.models import (
    AttachedModel,
    AttachedRole,
    LeaseModel,
    NetworkModel,
    NetworkRole,
)
from vmgui.ui.shell import Shell
from vmgui.ui.widgets import RED_COLOR, muted_label, title_font
from vmgui.virt import networks as net_service
from vmgui.virt.connection import HostConnection
from vmgui.virt.resourceevents import Kind


def _table(model: NetworkModel | LeaseModel | AttachedModel, name: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setStretchLastSection(True)
    return view


def _button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    return button


class NetworksWindow(HostResourceWindow):
    """One host's virtual networks (a top-level window; ``objectName`` ``networksWindow``).

    Args:
        host: the connected host.
        shell: notices and errors go through the main window.
        dialogs: confirmations.
        parent: the main window (the window closes with it).
        status: the hosts' status changes: the event watch is renewed after a reconnect.
    """

    def __init__(
        self,
        host: HostConnection,
        shell: Shell,
        dialogs: Dialogs,
        parent: QWidget | None = None,
        *,
        status: SignalInstance | None = None,
    ) -> None:
        super().__init__(host, shell, Kind.NETWORKS, "network task", parent, status=status)
        self.setObjectName("networksWindow")
        self.setWindowTitle(f"Networks — {host.display_name}")
        self.resize(900, 520)
        self._dialogs = dialogs
        self.networks = NetworkModel(self)
        self.leases = LeaseModel(self)
        self.network_view = _table(self.networks, "networkView")
        self.lease_view = _table(self.leases, "leaseView")
        self.attached = AttachedModel(self)
        self.attached_view = _table(self.attached, "attachedView")
        self.attached_view.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents
        )
        self.network_view.selectionModel().currentRowChanged.connect(self._on_network_row_changed)
        self.attached_view.selectionModel().currentRowChanged.connect(self._on_attached_row_changed)

        self.start_button = _button("Start", "startNetwork")
        self.stop_button = _button("Stop", "stopNetwork")
        self.autostart_button = _button("Autostart", "autostartNetwork")
        self.autostart_button.setCheckable(True)
        self.delete_button = _button("Delete…", "deleteNetwork")
        self.guest_box = QComboBox()
        self.guest_box.setObjectName("attachGuest")
        self.attach_button = _button("Attach guest", "attachNic")
        self.detach_button = _button("Detach NIC…", "detachNic")
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("name")
        self.new_mode = QComboBox()
        for mode in NEW_MODES:
            self.new_mode.addItem("NAT" if mode == "nat" else "Isolated (no forwarding)", mode)
        self.new_subnet = QLineEdit()
        self.new_subnet.setObjectName("newSubnet")
        self.new_subnet.setPlaceholderText("subnet, e.g. 192.168.150.0/24 (empty: a free /24)")
        self.subnet_note = muted_label()
        self.subnet_note.setObjectName("subnetNote")
        self.create_button = _button("Create Network", "createNetwork")
        self.message = QLabel()
        self.message.setObjectName("networksMessage")
        self.message.setStyleSheet(f"color: {RED_COLOR};")
        self.message.setWordWrap(True)

        title = QLabel(f"Virtual networks of {host.display_name}")
        title_font(title)
        actions = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.autostart_button):
            actions.addWidget(button)
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        actions.addWidget(self.guest_box)
        actions.addWidget(self.attach_button)
        create = QHBoxLayout()
        create.addWidget(self.new_name)
        create.addWidget(self.new_mode)
        create.addWidget(self.new_subnet)
        create.addWidget(self.create_button)
        column = QVBoxLayout(self)
        column.addWidget(title)
        column.addWidget(self.network_view, 2)
        column.addLayout(actions)
        below = QGridLayout()
        below.addWidget(QLabel("DHCP leases"), 0, 0)
        below.addWidget(QLabel("Attached guests"), 0, 1)
        below.addWidget(self.detach_button, 0, 2)
        below.addWidget(self.lease_view, 1, 0)
        below.addWidget(self.attached_view, 1, 1, 1, 2)
        below.setColumnStretch(0, 1)
        below.setColumnStretch(1, 1)
        column.addLayout(below, 1)
        column.addLayout(create)
        column.addWidget(self.subnet_note)
        column.addWidget(self.message)

        jobs: list[tuple[QPushButton, Callable[[], Awaitable[None]]]] = [
            (self.start_button, self._start),
            (self.stop_button, self._stop),
            (self.delete_button, self._delete),
            (self.create_button, self._create),
            (self.attach_button, self._attach),
            (self.detach_button, self._detach),
        ]
        for button, job in jobs:
            button.clicked.connect(lambda _c=False, j=job: self._run(j))
        self.autostart_button.clicked.connect(self._on_autostart_button_clicked)
        self.new_subnet.textChanged.connect(self._on_new_subnet_text_changed)
        self._update()

    # -- state ---------------------------------------------------------------------------------

    def selected(self) -> VirtualNetwork | None:
        """The selected network, or None."""
        row = self.network_view.currentIndex().data(NetworkRole)
        return row if isinstance(row, VirtualNetwork) else None

    def selected_nic(self) -> AttachedNic | None:
        """The selected attached NIC, or None."""
        row = self.attached_view.currentIndex().data(AttachedRole)
        return row if isinstance(row, AttachedNic) else None

    async def _reload(self) -> None:
        shown = self.selected()
        self.networks.set_rows(await net_service.fetch_networks(self.host))
        self._update()  # the subnet plan checks against the networks just read
        names = [n.name for n in self.networks.rows]
        if not self.network_view.currentIndex().isValid() and names:
            self.network_view.selectRow(
                names.index(shown.name) if shown and shown.name in names else 0
            )
        await self._reload_network()

    async def _reload_network(self) -> None:
        """The selected network's leases and attached guests."""
        network = self.selected()
        leases = []
        if network is not None and network.active:
            try:
                leases = await net_service.fetch_leases(self.host, network.name)
            except VmguiError:  # a host without DHCP leases (the test driver)
                leases = []
        attached = await net_service.fetch_attached(self.host, network.name) if network else []
        self.leases.set_rows(leases)
        self.attached.set_rows(attached)
        self._update()

    def _update(self) -> None:
        network = self.selected()
        self.start_button.setEnabled(network is not None and not network.active)
        self.stop_button.setEnabled(network is not None and network.active)
        self.autostart_button.setEnabled(network is not None and network.persistent)
        self.autostart_button.setChecked(network is not None and network.autostart)
        self.delete_button.setEnabled(network is not None)
        current = self.guest_box.currentData()
        self.guest_box.blockSignals(True)
        self.guest_box.clear()
        for guest in sorted(self.host.guests.values(), key=lambda g: g.name):
            self.guest_box.addItem(guest.name, guest.uuid)
        if current is not None:
            self.guest_box.setCurrentIndex(max(0, self.guest_box.findData(current)))
        self.guest_box.blockSignals(False)
        self.attach_button.setEnabled(network is not None and self.guest_box.count() > 0)
        self.detach_button.setEnabled(network is not None and self.selected_nic() is not None)
        self._on_new_subnet_text_changed(self.new_subnet.text())

    # -- jobs ----------------------------------------------------------------------------------

    async def _start(self) -> None:
        network = self.selected()
        if network is not None:
            await net_service.start_network(self.host, network.name)

    async def _stop(self) -> None:
        network = self.selected()
        if network is not None:
            await net_service.stop_network(self.host, network.name)

    async def _delete(self) -> None:
        network = self.selected()
        if network is None or not await self._dialogs.confirm(
            self, "Delete network", f"Stop and delete network {network.name}?", "Delete"
        ):
            return
        await net_service.delete_network(self.host, network.name)
        self.network_view.setCurrentIndex(QModelIndex())
        self._shell.notify(f"Network {network.name} deleted")

    async def _create(self) -> None:
        made = await net_service.create_network(
            self.host,
            self.new_name.text().strip(),
            str(self.new_mode.currentData()),
            self.new_subnet.text().strip() or None,
        )
        how = " (a free subnet)" if made.plan.picked else ""
        self._shell.notify(f"Network {made.network.name} created on {made.plan.subnet}{how}")
        self.new_name.clear()
        self.new_subnet.clear()

    async def _attach(self) -> None:
        network = self.selected()
        uuid = self.guest_box.currentData()
        if network is None or not isinstance(uuid, str):
            return
        mac = await net_service.attach_nic(self.host, uuid, network.name)
        self._shell.notify(f"{self.guest_box.currentText()} attached to {network.name} ({mac})")

    async def _detach(self) -> None:
        network, nic = self.selected(), self.selected_nic()
        if network is None or nic is None:
            return
        question = detach_question(nic, network.name)
        if not await self._dialogs.confirm(self, "Detach NIC", question, "Detach"):
            return
        await net_service.detach_nic(self.host, nic.uuid, nic.mac)
        self._shell.notify(f"NIC {nic.mac} of {nic.guest} detached from {network.name}")

    # -- slots ---------------------------------------------------------------------------------

    def _on_network_row_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self.tasks.spawn(self._reload_network())

    def _on_attached_row_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update()

    def _on_autostart_button_clicked(self, checked: bool) -> None:
        network = self.selected()
        if network is None:
            return

        async def job() -> None:
            await net_service.set_network_autostart(self.host, network.name, checked)

        self._run(job)

    def _on_new_subnet_text_changed(self, text: str) -> None:
        try:
            plan = plan_network(text.strip() or None, self.networks.rows)
        except ValidationError as exc:
            self.subnet_note.setText(exc.message)
            self.subnet_note.setStyleSheet(f"color: {RED_COLOR};")
            self.create_button.setEnabled(False)
            return
        picked = "a free subnet: " if plan.picked else ""
        self.subnet_note.setStyleSheet("")
        self.subnet_note.setText(
            f"Will use {picked}{plan.subnet} (gateway {plan.gateway}, DHCP "
            f"{plan.dhcp_first}-{plan.dhcp_last})."
        )
        self.create_button.setEnabled(True)
