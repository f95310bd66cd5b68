"""Live usage for the UI: one stats poller per connected host, and the history of every series.

:class:`StatsController` follows the :class:`~vmgui.ui.controller.HostController` (connects,
disconnects, guest lists and lifecycle changes), ticks each connected host's
:class:`~vmgui.virt.stats.StatsPoller` every ``interval`` seconds with asyncio tasks on the
(qasync) loop, keeps a bounded :class:`~vmgui.core.history.History` per host and one for all
guests of a host, and emits :attr:`StatsController.ticked` after each tick. Charts and
sparklines read from it. Everything it knows about a host is one :class:`_HostRecord`.

Importing this module imports numpy (through the stats modules): do it after the window's
first paint (:mod:`vmgui.ui.monitor.install` does).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from vmgui.core.model import ConnectionState, GuestInfo, HostStatus
from vmgui.ui.controller import HostController
from vmgui.ui.monitor.lazy import without_source_scan
from vmgui.ui.shell import HostUsage, UsageKind
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.connection import HostConnection

with without_source_scan():
    import numpy as np
    import numpy.typing as npt

    from vmgui.core.history import HISTORY_SPAN, History
    from vmgui.core.rates import GuestChannel, HostChannel
    from vmgui.ui.monitor.series import GuestKey, GuestSeries, HostSeries
    from vmgui.virt.stats import StatsPoller, TickResult

_log = logging.getLogger(__name__)

#: Seconds between ticks by default, and the range users may choose from.
DEFAULT_INTERVAL = 1.0
MIN_INTERVAL = 1.0
MAX_INTERVAL = 10.0
#: Least slots of a new guest table (it widens as guests appear).
_FIRST_SLOTS = 8

PollerFactory = Callable[[HostConnection], StatsPoller]


@dataclass(eq=False)
class _HostRecord:
    """Everything the controller keeps about one host (made when the host is first seen,
    dropped when it is removed; the histories outlive a disconnect).

    Attributes:
        infos: the host's guests as last listed, by UUID.
        guests: the guests' series, by UUID.
        host: the host's own series (from its first tick on).
        table: the guests' rows, one slot per series (from the first tick on).
        poller: the poller while the host is connected.
        loop: the task firing its ticks while connected.
        order: the last tick's order of UUIDs and their slots (reused while unchanged).
        latest: the last tick.
        sort_values: current values by kind and UUID, for sorting (made on demand per tick).
    """

    infos: dict[str, GuestInfo] = field(default_factory=dict)
    guests: dict[str, GuestSeries] = field(default_factory=dict)
    host: HostSeries | None = None
    table: History | None = None
    poller: StatsPoller | None = None
    loop: asyncio.Task[None] | None = None
    order: tuple[tuple[str, ...], npt.NDArray[np.intp]] | None = None
    latest: TickResult | None = None
    sort_values: dict[UsageKind, dict[str, float]] = field(default_factory=dict)


class StatsController(QObject):
    """Polls every connected host on a timer and keeps everyone's usage history.

    Signals:
        ticked(str): new points arrived for a host (URI) and its guests.
        intervalChanged(float): the seconds between ticks changed.

    Args:
        controller: the hosts to follow.
        interval: seconds between ticks (clamped to 1-10).
        poller_factory: makes the poller of a connected host.
        parent: the owning QObject.
    """

    ticked = Signal(str)
    intervalChanged = Signal(float)

    def __init__(
        self,
        controller: HostController,
        *,
        interval: float = DEFAULT_INTERVAL,
        poller_factory: PollerFactory = StatsPoller,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._interval = _clamp_interval(interval)
        self._factory = poller_factory
        self._records: dict[str, _HostRecord] = {}
        self._tasks = TaskOwner(None, name="stats tick", parent=self)
        self._closed = False
        self._applied = 0
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)
        controller.hostRemoved.connect(self._on_controller_host_removed)
        for uri in controller.uris():  # hosts connected before we were created
            host = controller.host(uri)
            if host.state is ConnectionState.CONNECTED:
                self._record(uri).infos = host.guests
                self._start(uri)

    # -- queries ----------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        """Seconds between ticks."""
        return self._interval

    def guest_label(self, key: GuestKey) -> str:
        """The guest's name (its UUID if unknown)."""
        record = self._records.get(key[0])
        if record is None:
            return key[1]
        info, series = record.infos.get(key[1]), record.guests.get(key[1])
        return info.name if info else series.name if series else key[1]

    def host_label(self, uri: str) -> str:
        """The host's display name."""
        return self._controller.label(uri) if uri in self._controller.uris() else uri

    def polled_hosts(self) -> list[str]:
        """The hosts being polled."""
        return [uri for uri, record in self._records.items() if record.poller is not None]

    def poller(self, uri: str) -> StatsPoller | None:
        """The poller of a host, if it is connected."""
        record = self._records.get(uri)
        return record.poller if record is not None else None

    def guest_series(self, key: GuestKey) -> GuestSeries | None:
        """A guest's usage history, or None if it was never seen running."""
        record = self._records.get(key[0])
        return record.guests.get(key[1]) if record is not None else None

    def host_series(self, uri: str) -> HostSeries | None:
        """A host's usage history, or None before its first tick."""
        record = self._records.get(uri)
        return record.host if record is not None else None

    def guest_keys(self, uri: str | None = None) -> list[GuestKey]:
        """The guests that have a series (of one host, or all)."""
        return [
            (host, uuid)
            for host, record in self._records.items()
            if uri is None or host == uri
            for uuid in record.guests
        ]

    def usage_value(self, key: GuestKey, kind: UsageKind) -> float:
        """A guest's current CPU (% of its vCPUs) or memory (KiB used in the guest, or
        resident on the host without a balloon driver), for sorting; -1 when unknown.

        Sorting asks once per comparison: the values come from one dict per host and tick.
        """
        record = self._records.get(key[0])
        if record is None:
            return -1.0
        values = record.sort_values.get(kind)
        if values is None:
            values = record.sort_values[kind] = _current(record.latest, kind)
        return values.get(key[1], -1.0)

    def host_usage(self, uri: str, seconds: float) -> HostUsage | None:
        """The host's measured usage over the last ``seconds`` (:class:`HostUsageSource`)."""
        record = self._records.get(uri)
        if record is None or record.host is None:
            return None
        history = record.host.history
        last = history.last()
        if last is None:
            return None
        times, values = history.view(seconds)
        cpu = values[:, HostChannel.GUESTS_CPU] if len(values) else np.empty(0)
        known = cpu[np.isfinite(cpu)]
        now = last[1]
        return HostUsage(
            cpus=int(now[HostChannel.CPUS]) if np.isfinite(now[HostChannel.CPUS]) else 0,
            memory_total_kib=float(now[HostChannel.MEMORY_TOTAL]),
            guests_cpu_percent=float(known.mean()) if len(known) else math.nan,
            guests_memory_kib=float(now[HostChannel.GUESTS_MEMORY]),
            committed_vcpus=float(now[HostChannel.COMMITTED_VCPUS]),
            committed_memory_kib=float(now[HostChannel.COMMITTED_MEMORY]),
            covered_seconds=float(times[-1] - times[0]) if len(times) > 1 else 0.0,
        )

    def host_trend(self, uri: str, kind: UsageKind, seconds: float, points: int) -> list[float]:
        """Evenly spaced means of the host's guests' CPU or memory (:class:`HostUsageSource`)."""
        series = self.host_series(uri)
        if series is None or points <= 0 or series.history.last() is None:
            return []
        channel = HostChannel.GUESTS_CPU if kind is UsageKind.CPU else HostChannel.GUESTS_MEMORY
        times, values = series.history.view(seconds)
        end = float(series.history.last_time())
        edges = np.linspace(end - seconds, end, points + 1)
        column = values[:, channel].astype(np.float64)
        where = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, points - 1)
        known = np.isfinite(column) & (times >= edges[0])
        sums = np.bincount(where[known], weights=column[known], minlength=points)
        counts = np.bincount(where[known], minlength=points)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)
        return [float(v) for v in means]

    # -- control ----------------------------------------------------------------------------

    def set_interval(self, seconds: float) -> None:
        """Tick every ``seconds`` (clamped to 1-10) from now on."""
        seconds = _clamp_interval(seconds)
        if seconds == self._interval:
            return
        self._interval = seconds
        for uri, record in self._records.items():
            if record.loop is not None:
                record.loop.cancel()
                record.loop = asyncio.ensure_future(self._run(uri))
        self.intervalChanged.emit(seconds)

    async def tick_now(self, uri: str) -> TickResult | None:
        """Poll one host now (skipped, returning None, if its last tick still runs)."""
        record = self._records.get(uri)
        poller = record.poller if record is not None else None
        if record is None or poller is None:
            return None
        result = await poller.tick(record.infos)
        if result is not None and record.poller is poller and self._records.get(uri) is record:
            self.apply(result)
        return result

    def apply(self, result: TickResult) -> None:
        """Append one tick's samples (what every poll does; also how recorded ticks are
        replayed) and emit :attr:`ticked`.

        Qt thread: kept to a few numpy calls, whatever the guest count.
        """
        uri = result.uri
        record = self._record(uri)
        if result.host is not None:
            if record.host is None:
                record.host = HostSeries(uri, History(len(HostChannel)))
            record.host.active = True
            record.host.history.append(result.time, result.host.row())
        table = record.table
        if table is None:
            slots = max(_FIRST_SLOTS, len(result.order))
            table = record.table = History(len(GuestChannel), slots=slots)
        for uuid in result.started:  # unless an event said it stopped since the poll
            info = record.infos.get(uuid)
            self._series_for(uri, record, table, uuid).active = info is None or info.is_active
        if record.order is None or result.order != record.order[0]:
            where = [self._series_for(uri, record, table, u).slot for u in result.order]
            record.order = (result.order, np.array(where, dtype=np.intp))
        if result.rows is not None:
            table.append(result.time, result.rows, record.order[1])
        for uuid in result.ended:
            info = record.infos.get(uuid)
            series = record.guests.get(uuid)
            if series is not None and (info is None or not info.is_active):
                _end(series, result.time)
        record.latest = result
        record.sort_values.clear()
        self._applied += 1
        if self._applied % 64 == 0:
            self._prune(result.time)
        self.ticked.emit(uri)

    def close(self) -> None:
        """Stop every poller and task (at exit)."""
        self._closed = True
        for uri in list(self._records):
            self._stop(uri)
        self._tasks.cancel_all()

    # -- polling ----------------------------------------------------------------------------

    def _record(self, uri: str) -> _HostRecord:
        record = self._records.get(uri)
        if record is None:
            record = self._records[uri] = _HostRecord()
        return record

    def _start(self, uri: str) -> None:
        if self._closed:
            return
        self._stop(uri)
        record = self._record(uri)
        record.poller = self._factory(self._controller.host(uri))
        record.loop = asyncio.ensure_future(self._run(uri))
        self._tasks.spawn(self.tick_now(uri))

    def _stop(self, uri: str) -> None:
        record = self._records.get(uri)
        if record is None:
            return
        record.poller = None
        if record.loop is not None:
            record.loop.cancel()
            record.loop = None
        now = time.time()
        if record.host is not None and record.host.active:
            record.host.active = False
            record.host.history.break_line(now)
        if record.table is not None:
            record.table.break_line(now)
        for series in record.guests.values():
            _end(series, now)

    async def _run(self, uri: str) -> None:
        """Fire a tick every interval; a tick still running makes the next one a skip."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self._interval
            delay = deadline - loop.time()
            if delay < 0:  # fell behind (a stalled loop): resynchronise, never burst
                deadline, delay = loop.time(), 0.0
            await asyncio.sleep(delay)
            self._tasks.spawn(self.tick_now(uri))

    @staticmethod
    def _series_for(uri: str, record: _HostRecord, table: History, uuid: str) -> GuestSeries:
        """The guest's series, given a free slot of the host's table if it is new."""
        series = record.guests.get(uuid)
        if series is None:
            info = record.infos.get(uuid)
            name, vcpus = (info.name, info.vcpus) if info else (uuid, 0)
            series = GuestSeries((uri, uuid), name, vcpus, table, table.allocate())
            record.guests[uuid] = series
        return series

    @staticmethod
    def _drop(record: _HostRecord, uuid: str) -> None:
        """Forget a guest's series; its slot is cleared for the next new guest."""
        series = record.guests.pop(uuid, None)
        if series is not None:
            series.table.release(series.slot)
            record.order = None

    def _prune(self, now: float) -> None:
        """Forget ended series older than the history reaches (bounded memory)."""
        for record in self._records.values():
            old = [u for u, s in record.guests.items() if now - s.ended_at > HISTORY_SPAN]
            for uuid in old:
                self._drop(record, uuid)

    # -- host controller signals --------------------------------------------------------------

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        polled = self.poller(status.uri) is not None
        if status.state is ConnectionState.CONNECTED:
            if not polled:
                self._record(status.uri)
                self._start(status.uri)
        elif polled:
            self._stop(status.uri)

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        record = self._record(uri)
        record.infos = {g.uuid: g for g in guests}
        if not guests and record.poller is None:
            return  # a disconnect: keep the history, the series have ended
        listed = set(record.infos)
        for uuid in [u for u in record.guests if u not in listed]:
            self._drop(record, uuid)
        now = time.time()
        for guest in guests:
            series = record.guests.get(guest.uuid)
            if series is not None and not guest.is_active:
                _end(series, now)
        if any(g.is_active for g in guests):
            self._tasks.spawn(self.tick_now(uri))

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        record = self._record(guest.host_uri)
        old = record.infos.get(guest.uuid)
        record.infos[guest.uuid] = guest
        series = record.guests.get(guest.uuid)
        if series is not None:
            series.name, series.vcpus = guest.name, guest.vcpus
        if not guest.is_active:
            if series is not None:
                _end(series, time.time())
        elif old is None or not old.is_active or series is None or not series.active:
            # Started: poll now so its series begins at once (a running tick makes it a skip).
            self._tasks.spawn(self.tick_now(guest.host_uri))

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        record = self._records.get(uri)
        if record is not None:
            record.infos.pop(uuid, None)
            self._drop(record, uuid)

    def _on_controller_host_removed(self, uri: str) -> None:
        self._stop(uri)
        self._records.pop(uri, None)


def _current(result: TickResult | None, kind: UsageKind) -> dict[str, float]:
    """One tick's values of ``kind`` by UUID (-1 where unknown)."""
    if result is None or result.rows is None or not len(result.rows):
        return {}
    rows = result.rows
    if kind is UsageKind.CPU:
        column = rows[:, GuestChannel.CPU]
    else:
        used = rows[:, GuestChannel.MEMORY_USED]
        column = np.where(np.isfinite(used), used, rows[:, GuestChannel.RSS])
    column = np.where(np.isfinite(column), column, -1.0)
    return dict(zip(result.order, column.tolist(), strict=True))


def _end(series: GuestSeries, now: float) -> None:
    """Mark a series ended (once)."""
    if series.active:
        series.active = False
        series.ended_at = now


def _clamp_interval(seconds: float) -> float:
    return float(min(MAX_INTERVAL, max(MIN_INTERVAL, seconds)))
