"""The fleet overview's model: one row per host, what its guests commit and really use.

:class:`FleetModel` binds to the :class:`~vmgui.ui.controller.HostController` (hosts, states,
guests), to a :class:`~vmgui.ui.shell.UsageLink` (measured use and its last hour) and to a
:class:`~vmgui.ui.fleet.pools.PoolSpaceTracker` (free pool space). It never calls libvirt:
every figure is a snapshot some signal brought. Cell texts, tooltips and sort keys are in
:mod:`vmgui.ui.fleet.cells`. A host's guest sums follow each guest signal in O(1), so a burst
of events on a 1000-guest host costs no recount.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QObject, Qt

from vmgui.core.model import Consolidation, GuestInfo, HostInfo, HostStatus
from vmgui.ui.controller import HostController
from vmgui.ui.fleet.cells import (
    NOW_SECONDS,
    TREND_POINTS,
    TREND_SECONDS,
    FleetColumn,
    HostFigures,
    cell_data,
)
from vmgui.ui.fleet.pools import PoolSpaceTracker
from vmgui.ui.shell import UsageKind, UsageLink
from vmgui.ui.tablemodel import AnyIndex, HostUriRole, TableModel
from vmgui.ui.widgets import SparkShape, sparkline_shape

#: The first and last of the columns that follow a host's guests.
_GUEST_COLUMNS = (FleetColumn.GUESTS, FleetColumn.MEMORY)


@dataclass(slots=True)
class _Sums:
    """What a host's guests add up to, kept as guests come, change and go (O(1) a change)."""

    total: int = 0
    active: int = 0
    active_vcpus: int = 0
    active_memory_kib: int = 0
    vcpus: int = 0
    memory_kib: int = 0

    def add(self, guest: GuestInfo, sign: int = 1) -> None:
        """Count ``guest`` in (``sign`` 1) or out (-1)."""
        self.total += sign
        self.vcpus += sign * guest.vcpus
        self.memory_kib += sign * guest.memory_kib
        if guest.is_active:
            self.active += sign
            self.active_vcpus += sign * guest.vcpus
            self.active_memory_kib += sign * guest.memory_kib

    def consolidation(self, info: HostInfo) -> Consolidation:
        """The same as :func:`vmgui.core.model.consolidation` of these guests on ``info``."""
        return Consolidation(
            guests=self.total,
            active_guests=self.active,
            committed_vcpus=self.active_vcpus,
            committed_memory_kib=self.active_memory_kib,
            defined_vcpus=self.vcpus,
            defined_memory_kib=self.memory_kib,
            host_cpus=info.cpus,
            host_memory_kib=info.memory_kib,
        )


