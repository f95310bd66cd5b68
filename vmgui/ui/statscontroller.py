"""Live usage for the UI: one stats poller per connected host, and the history of every series.

:class:`StatsController` follows the :class:`~vmgui.ui.hosts.HostController` (connects,
disconnects, guest lists and lifecycle changes), ticks each connected host's
:class:`~vmgui.virt.stats.StatsPoller` every ``interval`` seconds with asyncio tasks on the
(qasync) loop, keeps a bounded :class:`~vmgui.core.history.History` per guest and per host, and
emits :attr:`StatsController.ticked` after each tick. Charts and sparklines read from it.

:func:`install_usage` wires it into the main window in one call. It imports numpy (through
the stats modules): call it after the window's first paint (see the function's docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSplitter, QTabWidget, QWidget

from vmgui.core.model import ConnectionState, GuestInfo, HostStatus
from vmgui.ui.hosts import HostController
from vmgui.virt.connection import HostConnection


@contextlib.contextmanager
def without_source_scan() -> Iterator[None]:
    """Import heavy modules without PySide6's scan of each new module's source.

    PySide6's import hook reads the source of every module imported after it (through
    ``inspect.getsource``, into ``linecache``, where it stays) to see whether it uses
    ``__feature__``. Measured: ~8 MiB resident for numpy and the stats modules, ~12 MiB for
    pyqtgraph. None of them uses ``__feature__``, and the hook takes "no source" as "no".
    """
    scan = inspect.getsource

    def no_source(_obj: object) -> str:
        raise OSError("source not read while importing")

    inspect.getsource = no_source  # type: ignore[assignment]
    try:
        yield
    finally:
        inspect.getsource = scan


with without_source_scan():
    import numpy as np
    import numpy.typing as npt

    from vmgui.core.history import HISTORY_SPAN, History, SeriesView
    from vmgui.core.rates import GuestChannel, HostChannel
    from vmgui.virt.stats import StatsPoller, TickResult

if TYPE_CHECKING:
    from vmgui.ui.mainwindow import MainWindow

_log = logging.getLogger(__name__)

#: Seconds between ticks by default, and the range users may choose from.
DEFAULT_INTERVAL = 1.0
MIN_INTERVAL = 1.0
MAX_INTERVAL = 10.0

PollerFactory = Callable[[HostConnection], StatsPoller]
GuestKey = tuple[str, str]


@dataclass(eq=False)
class GuestSeries:
    """One guest's usage history and what its charts need to label it.

    A guest's rows live in its slot of its host's table (one :class:`History` per host,
    appended once per tick for all guests); ticks without the guest read NaN there.

    Attributes:
        key: (host URI, UUID).
        name: the guest's name.
        vcpus: its vCPUs.
        table: the host's guest table.
        slot: this guest's slot in it.
        active: whether the series is still running (the guest is active).
        ended_at: when it ended (wall clock), NaN while active.
    """

    key: GuestKey
    name: str
    vcpus: int
    table: History
    slot: int
    active: bool = True
    ended_at: float = math.nan

    @property
    def history(self) -> SeriesView:
        """The guest's rows in :class:`~vmgui.core.rates.GuestChannel` order."""
        return SeriesView(self.table, self.slot)

    @property
    def balloon(self) -> bool | None:
        """Whether the guest reported its own memory use in the last two minutes (None:
        no figures at all yet)."""
        _times, values = self.history.view(120.0)
        if np.isfinite(values[:, GuestChannel.MEMORY_USED]).any():
            return True
        return False if np.isfinite(values[:, GuestChannel.MEMORY_TOTAL]).any() else None

    def latest(self, channel: GuestChannel) -> float:
        """The newest value of a channel (NaN when none)."""
        last = self.history.last()
        return math.nan if last is None else float(last[1][channel])


