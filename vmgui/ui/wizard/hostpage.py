"""The first page: which host the new guest goes on."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem, QVBoxLayout

from vmgui.core.model import ConnectionState
from vmgui.core.units import format_kib
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import MessageLabel, WizardPage, make_tree
from vmgui.ui.wizard.context import WizardContext

_URI_ROLE = Qt.ItemDataRole.UserRole + 1


class HostPage(WizardPage):
    """Lists the hosts with their size; only connected ones can be chosen.

    Args:
        ctx: the wizard's shared state.
        initial_uri: the host to preselect (e.g. the one selected in the window), or "".
    """

    def __init__(self, ctx: WizardContext, initial_uri: str = "") -> None:
        super().__init__(
            ctx,
            "Host",
            "Choose the host the new guest runs on. Only connected hosts can be chosen.",
        )
        self.setObjectName("hostPage")
        self._initial = initial_uri
        self.host_list = make_tree("hostList", ["Host", "State", "CPUs", "Memory", "Guests"])
        self.message = MessageLabel("hostMessage")
        layout = QVBoxLayout(self)
        layout.addWidget(self.host_list, 1)
        layout.addWidget(self.message)
        layout.addWidget(
            muted_label("Add or connect hosts in the main window (Host menu) to see them here.")
        )
        self.host_list.currentItemChanged.connect(self._on_host_list_current_item_changed)
        self.host_list.itemDoubleClicked.connect(self._on_host_list_item_double_clicked)

    def initializePage(self) -> None:  # noqa: N802
        """Fill the list from the controller (no libvirt call: the last known facts)."""
        wanted = self.state.uri or self._initial
        self.host_list.clear()
        controller = self.ctx.controller
        chosen: QTreeWidgetItem | None = None
        for uri in controller.uris():
            host = controller.host(uri)
            connected = host.state is ConnectionState.CONNECTED
            info = host.host_info
            cells = [controller.label(uri), host.state.label, "", "", ""]
            if info is not None:
                cells[2:4] = [str(info.cpus), format_kib(info.memory_kib)]
            if connected:
                cells[4] = str(len(host.guests))
            item = QTreeWidgetItem(cells)
            item.setData(0, _URI_ROLE, uri)
            item.setToolTip(0, uri)
            for column in (2, 3, 4):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
            if not connected:
                item.setDisabled(True)
                item.setToolTip(1, "Connect this host in the main window to create guests on it.")
            self.host_list.addTopLevelItem(item)
            if connected and (chosen is None or uri == wanted):
                chosen = item
        if chosen is not None:
            self.host_list.setCurrentItem(chosen)
            self.message.clear_message()
        else:
            self.message.show_error("No host is connected. Connect a host first.")

    def chosen_uri(self) -> str:
        """The selected host's URI, or ""."""
        item = self.host_list.currentItem()
        if item is None or item.isDisabled():
            return ""
        return str(item.data(0, _URI_ROLE))

    def isComplete(self) -> bool:  # noqa: N802
        """A connected host is chosen."""
        return bool(self.chosen_uri())

    def validatePage(self) -> bool:  # noqa: N802
        """Remember the host and start fetching what the next pages need."""
        uri = self.chosen_uri()
        if not uri:
            return False
        self.state.uri = uri
        self.ctx.prefetch()
        return True

    def _on_host_list_current_item_changed(
        self, _current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        self.completeChanged.emit()

    def _on_host_list_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        if not item.isDisabled():
            self.wizard().next()