class FleetModel(TableModel):
    """One row per managed host (in the controller's order), with live figures.

    Roles: ``DisplayRole``, ``ToolTipRole``, ``ForegroundRole``, ``DecorationRole`` (the host's
    state dot), :data:`~vmgui.ui.tablemodel.HostUriRole` and those of
    :mod:`vmgui.ui.fleet.cells` (sort keys, sparklines, commitment bars).

    Args:
        controller: the hosts.
        usage: the hosts' measured usage (its source may arrive later).
        pools: the hosts' free pool space.
    """

    HEADERS: ClassVar[tuple[str, ...]] = tuple(column.header for column in FleetColumn)

    def __init__(
        self,
        controller: HostController,
        usage: UsageLink,
        pools: PoolSpaceTracker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._usage = usage
        self._pools = pools
        self._uris: list[str] = []
        self._figures: dict[str, HostFigures] = {}
        #: Per host: its guests by UUID, as the signals reported them, and their sums.
        self._guests: dict[str, dict[str, GuestInfo]] = {}
        self._sums: dict[str, _Sums] = {}
        controller.hostAdded.connect(self._on_controller_host_added)
        controller.hostRemoved.connect(self._on_controller_host_removed)
        controller.hostEdited.connect(self._on_controller_host_edited)
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.hostInfoChanged.connect(self._on_controller_host_info_changed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)
        usage.updated.connect(self._on_usage_updated)
        pools.changed.connect(self._on_pools_changed)
        for uri in controller.uris():
            self._on_controller_host_added(uri)
            self._on_controller_guests_reset(uri, list(controller.host(uri).guests.values()))

    # -- Qt model API ---------------------------------------------------------------------

    def _row_count(self) -> int:
        return len(self._uris)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._uris):
            return None
        uri = self._uris[index.row()]
        if role == HostUriRole:
            return uri
        return cell_data(self.figures(uri), FleetColumn(index.column()), role)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            role == Qt.ItemDataRole.ToolTipRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.HEADERS)
        ):
            return FleetColumn(section).tooltip
        return super().headerData(section, orientation, role)

    # -- access ---------------------------------------------------------------------------

    def uris(self) -> list[str]:
        """The hosts, in row order."""
        return list(self._uris)

    def figures(self, uri: str) -> HostFigures:
        """Everything a host's row shows (remade on first use after news: O(1))."""
        figures = self._figures[uri]
        if figures.stale:
            host, sums = self._controller.host(uri), self._sums[uri]
            info = host.host_info
            figures.label = self._controller.label_or_uri(uri)
            figures.status = host.status
            figures.active, figures.total = sums.active, sums.total
            figures.consolidation = sums.consolidation(info) if info is not None else None
            figures.pools = self._pools.space(uri)
            figures.pools_error = self._pools.error(uri)
            figures.stale = False
        return figures

    # -- controller signals ---------------------------------------------------------------

    def _on_controller_host_added(self, uri: str) -> None:
        if uri in self._uris:
            return
        row = len(self._uris)
        self.beginInsertRows(QModelIndex(), row, row)
        self._uris.append(uri)
        self._figures[uri] = HostFigures(uri)
        self._guests[uri] = {}
        self._sums[uri] = _Sums()
        self.endInsertRows()
        self._measure(uri)

    def _on_controller_host_removed(self, uri: str) -> None:
        if uri not in self._uris:
            return
        row = self._uris.index(uri)
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._uris[row]
        self._figures.pop(uri, None)
        self._guests.pop(uri, None)
        self._sums.pop(uri, None)
        self.endRemoveRows()

    def _on_controller_host_edited(self, uri: str) -> None:
        self._changed(uri, FleetColumn.HOST, FleetColumn.HOST)

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        self._changed(status.uri, FleetColumn.HOST, FleetColumn.MEMORY_USE)

    def _on_controller_host_info_changed(self, info: HostInfo) -> None:
        self._changed(info.uri, FleetColumn.HOST, FleetColumn.MEMORY)

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        if uri not in self._guests:
            return
        self._guests[uri] = {g.uuid: g for g in guests}
        self._sums[uri] = sums = _Sums()
        for guest in self._guests[uri].values():
            sums.add(guest)
        self._changed(uri, *_GUEST_COLUMNS)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        guests = self._guests.get(guest.host_uri)
        if guests is None:
            return
        sums = self._sums[guest.host_uri]
        old = guests.get(guest.uuid)
        if old is not None:
            sums.add(old, -1)
        guests[guest.uuid] = guest
        sums.add(guest)
        self._changed(guest.host_uri, *_GUEST_COLUMNS)

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        guests = self._guests.get(uri)
        old = guests.pop(uuid, None) if guests is not None else None
        if old is not None:
            self._sums[uri].add(old, -1)
            self._changed(uri, *_GUEST_COLUMNS)

    def _on_pools_changed(self, uri: str) -> None:
        self._changed(uri, FleetColumn.POOL_FREE, FleetColumn.POOL_FREE)

    def _on_usage_updated(self, uri: str) -> None:
        for each in [uri] if uri else list(self._uris):
            if each in self._figures:
                self._measure(each)
                self._changed(each, FleetColumn.CPU_USE, FleetColumn.MEMORY_USE)

    # -- updates --------------------------------------------------------------------------

    def _measure(self, uri: str) -> None:
        """Read the host's measured use now and over the last hour from the usage source."""
        figures = self._figures[uri]
        figures.usage = usage = self._usage.host_usage(uri, NOW_SECONDS)
        source = self._usage.source
        if source is None:
            return
        cpu = source.host_trend(uri, UsageKind.CPU, TREND_SECONDS, TREND_POINTS)
        memory = source.host_trend(uri, UsageKind.MEMORY, TREND_SECONDS, TREND_POINTS)
        total = usage.memory_total_kib if usage is not None else math.nan
        if not total > 0:  # unknown: scale to the highest point
            total = max((v for v in memory if not math.isnan(v)), default=1.0) or 1.0
        figures.cpu_spark = _shape([v / 100.0 for v in cpu])
        figures.memory_spark = _shape([v / total for v in memory])

    def _changed(self, uri: str, first: int, last: int) -> None:
        figures = self._figures.get(uri)
        if figures is None:
            return
        figures.stale = True
        row = self._uris.index(uri)
        self.dataChanged.emit(self.index(row, first), self.index(row, last))


def _shape(values: list[float]) -> SparkShape:
    """The step line of evenly spaced bucket means: each mean spans its bucket (so a lone
    bucket, the first minute's, shows), the newest ends at the right edge."""
    width = 1.0 / len(values) if values else 0.0
    xs = [x for i in range(len(values)) for x in (i * width, (i + 1) * width)]
    return sparkline_shape(xs, [y for v in values for y in (v, v)])
