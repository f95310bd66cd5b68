"""The base of vmgui's flat table models: rows of one kind, a fixed table of column headers.

Part of the shared bottom layer of ``vmgui.ui`` (the guest and host models both build on it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

AnyIndex = QModelIndex | QPersistentModelIndex

#: The item-data role that holds a row's host URI (guest rows and host rows alike).
HostUriRole = Qt.ItemDataRole.UserRole + 3


class TableModel(QAbstractTableModel):
    """A flat model whose columns are named by :attr:`HEADERS` (subclasses set it).

    Subclasses implement :meth:`_row_count` and ``data``.
    """

    HEADERS: ClassVar[tuple[str, ...]] = ()

    def _row_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else self._row_count()

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None