@dataclass(eq=False)
class HostSeries:
    """One host's usage history (rows in :class:`~vmgui.core.rates.HostChannel` order)."""

    uri: str
    history: History
    active: bool = True

    def latest(self, channel: HostChannel) -> float:
        """The newest value of a channel (NaN when none)."""
        last = self.history.last()
        return math.nan if last is None else float(last[1][channel])


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
        self._pollers: dict[str, StatsPoller] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._infos: dict[str, dict[str, GuestInfo]] = {}
        self._guests: dict[GuestKey, GuestSeries] = {}
        self._hosts: dict[str, HostSeries] = {}
        # Per host: the guests' table, the last order of rows with its slots, the last tick
        # and its values for sorting.
        self._tables: dict[str, History] = {}
        self._orders: dict[str, tuple[tuple[str, ...], npt.NDArray[np.intp]]] = {}
        self._latest: dict[str, TickResult] = {}
        self._sort_values: dict[tuple[str, str], dict[str, float]] = {}
        self._closed = False
        self._applied = 0
        #: Seconds the Qt thread spent applying the last tick (benchmarks read it).
        self.last_apply_seconds = 0.0
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)
        controller.hostRemoved.connect(self._on_controller_host_removed)
        for uri in controller.uris():  # hosts connected before we were created
            host = controller.host(uri)
            if host.state is ConnectionState.CONNECTED:
                self._infos[uri] = host.guests
                self._start(uri)

    # -- queries ----------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        """Seconds between ticks."""
        return self._interval

    def guest_label(self, key: GuestKey) -> str:
        """The guest's name (its UUID if unknown)."""
        series = self._guests.get(key)
        info = self._infos.get(key[0], {}).get(key[1])
        return info.name if info else series.name if series else key[1]

    def host_label(self, uri: str) -> str:
        """The host's display name."""
        return self._controller.label(uri) if uri in self._controller.uris() else uri

    def polled_hosts(self) -> list[str]:
        """The hosts being polled."""
        return list(self._pollers)

    def poller(self, uri: str) -> StatsPoller | None:
        """The poller of a host, if it is connected."""
        return self._pollers.get(uri)

    def guest_series(self, key: GuestKey) -> GuestSeries | None:
        """A guest's usage history, or None if it was never seen running."""
        return self._guests.get(key)

    def host_series(self, uri: str) -> HostSeries | None:
        """A host's usage history, or None before its first tick."""
        return self._hosts.get(uri)

    def guest_keys(self, uri: str | None = None) -> list[GuestKey]:
        """The guests that have a series (of one host, or all)."""
        return [k for k in self._guests if uri is None or k[0] == uri]

    def usage_value(self, key: GuestKey, what: str) -> float:
        """A guest's current "cpu" (% of its vCPUs) or "memory" (KiB used in the guest, or
        resident on the host without a balloon driver), for sorting; -1 when unknown.

        Sorting asks once per comparison: the values come from one dict per host and tick.
        """
        uri, uuid = key
        values = self._sort_values.get((uri, what))
        if values is None:
            values = self._sort_values[(uri, what)] = self._current(uri, what)
        return values.get(uuid, -1.0)

    def _current(self, uri: str, what: str) -> dict[str, float]:
        result = self._latest.get(uri)
        if result is None or result.rows is None or not len(result.rows):
            return {}
        rows = result.rows
        if what == "cpu":
            column = rows[:, GuestChannel.CPU]
        else:
            used = rows[:, GuestChannel.MEMORY_USED]
            column = np.where(np.isfinite(used), used, rows[:, GuestChannel.RSS])
        column = np.where(np.isfinite(column), column, -1.0)
        return dict(zip(result.order, column.tolist(), strict=True))

    # -- control ----------------------------------------------------------------------------

    def set_interval(self, seconds: float) -> None:
        """Tick every ``seconds`` (clamped to 1-10) from now on."""
        seconds = _clamp_interval(seconds)
        if seconds == self._interval:
            return
        self._interval = seconds
        for uri in list(self._loops):
            self._loops.pop(uri).cancel()
            self._loops[uri] = asyncio.ensure_future(self._run(uri))
        self.intervalChanged.emit(seconds)

    async def tick_now(self, uri: str) -> TickResult | None:
        """Poll one host now (skipped, returning None, if its last tick still runs)."""
        poller = self._pollers.get(uri)
        if poller is None:
            return None
        result = await poller.tick(self._infos.get(uri, {}))
        if result is not None and self._pollers.get(uri) is poller:
            self._apply(result)
        return result

    def close(self) -> None:
        """Stop every poller and task (at exit)."""
        self._closed = True
        for uri in list(self._pollers):
            self._stop(uri)
        for task in list(self._tasks):
            task.cancel()

    # -- polling ----------------------------------------------------------------------------

    def _start(self, uri: str) -> None:
        if self._closed:
            return
        self._stop(uri)
        self._pollers[uri] = self._factory(self._controller.host(uri))
        self._loops[uri] = asyncio.ensure_future(self._run(uri))
        self._spawn(self.tick_now(uri))

    def _stop(self, uri: str) -> None:
        self._pollers.pop(uri, None)
        loop = self._loops.pop(uri, None)
        if loop is not None:
            loop.cancel()
        now = time.time()
        host = self._hosts.get(uri)
        if host is not None and host.active:
            host.active = False
            host.history.break_line(now)
        if uri in self._tables:
            self._tables[uri].break_line(now)
        for key, series in self._guests.items():
            if key[0] == uri:
                self._end(series, now)

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
            self._spawn(self.tick_now(uri))

    def _apply(self, result: TickResult) -> None:
        """Append one tick (Qt thread: kept to a few numpy calls, whatever the guest count)."""
        started = time.perf_counter()
        uri = result.uri
        if result.host is not None:
            host = self._hosts.get(uri)
            if host is None:
                host = self._hosts[uri] = HostSeries(uri, History(len(HostChannel)))
            host.active = True
            host.history.append(result.time, result.host.row())
        table = self._tables.get(uri)
        if table is None:
            slots = max(8, len(result.order))
            table = self._tables[uri] = History(len(GuestChannel), slots=slots)
        infos = self._infos.get(uri, {})
        for uuid in result.started:  # unless an event said it stopped since the poll
            info = infos.get(uuid)
            self._series_for(uri, uuid, table).active = info is None or info.is_active
        if uri not in self._orders or result.order != self._orders[uri][0]:
            where = [self._series_for(uri, u, table).slot for u in result.order]
            self._orders[uri] = (result.order, np.array(where, dtype=np.intp))
        if result.rows is not None:
            table.append(result.time, result.rows, self._orders[uri][1])
        for uuid in result.ended:
            info = infos.get(uuid)
            series = self._guests.get((uri, uuid))
            if series is not None and (info is None or not info.is_active):
                self._end(series, result.time)
        self._latest[uri] = result
        self._sort_values.pop((uri, "cpu"), None)
        self._sort_values.pop((uri, "memory"), None)
        self._applied += 1
        if self._applied % 64 == 0:
            self._prune(result.time)
        self.last_apply_seconds = time.perf_counter() - started
        self.ticked.emit(uri)

    def _series_for(self, uri: str, uuid: str, table: History) -> GuestSeries:
        """The guest's series, given a free slot of the host's table if it is new."""
        key = (uri, uuid)
        series = self._guests.get(key)
        if series is None:
            info = self._infos.get(uri, {}).get(uuid)
            name, vcpus = (info.name, info.vcpus) if info else (uuid, 0)
            series = GuestSeries(key, name, vcpus, table, table.allocate())
            self._guests[key] = series
        return series

    def _drop(self, key: GuestKey) -> None:
        """Forget a guest's series; its slot is cleared for the next new guest."""
        series = self._guests.pop(key, None)
        if series is not None:
            series.table.release(series.slot)
            self._orders.pop(key[0], None)

    def _prune(self, now: float) -> None:
        """Forget ended series older than the history reaches (bounded memory)."""
        for key in [k for k, s in self._guests.items() if now - s.ended_at > HISTORY_SPAN]:
            self._drop(key)

    @staticmethod
    def _end(series: GuestSeries, now: float) -> None:
        if series.active:
            series.active = False
            series.ended_at = now

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- host controller signals --------------------------------------------------------------

    def _on_controller_status_changed(self, status: object) -> None:
        if not isinstance(status, HostStatus):
            return
        if status.state is ConnectionState.CONNECTED:
            if status.uri not in self._pollers:
                self._infos.setdefault(status.uri, {})
                self._start(status.uri)
        elif status.uri in self._pollers:
            self._stop(status.uri)

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        self._infos[uri] = {g.uuid: g for g in guests}
        if not guests and uri not in self._pollers:
            return  # a disconnect: keep the history, the series have ended
        listed = {g.uuid for g in guests}
        for key in [k for k in self._guests if k[0] == uri and k[1] not in listed]:
            self._drop(key)
        now = time.time()
        for guest in guests:
            series = self._guests.get(guest.key)
            if series is not None and not guest.is_active:
                self._end(series, now)
        if any(g.is_active for g in guests):
            self._spawn(self.tick_now(uri))

    def _on_controller_guest_changed(self, guest: object) -> None:
        if not isinstance(guest, GuestInfo):
            return
        infos = self._infos.setdefault(guest.host_uri, {})
        old = infos.get(guest.uuid)
        infos[guest.uuid] = guest
        series = self._guests.get(guest.key)
        if series is not None:
            series.name, series.vcpus = guest.name, guest.vcpus
        if not guest.is_active:
            if series is not None:
                self._end(series, time.time())
        elif old is None or not old.is_active or series is None or not series.active:
            # Started: poll now so its series begins at once (a running tick makes it a skip).
            self._spawn(self.tick_now(guest.host_uri))

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        self._infos.get(uri, {}).pop(uuid, None)
        self._drop((uri, uuid))

    def _on_controller_host_removed(self, uri: str) -> None:
        self._stop(uri)
        for key in [k for k in self._guests if k[0] == uri]:
            del self._guests[key]
        for table in (self._infos, self._hosts, self._tables):
            table.pop(uri, None)
        for cache in (self._orders, self._latest):
            cache.pop(uri, None)
        for what in ("cpu", "memory"):
            self._sort_values.pop((uri, what), None)


