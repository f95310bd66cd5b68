"""The host list (``hostView``), sized to its content; its "All hosts" row stands alone."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QWidget

from vmgui.ui.hosts.model import ALL_HOSTS_ROW, HostColumn
from vmgui.ui.tablemodel import HostUriRole

#: The host pane's width (px) before any host is listed.
HOST_PANE_WIDTH = 230
#: The narrowest the host pane may be dragged (px).
HOST_PANE_MIN_WIDTH = 150
#: The widest the host pane grows by itself to fit its hosts' labels (px).
HOST_PANE_MAX_WIDTH = 340

_ROWS = QItemSelectionModel.SelectionFlag.Rows


class HostView(QTreeView):
    """The host list over a :class:`~vmgui.ui.hosts.model.HostModel`.

    "All hosts" (the model's :data:`~vmgui.ui.hosts.model.ALL_HOSTS_ROW`) is never selected
    together with hosts: picking it deselects the hosts, picking a host deselects it.
    """

    def __init__(self, model: QAbstractItemModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        # Connected before anyone else can be: the others see the corrected selection last.
        self.selectionModel().selectionChanged.connect(self._on_selection_model_selection_changed)

    def all_hosts_selected(self) -> bool:
        """Whether "All hosts" is selected."""
        return self.selectionModel().isRowSelected(ALL_HOSTS_ROW, self.rootIndex())

    def select_all_hosts(self) -> None:
        """Select "All hosts" (only it)."""
        self._select_only(ALL_HOSTS_ROW)

    def select_host(self, uri: str) -> bool:
        """Select only the host ``uri``; False when it is not listed."""
        model = self.model()
        for row in range(model.rowCount()):
            if model.index(row, 0).data(HostUriRole) == uri:
                self._select_only(row)
                return True
        return False

    def _select_only(self, row: int) -> None:
        index = self.model().index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | _ROWS
        self.selectionModel().setCurrentIndex(
            index, flags | QItemSelectionModel.SelectionFlag.Current
        )
        self.scrollTo(index)

    def _on_selection_model_selection_changed(
        self, selected: QItemSelection, _deselected: QItemSelection
    ) -> None:
        selection = self.selectionModel()
        if not self.all_hosts_selected() or len(selection.selectedRows(0)) < 2:
            return
        all_hosts = self.model().index(ALL_HOSTS_ROW, 0)
        if selected.contains(all_hosts):  # just picked: it stands alone
            selection.select(all_hosts, QItemSelectionModel.SelectionFlag.ClearAndSelect | _ROWS)
        else:  # a host was added to it: the host wins
            selection.select(all_hosts, QItemSelectionModel.SelectionFlag.Deselect | _ROWS)


def make_host_view(model: QAbstractItemModel) -> HostView:
    """The host list (objectName ``hostView``)."""
    view = HostView(model)
    view.setObjectName("hostView")
    view.setRootIsDecorated(False)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    header = view.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(HostColumn.NAME, QHeaderView.ResizeMode.Stretch)
    for column in (HostColumn.STATE, HostColumn.GUESTS):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    view.setMinimumWidth(HOST_PANE_MIN_WIDTH)
    return view


def fitting_width(view: QTreeView) -> int:
    """The pane width (px) at which every host's label, state and guest count show unelided,
    within [``HOST_PANE_MIN_WIDTH``, ``HOST_PANE_MAX_WIDTH``]."""
    header = view.header()
    columns = range(header.count())
    content = sum(max(view.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in columns)
    width = content + 2 * view.frameWidth() + view.verticalScrollBar().sizeHint().width()
    return max(HOST_PANE_MIN_WIDTH, min(HOST_PANE_MAX_WIDTH, width))
