"""The main window's widgets, configured: host list, guest list, filter bar, banner."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeView,
)

from vmgui.core.model import GuestState
from vmgui.ui.models import GuestColumn

#: The state filter's choices: label and the states it shows (None: all).
STATE_FILTERS: tuple[tuple[str, tuple[GuestState, ...] | None], ...] = (
    ("All states", None),
    ("Active", (GuestState.RUNNING, GuestState.PAUSED, GuestState.SUSPENDED)),
    ("Running", (GuestState.RUNNING,)),
    ("Paused", (GuestState.PAUSED,)),
    ("Shut off", (GuestState.SHUTOFF, GuestState.SAVED)),
    ("Saved", (GuestState.SAVED,)),
    ("Crashed", (GuestState.CRASHED,)),
    ("Suspended", (GuestState.SUSPENDED,)),
)


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
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in (1, 2):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    view.setMinimumWidth(300)
    return view


def make_guest_view(model: QAbstractItemModel) -> QTreeView:
    """The guest list (objectName ``guestView``): sortable, multi-select, whole rows."""
    view = QTreeView()
    view.setObjectName("guestView")
    view.setModel(model)
    view.setRootIsDecorated(False)
    view.setUniformRowHeights(True)
    view.setAlternatingRowColors(True)
    view.setSortingEnabled(True)
    view.sortByColumn(GuestColumn.NAME, Qt.SortOrder.AscendingOrder)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    header = view.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(GuestColumn.HOST, QHeaderView.ResizeMode.Stretch)
    for column, width in (
        (GuestColumn.NAME, 190),
        (GuestColumn.STATE, 110),
        (GuestColumn.VCPUS, 70),
        (GuestColumn.MEMORY, 100),
    ):
        header.resizeSection(column, width)
    return view


def make_filter_bar() -> tuple[QLineEdit, QComboBox]:
    """The name filter (``guestFilter``) and the state filter (``stateFilter``)."""
    edit = QLineEdit()
    edit.setObjectName("guestFilter")
    edit.setPlaceholderText("Filter guests by name…")
    edit.setClearButtonEnabled(True)
    combo = QComboBox()
    combo.setObjectName("stateFilter")
    for label, _states in STATE_FILTERS:
        combo.addItem(label)
    return edit, combo


def make_banner() -> QLabel:
    """A hidden notice strip shown above the guest list (e.g. for the demo host)."""
    banner = QLabel()
    banner.setObjectName("banner")
    banner.setWordWrap(True)
    banner.setStyleSheet(
        "QLabel#banner { background: #fff4ce; color: #5c4400; border: 1px solid #e0c36a;"
        " border-radius: 4px; padding: 6px 10px; }"
    )
    banner.hide()
    return banner