def _clamp_interval(seconds: float) -> float:
    return float(min(MAX_INTERVAL, max(MIN_INTERVAL, seconds)))


def install_usage(window: MainWindow, controller: HostController) -> StatsController:
    """Add live usage to the main window; returns the stats controller (owned by the window).

    * Adds a "Usage" tab holding the ``usageCharts`` widget next to the details pane: to the
      tab widget the details already live in (``window.side_tabs``), or else to a new one
      (``detailTabs``) put where ``window.details`` was. The charts follow the selection
      like the details do: one guest, its charts; otherwise the selected (or first) host's.
    * Paints CPU and memory sparklines in the guest list's columns headed "CPU" and
      "Memory use", if the guest model has them (see :mod:`vmgui.ui.sparkline`), and sets
      the model's ``usage_value`` callable, if it has one, for sorting by them.
    * Stops polling when the application quits.

    Imports numpy here and pyqtgraph when the Usage tab is first shown: call this after the
    window's first paint (e.g. from a short timer started after ``window.show()``).
    """
    from PySide6.QtWidgets import QApplication

    with without_source_scan():
        from vmgui.ui.charts import UsageCharts
        from vmgui.ui.sparkline import install_sparklines

    stats = StatsController(controller, parent=window)
    charts = UsageCharts(stats)
    _tab_widget_for(window.details).addTab(charts, "Usage")

    def follow_selection(*_args: object) -> None:
        guests = window.selected_guests()
        if len(guests) == 1:
            charts.show_guest(guests[0].key)
            return
        uris = window.selected_hosts() or [g.host_uri for g in guests[:1]]
        uris = uris or controller.uris()[:1]
        if uris:
            charts.show_host(uris[0])
        else:
            charts.show_nothing()

    window.guest_view.selectionModel().selectionChanged.connect(follow_selection)
    window.host_view.selectionModel().selectionChanged.connect(follow_selection)
    controller.hostAdded.connect(follow_selection)
    controller.hostRemoved.connect(follow_selection)
    follow_selection()
    install_sparklines(window.guest_view, window.guest_model, window.guest_proxy, stats)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(stats.close)
    return stats


def _tab_widget_for(details: QWidget) -> QTabWidget:
    """The tab widget holding ``details``; made (in its place in a splitter) if none."""
    parent = details.parentWidget()
    for candidate in (parent, parent.parentWidget() if parent is not None else None):
        if isinstance(candidate, QTabWidget):
            return candidate
    tabs = QTabWidget()
    tabs.setObjectName("detailTabs")
    tabs.setDocumentMode(True)
    if isinstance(parent, QSplitter):
        index, sizes = parent.indexOf(details), parent.sizes()
        tabs.addTab(details, "Details")
        parent.insertWidget(index, tabs)
        parent.setStretchFactor(index, 1)
        parent.setSizes(sizes)
    return tabs
