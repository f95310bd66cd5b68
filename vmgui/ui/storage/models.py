"""The Storage view's table models: pools and volumes, rows keyed by name, updated by diff."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QModelIndex, QObject, Qt

from vmgui.core.pools import StoragePool, StorageVolume
from vmgui.core.units import format_bytes
from vmgui.ui.tablemodel import AnyIndex, TableModel

_R = TypeVar("_R", StoragePool, StorageVolume)

#: The item-data role holding a row's snapshot (StoragePool or StorageVolume).
RowRole = Qt.ItemDataRole.UserRole + 20


class _SnapshotModel(TableModel, Generic[_R]):
    """Rows of frozen snapshots keyed by name: rows come and go one by one, changed rows
    repaint (``dataChanged``), a reset happens only when the order changes."""

    CELLS: ClassVar[Sequence[Callable[[Any], str]]] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_R] = []

    def _row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[_R]:
        """The snapshots shown, in order."""
        return list(self._rows)

    def set_rows(self, rows: Sequence[_R]) -> None:
        """Show ``rows`` (sorted by name), changing only what differs."""
        new = sorted(rows, key=lambda r: r.name)
        new_names = [r.name for r in new]
        for index in range(len(self._rows) - 1, -1, -1):
            if self._rows[index].name not in new_names:
                self.beginRemoveRows(QModelIndex(), index, index)
                del self._rows[index]
                self.endRemoveRows()
        old_names = [r.name for r in self._rows]
        kept = [n for n in new_names if n in old_names]
        if kept != old_names:
            self.beginResetModel()
            self._rows = [r for r in new if r.name in old_names]
            self.endResetModel()
        for position, row in enumerate(new):
            if position < len(self._rows) and self._rows[position].name == row.name:
                if self._rows[position] != row:
                    self._rows[position] = row
                    self.dataChanged.emit(
                        self.index(position, 0), self.index(position, len(self.HEADERS) - 1)
                    )
                continue
            self.beginInsertRows(QModelIndex(), position, position)
            self._rows.insert(position, row)
            self.endInsertRows()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == RowRole:
            return row
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.CELLS[index.column()](row)
        return None


def _size(value: int) -> str:
    return format_bytes(value)


class PoolModel(_SnapshotModel[StoragePool]):
    """A host's pools (inactive ones too)."""

    HEADERS = (
        "Name",
        "State",
        "Autostart",
        "Type",
        "Capacity",
        "Allocated",
        "Available",
        "Volumes",
        "Path",
    )
    CELLS = (
        lambda p: p.name,
        lambda p: p.state,
        lambda p: "yes" if p.autostart else "no",
        lambda p: p.type,
        lambda p: _size(p.capacity) if p.active else "—",
        lambda p: _size(p.allocation) if p.active else "—",
        lambda p: _size(p.available) if p.active else "—",
        lambda p: str(p.volumes) if p.active else "—",
        lambda p: p.path,
    )


class VolumeModel(_SnapshotModel[StorageVolume]):
    """One pool's volumes, with who uses them and what they are based on."""

    HEADERS = ("Name", "Format", "Capacity", "Allocated", "Used by", "Backing chain")
    CELLS = (
        lambda v: v.name,
        lambda v: v.format,
        lambda v: _size(v.capacity),
        lambda v: _size(v.allocation),
        lambda v: ", ".join(v.used_by) or ("backs " + str(len(v.backs)) if v.backs else ""),
        lambda v: " ← ".join(v.backing_chain),
    )
