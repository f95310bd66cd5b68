"""The host list's model: "All hosts", then the managed hosts, their connection state and
guest counts.

:class:`HostModel` binds to the :class:`~vmgui.ui.controller.HostController` itself: it adds
and removes rows as hosts come and go, repaints a row when its status changes, and counts
each host's active and defined guests from the guest signals. Its first row,
:data:`ALL_HOSTS_ROW`, stands for every host (the fleet): it has no host URI.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QFont

from vmgui.core.model import ConnectionState, GuestInfo, HostInfo, HostStatus
from vmgui.core.units import plural
from vmgui.ui.controller import HostController
from vmgui.ui.tablemodel import AnyIndex, HostUriRole, TableModel
from vmgui.ui.widgets import HOST_COLORS, dot_icon


class HostColumn(IntEnum):
    """The host list's columns."""

    NAME = 0
    STATE = 1
    GUESTS = 2


_HOST_HEADERS = {HostColumn.NAME: "Host", HostColumn.STATE: "State", HostColumn.GUESTS: "Guests"}

#: The row that stands for every host ("All hosts"): always the first.
ALL_HOSTS_ROW = 0
ALL_HOSTS_LABEL = "All hosts"


class HostModel(TableModel):
    """ "All hosts", then the managed hosts with their connection state and guest counts
    (active/defined). The "All hosts" row's :data:`~vmgui.ui.tablemodel.HostUriRole` is None."""

    HEADERS: ClassVar[tuple[str, ...]] = tuple(_HOST_HEADERS.values())

    def __init__(self, controller: HostController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._uris: list[str] = []
        self._status: dict[str, HostStatus] = {}
        #: Per host: guest UUID -> whether it is active.
        self._active: dict[str, dict[str, bool]] = {}
        controller.hostAdded.connect(self._on_controller_host_added)
        controller.hostRemoved.connect(self._on_controller_host_removed)
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.hostInfoChanged.connect(self._on_controller_host_info_changed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)
        for uri in controller.uris():
            self._on_controller_host_added(uri)

    # -- Qt model API ---------------------------------------------------------------------

    def _row_count(self) -> int:
        return 1 + len(self._uris)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() > len(self._uris):
            return None
        if index.row() == ALL_HOSTS_ROW:
            return self._all_hosts_data(HostColumn(index.column()), role)
        uri = self._uris[index.row() - 1]
        status = self.status(uri)
        column = HostColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if column == HostColumn.NAME:
                return self._controller.label_or_uri(uri)
            if column == HostColumn.STATE:
                return status_text(status)
            running, total = self.guest_counts(uri)
            return f"{running}/{total}"
        if role == HostUriRole:
            return uri
        if role == Qt.ItemDataRole.DecorationRole and column == HostColumn.NAME:
            return dot_icon(HOST_COLORS[status.state])
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [uri, status_text(status)]
            if status.reason:
                lines.append(status.reason)
            return "\n".join(lines)
        return None

    def _all_hosts_data(self, column: HostColumn, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == HostColumn.NAME:
                return ALL_HOSTS_LABEL
            if column == HostColumn.STATE:
                return ""  # (a count here would widen the pane: it is in the tooltip)
            counts = [self.guest_counts(uri) for uri in self._uris]
            return f"{sum(c[0] for c in counts)}/{sum(c[1] for c in counts)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            connected = sum(self.status(u).state is ConnectionState.CONNECTED for u in self._uris)
            return (
                f"Every host's guests, and the fleet overview\n{connected} of "
                f"{plural(len(self._uris), 'host')} connected"
            )
        if role == Qt.ItemDataRole.DecorationRole and column == HostColumn.NAME:
            return dot_icon("transparent")  # aligned with the hosts' state dots
        if role == Qt.ItemDataRole.FontRole and column == HostColumn.NAME:
            font = QFont()
            font.setBold(True)
            return font
        return None

    # -- access ---------------------------------------------------------------------------

    def status(self, uri: str) -> HostStatus:
        """The last known status of a host."""
        return self._status.get(uri, HostStatus(uri, ConnectionState.DISCONNECTED))

    def row_of(self, uri: str) -> int:
        """The row of a host (-1 if it is not listed)."""
        return self._uris.index(uri) + 1 if uri in self._uris else -1

    def guest_counts(self, uri: str) -> tuple[int, int]:
        """How many of the host's guests are active (running, paused, suspended), and of all."""
        active = self._active.get(uri, {})
        return sum(active.values()), len(active)

    # -- controller signals -----------------------------------------------------------------

    def _on_controller_host_added(self, uri: str) -> None:
        if uri in self._uris:
            return
        row = 1 + len(self._uris)
        self.beginInsertRows(QModelIndex(), row, row)
        self._uris.append(uri)
        self._active[uri] = {}
        self.endInsertRows()
        self._repaint_all_hosts()

    def _on_controller_host_removed(self, uri: str) -> None:
        if uri not in self._uris:
            return
        row = self.row_of(uri)
        self.beginRemoveRows(QModelIndex(), row, row)
        self._uris.remove(uri)
        self._status.pop(uri, None)
        self._active.pop(uri, None)
        self.endRemoveRows()
        self._repaint_all_hosts()

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        self._status[status.uri] = status
        self._repaint(status.uri, HostColumn.NAME, HostColumn.GUESTS)

    def _on_controller_host_info_changed(self, info: HostInfo) -> None:
        self._repaint(info.uri, HostColumn.NAME, HostColumn.NAME)  # the label may follow it

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        if uri in self._active:
            self._active[uri] = {g.uuid: g.is_active for g in guests}
            self._repaint(uri, HostColumn.GUESTS, HostColumn.GUESTS)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        active = self._active.get(guest.host_uri)
        if active is not None and active.get(guest.uuid) is not guest.is_active:
            active[guest.uuid] = guest.is_active
            self._repaint(guest.host_uri, HostColumn.GUESTS, HostColumn.GUESTS)

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        active = self._active.get(uri)
        if active is not None and active.pop(uuid, None) is not None:
            self._repaint(uri, HostColumn.GUESTS, HostColumn.GUESTS)

    def _repaint(self, uri: str, first: HostColumn, last: HostColumn) -> None:
        row = self.row_of(uri)
        if row > 0:
            self.dataChanged.emit(self.index(row, first), self.index(row, last))
            if last is HostColumn.GUESTS:
                self._repaint_all_hosts()

    def _repaint_all_hosts(self) -> None:
        """The "All hosts" row sums the others: repaint its state and guest counts."""
        row = ALL_HOSTS_ROW
        self.dataChanged.emit(self.index(row, HostColumn.STATE), self.index(row, HostColumn.GUESTS))


def status_text(status: HostStatus) -> str:
    """A host's state for a list cell ("disconnected — retrying in 5 s" while it retries)."""
    text = status.state.label
    if status.state is ConnectionState.DISCONNECTED and status.retry_in is not None:
        text = f"disconnected — retrying in {status.retry_in:.0f} s"
    return text
