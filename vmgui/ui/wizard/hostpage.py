"""The first page: which host the new guest goes on, ranked by placement advice."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QCheckBox, QHeaderView, QTreeWidgetItem, QVBoxLayout

from vmgui.core.model import ConnectionState
from vmgui.core.placement import Placement
from vmgui.core.units import format_kib, plural
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import MessageLabel, WizardPage, make_tree
from vmgui.ui.wizard.context import WizardContext

_URI_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ["Host", "Guests", "Score", "Why"]
CHECKING_TEXT = "checking…"
SPREAD_TEXT = "S&pread a batch over the hosts that have room"


class HostPage(WizardPage):
    """Lists the hosts, the best for the planned guest(s) first and preselected.

    Each connected host says in one line why it ranks where it does (placement advice: its
    guests' real use, commitments, pool space, KVM, image present). Hosts that cannot take
    the guest(s) are disabled with the reason, unless none can (then any connected host may
    be chosen and the page says so: the sizes are chosen on a later page). Disconnected hosts
    are listed but cannot be chosen.

    Args:
        ctx: the wizard's shared state.
        initial_uri: the host to preselect until the advice is in (e.g. the one selected in
            the window), or "".
    """

    def __init__(self, ctx: WizardContext, initial_uri: str = "") -> None:
        super().__init__(
            ctx,
            "Host",
            "Choose the host the new guest runs on; the best one for it is listed first.",
        )
        self.setObjectName("hostPage")
        self._initial = initial_uri
        self._generation = 0
        self._applying = False
        self._user_chose = False
        self.ranking: list[Placement] = []
        self.host_list = make_tree("hostList", COLUMNS)
        header = self.host_list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.host_list.setWordWrap(False)
        self.message = MessageLabel("hostMessage")
        self.spread_check = QCheckBox(SPREAD_TEXT)
        self.spread_check.setObjectName("spreadCheck")
        self.spread_check.setToolTip(
            "For a batch of guests: each goes to the host with the most room left."
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.host_list, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.spread_check)
        layout.addWidget(
            muted_label("Add or connect hosts in the main window (Host menu) to see them here.")
        )
        self.host_list.currentItemChanged.connect(self._on_host_list_current_item_changed)
        self.host_list.itemDoubleClicked.connect(self._on_host_list_item_double_clicked)
        self.spread_check.toggled.connect(self._on_spread_check_toggled)
        usage = ctx.placement.usage
        if usage is not None:
            usage.updated.connect(self._on_usage_updated)

    def initializePage(self) -> None:  # noqa: N802
        """List the hosts at once (last known facts), then rank them once the advice is in."""
        self._user_chose = False
        self.spread_check.setChecked(self.state.spread)
        self.spread_check.setEnabled(len(self.ctx.placement.connected()) > 1)
        self._fill({})
        self._advise()

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
        self.state.spread = self.spread_check.isChecked()
        self.ctx.prefetch()
        return True

    # -- advice -------------------------------------------------------------------------------

    def _advise(self) -> None:
        self._generation += 1
        self.spawn(self._rank(self._generation))

    async def _rank(self, generation: int) -> None:
        def show(ranking: list[Placement]) -> None:
            if generation == self._generation:  # else a newer ranking is on its way
                self.ranking = ranking
                self._fill({p.uri: p for p in ranking})

        show(await self.ctx.placement.rank_hosts(self.state, on_partial=show))

    def _fill(self, advice: dict[str, Placement]) -> None:
        """(Re)build the rows: ranked hosts first, best first; then the others."""
        controller = self.ctx.controller
        keep = self.chosen_uri() if self._user_chose else ""
        order = [p.uri for p in self.ranking if p.uri in advice]
        order += [uri for uri in controller.uris() if uri not in order]
        fitting = [uri for uri in order if uri in advice and advice[uri].fits]
        self._applying = True
        try:
            self.host_list.clear()
            for uri in order:
                self.host_list.addTopLevelItem(self._row(uri, advice.get(uri), bool(fitting)))
        finally:
            self._applying = False
        connected = set(self.ctx.placement.connected())
        wanted = [keep, self.state.uri] if advice else [self.state.uri, self._initial]
        wanted += fitting + order
        self._select(next((u for u in wanted if u and u in connected and self._enabled(u)), ""))
        self._say(advice, connected, fitting)

    def _row(self, uri: str, placement: Placement | None, some_fit: bool) -> QTreeWidgetItem:
        controller = self.ctx.controller
        host = controller.host(uri)
        connected = host.state is ConnectionState.CONNECTED
        cells = [controller.label(uri), "", "", f"{host.state.label}: connect it first"]
        info = host.host_info
        if connected:
            cells[1] = str(len(host.guests))
            if placement is None:
                cells[3] = CHECKING_TEXT
            else:
                cells[2] = f"{placement.score:.0f}" if placement.fits else "—"
                cells[3] = placement.reason
        item = QTreeWidgetItem(cells)
        item.setData(0, _URI_ROLE, uri)
        size = f"{plural(info.cpus, 'CPU')}, {format_kib(info.memory_kib)}" if info else ""
        item.setToolTip(0, f"{uri}\n{size}".strip())
        item.setToolTip(3, cells[3])
        for column in (1, 2):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
        if not connected:
            item.setDisabled(True)
            item.setToolTip(3, "Connect this host in the main window to create guests on it.")
        elif placement is not None and not placement.fits and some_fit:
            item.setDisabled(True)
        return item

    def _enabled(self, uri: str) -> bool:
        item = self._item(uri)
        return item is not None and not item.isDisabled()

    def _item(self, uri: str) -> QTreeWidgetItem | None:
        for row in range(self.host_list.topLevelItemCount()):
            item = self.host_list.topLevelItem(row)
            if item is not None and item.data(0, _URI_ROLE) == uri:
                return item
        return None

    def _select(self, uri: str) -> None:
        item = self._item(uri) if uri else None
        self._applying = True
        try:
            if item is None:
                self.host_list.setCurrentIndex(QModelIndex())
            else:
                self.host_list.setCurrentItem(item)
        finally:
            self._applying = False
        self.completeChanged.emit()

    def _say(self, advice: dict[str, Placement], connected: set[str], fitting: list[str]) -> None:
        if not connected:
            self.message.show_error("No host is connected. Connect a host first.")
        elif advice and not fitting:
            self.message.show_warning(
                "No connected host has room for the planned guest now (see why in the list). "
                "You can still choose one and make the guest smaller on the next pages."
            )
        else:
            self.message.clear_message()

    # -- slots ----------------------------------------------------------------------------------

    def _on_host_list_current_item_changed(
        self, _current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        if not self._applying:
            self._user_chose = True
        self.completeChanged.emit()

    def _on_host_list_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        if not item.isDisabled():
            self.wizard().next()

    def _on_spread_check_toggled(self, checked: bool) -> None:
        self.state.spread = checked
        if self.isVisible():
            self._advise()  # one guest per host, or the whole batch on one

    def _on_usage_updated(self, uri: str) -> None:
        if uri == "" and self.isVisible():  # a usage source was attached: measured figures
            self._advise()
