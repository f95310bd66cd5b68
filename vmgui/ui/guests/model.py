"""The guest list's model: every guest of every host, one row each, updated by diff.

:class:`GuestModel` is fed by :class:`~vmgui.ui.guests.binder.GuestListBinder` from the host
controller's signals; :class:`GuestFilterProxy` filters it by name, state and host and sorts
it. Usage columns sort by the figures of a :class:`~vmgui.ui.shell.UsageSource` (the live-usage
feature sets one with :meth:`GuestModel.set_usage_source`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QObject, QSortFilterProxyModel, Qt

from vmgui.core.model import GuestInfo, GuestState
from vmgui.core.tags import format_tag_list, tag_key
from vmgui.core.units import format_kib
from vmgui.ui.shell import UsageKind, UsageSource
from vmgui.ui.tablemodel import AnyIndex, HostUriRole, TableModel
from vmgui.ui.widgets import STATE_COLORS, dot_icon

SortRole = Qt.ItemDataRole.UserRole + 1
GuestRole = Qt.ItemDataRole.UserRole + 2
StateRole = Qt.ItemDataRole.UserRole + 4


class GuestColumn(IntEnum):
    """The guest list's columns."""

    NAME = 0
    STATE = 1
    VCPUS = 2
    MEMORY = 3
    HOST = 4
    CPU_USE = 5
    MEMORY_USE = 6
    TAGS = 7


_GUEST_HEADERS = {
    GuestColumn.NAME: "Name",
    GuestColumn.STATE: "State",
    GuestColumn.VCPUS: "vCPUs",
    GuestColumn.MEMORY: "Memory",
    GuestColumn.HOST: "Host",
    # Painted as sparklines by vmgui.ui.monitor.sparkline once live usage is installed.
    GuestColumn.CPU_USE: "CPU",
    GuestColumn.MEMORY_USE: "Memory use",
    GuestColumn.TAGS: "Tags",
}

#: The usage figure each usage column sorts by.
USAGE_COLUMNS = {GuestColumn.CPU_USE: UsageKind.CPU, GuestColumn.MEMORY_USE: UsageKind.MEMORY}
_USAGE_KINDS = {column.value: kind for column, kind in USAGE_COLUMNS.items()}


_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_DECORATION = Qt.ItemDataRole.DecorationRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
_STATE_COLUMN = GuestColumn.STATE.value
_NUMERIC_COLUMNS = (GuestColumn.VCPUS.value, GuestColumn.MEMORY.value)


