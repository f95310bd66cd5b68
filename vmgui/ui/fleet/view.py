"""The fleet overview widget: a one-line summary over the host table (``fleetView``)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QHideEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QVBoxLayout, QWidget

from vmgui.core.units import plural
from vmgui.ui.controller import HostController
from vmgui.ui.fleet.cells import FleetColumn, FleetSortRole
from vmgui.ui.fleet.delegates import CommitDelegate, SparkDelegate
from vmgui.ui.fleet.model import FleetModel
from vmgui.ui.fleet.pools import PoolSpaceTracker
from vmgui.ui.shell import Shell, UsageLink
from vmgui.ui.tablemodel import HostUriRole
from vmgui.ui.widgets import muted_label

#: The sparkline columns' width (px).
SPARK_WIDTH = 112
#: The host name column's least width (px): narrower, the table scrolls sideways.
HOST_MIN_WIDTH = 140


class FleetView(QWidget):
    """Every host in one table: states, guests, commitments, real use, free pool space.

    Sortable by every column (the host name first); live (the model follows the controller,
    the usage link and the pool tracker). The pools are re-read every minute only while the
    overview is shown.

    Signals:
        hostActivated(str): a host's row was double-clicked (its URI).

    Args:
        controller: the hosts.
        usage: the hosts' measured usage.
        shell: runs the pool reads (ended when the window closes).
    """

    hostActivated = Signal(str)

    def __init__(
        self,
        controller: HostController,
        usage: UsageLink,
        shell: Shell,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("fleetOverview")
        self.pools = PoolSpaceTracker(controller, shell, parent=self)
        self.model = FleetModel(controller, usage, self.pools, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(FleetSortRole)
        self.summary = muted_label()
        self.view: QTreeView = _FleetTable(self.proxy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.dataChanged):
            signal.connect(self._on_model_changed)
        self._on_model_changed()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        self.pools.set_active(True)
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        self.pools.set_active(False)
        super().hideEvent(event)

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        uri = index.data(HostUriRole)
        if isinstance(uri, str) and uri:
            self.hostActivated.emit(uri)

    def _on_model_changed(self, *_args: object) -> None:
        figures = [self.model.figures(uri) for uri in self.model.uris()]
        connected = sum(f.connected for f in figures)
        active, total = sum(f.active for f in figures), sum(f.total for f in figures)
        self.summary.setText(
            f"{plural(len(figures), 'host')}, {connected} connected · "
            f"{active} of {plural(total, 'guest')} active · double-click a host to select it"
        )


class _FleetTable(QTreeView):
    """The table: the host name column takes the width the figures leave (elided down to
    :data:`HOST_MIN_WIDTH`), so the figures stay whole in a narrow pane."""

    def __init__(self, proxy: QSortFilterProxyModel) -> None:
        super().__init__()
        self.setObjectName("fleetView")
        self.setModel(proxy)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSortingEnabled(True)
        self.sortByColumn(FleetColumn.HOST, Qt.SortOrder.AscendingOrder)
        spark, commit = SparkDelegate(self), CommitDelegate(self)
        header = self.header()
        header.setStretchLastSection(False)
        for column in FleetColumn:
            mode = QHeaderView.ResizeMode.ResizeToContents
            if column in (FleetColumn.CPU_USE, FleetColumn.MEMORY_USE):
                self.setItemDelegateForColumn(column, spark)
                mode = QHeaderView.ResizeMode.Fixed
                header.resizeSection(column, SPARK_WIDTH)
            elif column in (FleetColumn.VCPUS, FleetColumn.MEMORY):
                self.setItemDelegateForColumn(column, commit)
            elif column is FleetColumn.HOST:
                mode = QHeaderView.ResizeMode.Fixed  # sized by _fit_host_column
            header.setSectionResizeMode(column, mode)
        header.sectionResized.connect(self._on_header_section_resized)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_host_column()

    def _on_header_section_resized(self, column: int, _old: int, _new: int) -> None:
        if column != FleetColumn.HOST:
            self._fit_host_column()

    def _fit_host_column(self) -> None:
        header = self.header()
        others = sum(header.sectionSize(c) for c in FleetColumn if c is not FleetColumn.HOST)
        width = max(HOST_MIN_WIDTH, self.viewport().width() - others)
        if header.sectionSize(FleetColumn.HOST) != width:
            header.resizeSection(FleetColumn.HOST, width)
