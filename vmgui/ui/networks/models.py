"""The Networks view's table models: networks keyed by name (updated by diff), leases, and the
guest NICs attached to the selected network."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Qt

from vmgui.core.networks import AttachedNic, DhcpLease, VirtualNetwork
from vmgui.ui.tablemodel import AnyIndex, TableModel

_R = TypeVar("_R")

#: The item-data role holding a row's :class:`VirtualNetwork`.
NetworkRole = Qt.ItemDataRole.UserRole + 21
#: The item-data role holding a row's :class:`AttachedNic`.
AttachedRole = Qt.ItemDataRole.UserRole + 22


def _cells(n: VirtualNetwork) -> tuple[str, ...]:
    ranges = ", ".join(f"{a}-{b}" for a, b in n.dhcp_ranges)
    return (
        n.name,
        "active" if n.active else "inactive",
        "yes" if n.autostart else "no",
        n.mode,
        n.bridge,
        ", ".join(n.subnets),
        ranges,
        ", ".join(n.guests),
    )


class NetworkModel(TableModel):
    """A host's networks (inactive ones too)."""

    HEADERS = ("Name", "State", "Autostart", "Mode", "Bridge", "Subnet", "DHCP", "Guests")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[VirtualNetwork] = []

    def _row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[VirtualNetwork]:
        """The networks shown."""
        return list(self._rows)

    def set_rows(self, rows: list[VirtualNetwork]) -> None:
        """Show ``rows``: changed rows repaint; a different set of names resets."""
        new = sorted(rows, key=lambda n: n.name)
        if [n.name for n in new] != [n.name for n in self._rows]:
            self.beginResetModel()
            self._rows = new
            self.endResetModel()
            return
        for row, network in enumerate(new):
            if network != self._rows[row]:
                self._rows[row] = network
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        network = self._rows[index.row()]
        if role == NetworkRole:
            return network
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return _cells(network)[index.column()]
        return None


class _ListModel(TableModel, Generic[_R]):
    """Rows shown as given; a different list resets the model."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_R] = []

    def _row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[_R]:
        """The rows shown."""
        return list(self._rows)

    def set_rows(self, rows: list[_R]) -> None:
        """Show ``rows``."""
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()


class LeaseModel(_ListModel[DhcpLease]):
    """One network's DHCP leases."""

    HEADERS = ("MAC", "Address", "Host name")

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        lease = self._rows[index.row()]
        return (lease.mac, f"{lease.ip}/{lease.prefix}", lease.hostname)[index.column()]


class AttachedModel(_ListModel[AttachedNic]):
    """The guest NICs on one network."""

    HEADERS = ("Guest", "MAC", "Guest state")

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        nic = self._rows[index.row()]
        if role == AttachedRole:
            return nic
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        state = "running" if nic.running else "shut off"
        only = " (its only NIC)" if nic.nics <= 1 else ""
        return (nic.guest, nic.mac, state + only)[index.column()]
