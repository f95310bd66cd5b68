"""The host list (``hostView``), sized to its content."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView

from vmgui.ui.hosts.model import HostColumn

#: The host pane's width (px) before any host is listed.
HOST_PANE_WIDTH = 230
#: The narrowest the host pane may be dragged (px).
HOST_PANE_MIN_WIDTH = 150
#: The widest the host pane grows by itself to fit its hosts' labels (px).
HOST_PANE_MAX_WIDTH = 340


def make_host_view(model: QAbstractItemModel) -> QTreeView:
    """The host list (objectName ``hostView``)."""
    view = QTreeView()
    view.setObjectName("hostView")
    view.setModel(model)
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
