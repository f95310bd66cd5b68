"""The host list (``hostView``), sized to its content."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView

from vmgui.ui.hosts.model import HostColumn

#: The host pane's default width (px): a host label, its state and guest count fit.
HOST_PANE_WIDTH = 230
#: The narrowest the host pane may be dragged (px).
HOST_PANE_MIN_WIDTH = 150


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
