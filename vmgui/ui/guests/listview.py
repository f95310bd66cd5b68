"""The guest list: a filter bar, a notice banner and the flat, sortable guest view.

:class:`GuestList` owns the guest model (bound to the host controller), its filter proxy and
the view (``guestView``), and shows only the selected hosts' guests once it follows a
:class:`~vmgui.ui.shell.Selection`.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.model import GuestInfo, GuestState
from vmgui.core.tags import all_tags, has_tag
from vmgui.ui.controller import HostController
from vmgui.ui.guests.binder import GuestListBinder
from vmgui.ui.guests.model import GuestColumn, GuestFilterProxy, GuestModel
from vmgui.ui.guests.tags import TagFilter, TagMenu
from vmgui.ui.shell import Selection

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
    # Tags name the guest: they are shown right after its name (the model's order stays).
    header.moveSection(
        header.visualIndex(GuestColumn.TAGS), header.visualIndex(GuestColumn.NAME) + 1
    )
    for column, width in (
        (GuestColumn.NAME, 190),
        (GuestColumn.TAGS, 140),
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


class GuestList(QWidget):
    """The banner, the name, state and tag filters, and the guest view over the filtered model.

    :attr:`tag_menu` ("Select by Tag") selects the guests in view that have a tag; the window
    puts it in its Guest menu and the guest view's context menu.

    Args:
        controller: the hosts (the model binds to it).
    """

    def __init__(self, controller: HostController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = GuestModel(controller.label, self)
        self.proxy = GuestFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._binder = GuestListBinder(controller, self.model, self)
        self._selection: Selection | None = None
        self.view = make_guest_view(self.proxy)
        self.filter_edit, self.state_filter = make_filter_bar()
        self.tag_filter = TagFilter(self.model)
        self.tag_menu = TagMenu(self.listed_tags, self.select_tagged, self)
        self.banner = make_banner()
        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.state_filter)
        filters.addWidget(self.tag_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.state_filter.currentIndexChanged.connect(self._on_state_filter_current_index_changed)
        self.tag_filter.tagChosen.connect(self._on_tag_filter_tag_chosen)

    def follow(self, selection: Selection) -> None:
        """Show only the guests of the hosts selected in ``selection`` (all when none)."""
        self._selection = selection
        selection.changed.connect(self._on_selection_changed)
        self._on_selection_changed()

    def show_banner(self, text: str) -> None:
        """Show a notice above the list (rich text)."""
        self.banner.setText(text)
        self.banner.show()

    def reveal(self, uri: str, uuid: str) -> bool:
        """Select and scroll to a listed guest, clearing the filters that hide it.

        Returns:
            False when the guest is not listed.
        """
        row = self.model.row_of(uri, uuid)
        if row < 0:
            return False
        source = self.model.index(row, 0)
        index = self.proxy.mapFromSource(source)
        if not index.isValid():
            self.filter_edit.clear()
            self.state_filter.setCurrentIndex(0)
            self.tag_filter.choose("")
            index = self.proxy.mapFromSource(source)
        if not index.isValid() and self._selection is not None:
            self._selection.clear_hosts()
            index = self.proxy.mapFromSource(source)
        if not index.isValid():
            return False
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
            | QItemSelectionModel.SelectionFlag.Current
        )
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index)
        return True

    def listed(self) -> list[GuestInfo]:
        """The guests in view (after the filters), in view order."""
        proxy, model = self.proxy, self.model
        return [
            model.guest_at(proxy.mapToSource(proxy.index(r, 0)).row())
            for r in range(proxy.rowCount())
        ]

    def listed_tags(self) -> list[str]:
        """Every tag of the guests in view, sorted."""
        return all_tags(guest.tags for guest in self.listed())

    def select_tagged(self, tag: str) -> int:
        """Select every guest in view that has ``tag`` (case-insensitive), and only those.

        Returns:
            How many guests are now selected.
        """
        proxy = self.proxy
        last = proxy.columnCount() - 1
        selection = QItemSelection()
        rows = [r for r, guest in enumerate(self.listed()) if has_tag(guest.tags, tag)]
        start = prev = -2
        for row in [*rows, -2]:  # contiguous rows become one range; -2 ends the last one
            if row != prev + 1:
                if start >= 0:
                    selection.select(proxy.index(start, 0), proxy.index(prev, last))
                start = row
            prev = row
        model = self.view.selectionModel()
        model.select(
            selection,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        if rows:
            first = proxy.index(rows[0], 0)
            model.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.view.scrollTo(first)
        return len(rows)

    def _on_tag_filter_tag_chosen(self, tag: str) -> None:
        self.proxy.set_tag(tag or None)

    def _on_state_filter_current_index_changed(self, index: int) -> None:
        self.proxy.set_states(STATE_FILTERS[index][1])

    def _on_selection_changed(self) -> None:
        if self._selection is not None:
            self.proxy.set_hosts(self._selection.hosts() or None)