class GuestModel(TableModel):
    """All guests of all hosts, one row each, keyed by (host URI, UUID).

    Display texts and sort keys are computed once per change, not per paint or comparison:
    with a thousand guests, sorting asks for tens of thousands of keys.
    """

    HEADERS: ClassVar[tuple[str, ...]] = tuple(_GUEST_HEADERS.values())

    def __init__(self, host_label: Callable[[str], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host_label = host_label
        self._rows: list[GuestInfo] = []
        self._texts: list[tuple[str, ...]] = []
        self._keys: list[tuple[Any, ...]] = []
        self._index: dict[tuple[str, str], int] = {}
        self._usage: UsageSource | None = None

    def set_usage_source(self, source: UsageSource | None) -> None:
        """Sort the usage columns by ``source``'s current figures (None: they sort as -1)."""
        self._usage = source

    @property
    def usage_source(self) -> UsageSource | None:
        """What the usage columns sort by, or None."""
        return self._usage

    # -- Qt model API ---------------------------------------------------------------------

    def _row_count(self) -> int:
        return len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if row < 0 or row >= len(self._rows) or not index.isValid():
            return None
        column = index.column()
        if role == _DISPLAY:
            return self._texts[row][column]
        if role == SortRole:
            return self.sort_key(row, column)
        guest = self._rows[row]
        if role == GuestRole:
            return guest
        if role == HostUriRole:
            return guest.host_uri
        if role == StateRole:
            return guest.state.value
        if role == _DECORATION and column == _STATE_COLUMN:
            return dot_icon(STATE_COLORS[guest.state])
        if role == _TOOLTIP:
            return f"{guest.name} on {self._host_label(guest.host_uri)}\nUUID {guest.uuid}"
        if role == _ALIGNMENT and column in _NUMERIC_COLUMNS:
            return _RIGHT
        return None

    def sort_key(self, row: int, column: int) -> Any:
        """The sort key of a cell (what :data:`SortRole` returns); precomputed, except for
        the usage columns, which sort by the usage source's latest figures."""
        kind = _USAGE_KINDS.get(column)
        if kind is not None:
            usage = self._usage
            return usage.usage_value(self._rows[row].key, kind) if usage is not None else -1.0
        return self._keys[row][column]

    def _texts_of(self, guest: GuestInfo) -> tuple[str, ...]:
        return (
            guest.name,
            guest.state.label,
            str(guest.vcpus),
            format_kib(guest.memory_kib),
            self._host_label(guest.host_uri),
            "",
            "",
            format_tag_list(guest.tags),
        )

    @staticmethod
    def _keys_of(guest: GuestInfo, texts: tuple[str, ...]) -> tuple[Any, ...]:
        return (
            texts[0].lower(),
            texts[1],
            guest.vcpus,
            guest.memory_kib,
            texts[4].lower(),
            0.0,
            0.0,
            (not guest.tags, texts[7].lower()),  # untagged guests after the tagged ones
        )

    def _store(self, row: int, guest: GuestInfo) -> None:
        texts = self._texts_of(guest)
        self._rows[row] = guest
        self._texts[row] = texts
        self._keys[row] = self._keys_of(guest, texts)

    def _append(self, guest: GuestInfo) -> None:
        texts = self._texts_of(guest)
        self._index[guest.key] = len(self._rows)
        self._rows.append(guest)
        self._texts.append(texts)
        self._keys.append(self._keys_of(guest, texts))

    # -- access ---------------------------------------------------------------------------

    def guest_at(self, row: int) -> GuestInfo:
        """The guest in ``row``."""
        return self._rows[row]

    def row_of(self, uri: str, uuid: str) -> int:
        """The row of a guest, or -1."""
        return self._index.get((uri, uuid), -1)

    def guests(self, uri: str | None = None) -> list[GuestInfo]:
        """All guests, or those of one host."""
        return [g for g in self._rows if uri is None or g.host_uri == uri]

    # -- updates (slots) ------------------------------------------------------------------

    def reset_host(self, uri: str, guests: Iterable[GuestInfo]) -> None:
        """Replace one host's guests: update in place, append new, remove missing."""
        incoming = {g.uuid: g for g in guests}
        gone = any(g.host_uri == uri and g.uuid not in incoming for g in self._rows)
        if gone:
            # Many scattered removals: a reset is cheaper and simpler (reconnects only).
            self.beginResetModel()
            kept = [g for g in self._rows if g.host_uri != uri]
            self._rows, self._texts, self._keys, self._index = [], [], [], {}
            for guest in [*kept, *incoming.values()]:
                self._append(guest)
            self.endResetModel()
            return
        new = []
        for guest in incoming.values():
            if (uri, guest.uuid) in self._index:
                self.update_guest(guest)
            else:
                new.append(guest)
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for guest in new:
                self._append(guest)
            self.endInsertRows()

    def update_guest(self, guest: GuestInfo) -> None:
        """Insert a guest or update the columns that changed."""
        row = self._index.get(guest.key)
        if row is None:
            row = len(self._rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self._append(guest)
            self.endInsertRows()
            return
        if self._rows[row] == guest:
            return
        old = self._texts[row]
        self._store(row, guest)
        changed = [c for c, (a, b) in enumerate(zip(old, self._texts[row], strict=True)) if a != b]
        first = min(changed, default=GuestColumn.NAME.value)
        last = max(changed, default=GuestColumn.HOST.value)
        self.dataChanged.emit(self.index(row, first), self.index(row, last))

    def remove_guest(self, uri: str, uuid: str) -> None:
        """Remove a guest's row if present."""
        row = self._index.get((uri, uuid))
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._texts[row]
        del self._keys[row]
        self._index = {g.key: r for r, g in enumerate(self._rows)}
        self.endRemoveRows()


class GuestFilterProxy(QSortFilterProxyModel):
    """Filters guests by name text, state, host and tag; sorts by :data:`SortRole`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._states: frozenset[str] | None = None
        self._hosts: frozenset[str] | None = None
        self._tag: str | None = None  # its tag_key
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        """Show guests whose name contains ``text`` (case-insensitive)."""
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_states(self, states: Iterable[GuestState] | None) -> None:
        """Show only guests in these states (None: all)."""
        value = None if states is None else frozenset(s.value for s in states)
        self._refilter(lambda: setattr(self, "_states", value))

    def set_hosts(self, uris: Iterable[str] | None) -> None:
        """Show only guests of these hosts (None: all)."""
        value = None if uris is None else frozenset(uris)
        if value == self._hosts:
            return
        self._refilter(lambda: setattr(self, "_hosts", value))

    def set_tag(self, tag: str | None) -> None:
        """Show only guests with ``tag`` (case-insensitive; None: all)."""
        value = None if tag is None else tag_key(tag)
        if value == self._tag:
            return
        self._refilter(lambda: setattr(self, "_tag", value))

    def _refilter(self, change: Callable[[], None]) -> None:
        # Qt >= 6.10 wants begin/endFilterChange; invalidateFilter is deprecated there.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            change()
            self.invalidateFilter()

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if isinstance(model, GuestModel):
            column = left.column()
            result: bool = model.sort_key(left.row(), column) < model.sort_key(right.row(), column)
            return result
        return super().lessThan(left, right)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, GuestModel) or source_row >= model.rowCount():
            return False
        guest = model.guest_at(source_row)
        if self._text and self._text not in guest.name.lower():
            return False
        if self._states is not None and guest.state.value not in self._states:
            return False
        if self._tag is not None and all(tag_key(t) != self._tag for t in guest.tags):
            return False
        return self._hosts is None or guest.host_uri in self._hosts
