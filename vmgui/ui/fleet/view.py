"""The fleet overview widget: a one-line summary over the host table (``fleetView``)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
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
SPARK_WIDTH = 150


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
        self.view = _make_table(self.proxy)
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


def _make_table(proxy: QSortFilterProxyModel) -> QTreeView:
    view = QTreeView()
    view.setObjectName("fleetView")
    view.setModel(proxy)
    view.setRootIsDecorated(False)
    view.setUniformRowHeights(True)
    view.setAlternatingRowColors(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setSortingEnabled(True)
    view.sortByColumn(FleetColumn.HOST, Qt.SortOrder.AscendingOrder)
    spark, commit = SparkDelegate(view), CommitDelegate(view)
    header = view.header()
    header.setStretchLastSection(False)
    header.setMinimumSectionSize(48)
    for column in FleetColumn:
        if column in (FleetColumn.CPU_USE, FleetColumn.MEMORY_USE):
            view.setItemDelegateForColumn(column, spark)
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, SPARK_WIDTH)
            continue
        if column in (FleetColumn.VCPUS, FleetColumn.MEMORY):
            view.setItemDelegateForColumn(column, commit)
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return view
