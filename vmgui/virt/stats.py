"""The stats engine: one poll per host per tick, on that host's worker.

Per tick and connection, :class:`StatsPoller` makes **one** bulk ``getAllDomainStats`` call
for the active guests (with ``NOWAIT`` where the daemon knows it: libvirt then skips what
would wait for a guest busy in a long job), plus the host's own CPU and memory counters.
Very large hosts are polled in chunks of ``chunk_size`` guests, one worker call each, so user
actions can run between chunks. If the previous tick is still running, the new one is
skipped (never queued): logged once, then counted (``skipped``).

Per-guest calls are a fallback only: where the bulk call is unsupported, or answers without
counters (libvirt's test driver returns just ``state.*``), ``info()``, ``blockStats()``,
``interfaceStats()`` and ``memoryStats()`` fill in. Where a guest has a balloon device without
a stats period, the poller sets one (live only) so its memory figures flow.

Rates are computed on the worker too (:mod:`vmgui.core.rates`); the asyncio side only gets
frozen samples. Nothing here touches Qt.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import libvirt
import numpy as np

from vmgui.core.errors import VmguiError
from vmgui.core.history import ValueArray
from vmgui.core.model import GuestInfo
from vmgui.core.rates import (
    DeviceCounters,
    GuestChannel,
    GuestCounters,
    GuestSample,
    HostCounters,
    HostSample,
    guest_counters_from_stats,
    guest_sample,
    host_counters_from_stats,
    host_sample,
)
from vmgui.core.xml.domain import balloon_needs_period, device_names

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Guests per bulk call; hosts with more active guests are polled in several calls.
DEFAULT_CHUNK_SIZE = 1000
#: Seconds between balloon statistics updates set on guests that have none.
BALLOON_PERIOD = 2

STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU  # vcpu.N.delay: time waiting for a host CPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
_ACTIVE = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
_NOWAIT = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
#: Guests whose balloon set-up is checked (one XMLDesc each) per tick at most.
_BALLOON_CHECKS_PER_TICK = 16
_UNSUPPORTED = (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG)

Record = tuple[libvirt.virDomain, Mapping[str, Any]]


class StatsHost(Protocol):
    """What the poller needs of a host: its URI and calls on its worker."""

    @property
    def uri(self) -> str:
        """The host's URI."""

    async def call(self, fn: Callable[[libvirt.virConnect], _T], summary: str) -> _T:
        """Run ``fn(conn)`` on the host's worker (raises VmguiError)."""


@dataclass(frozen=True, slots=True)
class TickResult:
    """One tick of one host.

    Attributes:
        uri: the host.
        time: wall-clock seconds of the poll.
        guests: a sample per active guest seen, by UUID.
        host: the host's own CPU and memory, or None when the host reports neither.
        started: guests seen now but not at the previous tick.
        ended: guests seen at the previous tick but not now.
        fallback: whether per-guest calls stood in for the bulk call.
        bulk_calls: bulk stats calls made (1 unless chunked).
        seconds: time spent waiting for the host's answers.
        order: the guests' UUIDs in the order of ``rows``.
        rows: every sample's :meth:`~vmgui.core.rates.GuestSample.row`, one array (made on
            the worker, so the UI appends a tick in one step).
    """

    uri: str
    time: float
    guests: Mapping[str, GuestSample]
    host: HostSample | None
    started: frozenset[str] = frozenset()
    ended: frozenset[str] = frozenset()
    fallback: bool = False
    bulk_calls: int = 1
    seconds: float = 0.0
    order: tuple[str, ...] = ()
    rows: ValueArray | None = None


@dataclass
class _Batch:
    """What one worker call produced."""

    time: float = 0.0
    samples: dict[str, GuestSample] = field(default_factory=dict)
    counters: dict[str, GuestCounters] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    rows: ValueArray = field(default_factory=lambda: np.empty((0, len(GuestChannel)), np.float32))
    host: HostCounters | None = None
    host_sample: HostSample | None = None
    committed: tuple[int, int] = (0, 0)
    fallback: bool = False


class StatsPoller:
    """Polls one host's guests and the host itself, one tick at a time.

    Args:
        host: the connection (its ``call`` runs work on the host's worker).
        chunk_size: most guests per bulk call.
        clock: monotonic seconds, for rates.
        wall_clock: epoch seconds, for the time axis.
        balloon_period: stats period to set on balloons that have none (0: never set).
    """

    def __init__(
        self,
        host: StatsHost,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        balloon_period: int = BALLOON_PERIOD,
    ) -> None:
        self._host = host
        self._chunk_size = max(1, chunk_size)
        self._clock = clock
        self._wall_clock = wall_clock
        self._balloon_period = balloon_period
        self._busy = False
        self._skip_logged = False
        self.skipped = 0
        self.ticks = 0
        self._seen: frozenset[str] = frozenset()
        # Touched only inside worker calls (ticks never overlap).
        self._prev: dict[str, GuestCounters] = {}
        self._prev_host: HostCounters | None = None
        self._host_cpus = 0
        self._host_memory_kib: int | None = None
        self._nowait = True
        self._bulk_supported = True
        self._cpu_stats_supported = True
        self._memory_stats_supported = True
        self._guest_memory_stats: bool | None = None
        self._devices: dict[tuple[str, int], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._balloon_checked: set[tuple[str, int]] = set()

    @property
    def uri(self) -> str:
        """The polled host."""
        return self._host.uri

    @property
    def busy(self) -> bool:
        """Whether a tick is running."""
        return self._busy

    async def tick(self, guests: Mapping[str, GuestInfo]) -> TickResult | None:
        """Poll once, unless the previous tick is still running (then return None at once).

        Args:
            guests: the host's guests by UUID as last listed (for vCPU counts and the
                committed figures); guests not in it are still polled.

        Returns:
            The samples, or None when skipped or when the host could not be read.
        """
        if self._busy:
            self.skipped += 1
            level = logging.DEBUG if self._skip_logged else logging.INFO
            self._skip_logged = True
            _log.log(
                level,
                "%s: stats tick skipped, the previous one is still running (%d so far)",
                self.uri,
                self.skipped,
            )
            return None
        self._busy = True
        try:
            return await self._tick(guests)
        except VmguiError as exc:
            _log.info("%s: stats unavailable: %s", self.uri, exc)
            return None
        finally:
            self._busy = False

    async def _tick(self, guests: Mapping[str, GuestInfo]) -> TickResult:
        snapshot = dict(guests)  # the worker reads it; the caller's may change meanwhile
        summary = f"Could not read the usage of {self.uri}"
        started_at = self._clock()
        if len(self._seen or snapshot) <= self._chunk_size:
            batches = [await self._host.call(lambda c: self._poll(c, snapshot), summary)]
        else:
            flag = libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
            doms = await self._host.call(lambda c: c.listAllDomains(flag), summary)
            batches = []
            for i in range(0, max(1, len(doms)), self._chunk_size):
                chunk = doms[i : i + self._chunk_size]
                poll = functools.partial(self._poll, guests=snapshot, doms=chunk, first=i == 0)
                batches.append(await self._host.call(poll, summary))
            self._finish(batches)
        seconds = self._clock() - started_at
        batch = batches[0]
        if len(batches) > 1:
            for more in batches[1:]:
                batch.samples.update(more.samples)
            batch.order = [u for b in batches for u in b.order]
            batch.rows = np.concatenate([b.rows for b in batches])
        seen = frozenset(batch.samples)
        result = TickResult(
            uri=self.uri,
            time=batch.time,
            guests=batch.samples,
            host=batch.host_sample,
            started=seen - self._seen,
            ended=self._seen - seen,
            fallback=any(b.fallback for b in batches),
            bulk_calls=len(batches),
            seconds=seconds,
            order=tuple(batch.order),
            rows=batch.rows,
        )
        self._seen = seen
        self.ticks += 1
        return result

    def _finish(self, batches: Sequence[_Batch]) -> None:
        """After the last chunk: the host's sample; forget guests that are gone."""
        first = batches[0]
        counters = {u: c for b in batches for u, c in b.counters.items()}
        self._prev = counters
        live = {(c.uuid, c.domain_id) for c in counters.values()}
        self._balloon_checked &= live
        for key in [k for k in self._devices if k not in live]:
            del self._devices[key]
        current = first.host
        if current is None:
            return
        previous, self._prev_host = self._prev_host, current
        shares = [s.cpu_host_percent for b in batches for s in b.samples.values()]
        known = [v for v in shares if v >= 0]
        resident = [
            s.rss_kib for b in batches for s in b.samples.values() if not math.isnan(s.rss_kib)
        ]
        first.host_sample = host_sample(
            previous,
            current,
            first.time,
            guests_cpu_percent=min(100.0, sum(known)) if known else float("nan"),
            committed_memory_kib=float(first.committed[1]),
            committed_vcpus=float(first.committed[0]),
            guests_memory_kib=float(sum(resident)) if resident else float("nan"),
        )

    # -- worker side ------------------------------------------------------------------------

    def _poll(
        self,
        conn: libvirt.virConnect,
        guests: Mapping[str, GuestInfo],
        doms: Sequence[libvirt.virDomain] | None = None,
        first: bool = True,
    ) -> _Batch:
        """One worker call: a bulk stats call (for ``doms``, or all active guests), the rates;
        with ``first``, the host's counters too; unchunked, the whole tick."""
        if first and not self._host_cpus:
            self._read_node_info(conn)
        vcpus = {u: g.vcpus for u, g in guests.items() if g.is_active}
        wall = self._wall_clock()
        records = self._bulk(conn, doms)
        mono = self._clock()
        batch = _Batch(time=wall)
        checks = 0
        rows = []
        for dom, record in records:
            try:
                uuid, domain_id = dom.UUIDString(), dom.ID()
                if "cpu.time" not in record:  # no counters: the test driver, or no bulk
                    counters = self._fallback(dom, uuid, domain_id, vcpus.get(uuid))
                    batch.fallback = True
                else:
                    counters = guest_counters_from_stats(
                        uuid, domain_id, mono, record, vcpus.get(uuid)
                    )
                if (
                    self._balloon_period
                    and "balloon.current" in record
                    and (uuid, domain_id) not in self._balloon_checked
                    and checks < _BALLOON_CHECKS_PER_TICK
                ):
                    checks += 1
                    self._ensure_balloon_period(dom, uuid, domain_id)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    continue  # stopped while we read it
                raise
            sample = guest_sample(self._prev.get(uuid), counters, self._host_cpus, wall)
            batch.counters[uuid] = counters
            batch.samples[uuid] = sample
            batch.order.append(uuid)
            rows.append(sample.row())
        batch.rows = np.array(rows, dtype=np.float32).reshape(len(rows), len(GuestChannel))
        if first:
            batch.host = self._host_counters(conn)
            active = [g for g in guests.values() if g.is_active]
            batch.committed = (sum(g.vcpus for g in active), sum(g.memory_kib for g in active))
        if doms is None:
            self._finish([batch])
        return batch

    def _bulk(
        self, conn: libvirt.virConnect, doms: Sequence[libvirt.virDomain] | None
    ) -> list[Record]:
        if not self._bulk_supported:
            listed = doms
            if listed is None:
                listed = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            return [(d, {}) for d in listed]
        flags = _NOWAIT if self._nowait else 0
        try:
            if doms is None:
                return list(conn.getAllDomainStats(STATS_GROUPS, _ACTIVE | flags))
            return list(conn.domainListGetStats(list(doms), STATS_GROUPS, flags))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in _UNSUPPORTED:
                raise
            if self._nowait:
                _log.info("%s: bulk stats without NOWAIT: %s", self.uri, exc)
                self._nowait = False
            else:
                _log.info("%s: no bulk stats, polling guests one by one: %s", self.uri, exc)
                self._bulk_supported = False
            return self._bulk(conn, doms)

    def _fallback(
        self, dom: libvirt.virDomain, uuid: str, domain_id: int, vcpus: int | None
    ) -> GuestCounters:
        """Counters from per-guest calls (bulk answered without any)."""
        _state, _max_kib, memory_kib, nr_vcpus, cpu_time = dom.info()
        mono = self._clock()
        disks_names, nic_names = self._device_names(dom, uuid, domain_id)
        disks = []
        for name in disks_names:
            with contextlib.suppress(libvirt.libvirtError):
                rd_reqs, rd_bytes, wr_reqs, wr_bytes, _errs = dom.blockStats(name)
                disks.append(DeviceCounters(name, rd_bytes, wr_bytes, rd_reqs, wr_reqs))
        nics = []
        for name in nic_names:
            with contextlib.suppress(libvirt.libvirtError):
                rx_bytes, rx_pkts, _re, _rd, tx_bytes, tx_pkts, _te, _td = dom.interfaceStats(name)
                nics.append(DeviceCounters(name, rx_bytes, tx_bytes, rx_pkts, tx_pkts))
        memory: Mapping[str, int] = {}
        if self._guest_memory_stats is not False:
            try:
                memory = dom.memoryStats()
            except libvirt.libvirtError:
                memory = {}
            if self._guest_memory_stats is None:
                self._guest_memory_stats = bool(memory)
        return GuestCounters(
            uuid=uuid,
            domain_id=domain_id,
            mono=mono,
            vcpus=vcpus or int(nr_vcpus),
            cpu_time_ns=int(cpu_time),
            memory_current_kib=int(memory.get("actual", memory_kib)),
            memory_available_kib=memory.get("available"),
            memory_usable_kib=memory.get("usable"),
            memory_unused_kib=memory.get("unused"),
            rss_kib=memory.get("rss"),
            disks=tuple(disks),
            nics=tuple(nics),
        )

    def _device_names(
        self, dom: libvirt.virDomain, uuid: str, domain_id: int
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        key = (uuid, domain_id)
        names = self._devices.get(key)
        if names is None:
            names = device_names(dom.XMLDesc(0))
            self._devices[key] = names
        return names

    def _ensure_balloon_period(self, dom: libvirt.virDomain, uuid: str, domain_id: int) -> None:
        """Give a balloon device without a stats period one (once per guest run).

        Without a period the guest reports once, at boot, and the figures go stale.
        """
        self._balloon_checked.add((uuid, domain_id))
        if balloon_needs_period(dom.XMLDesc(0)):
            try:
                dom.setMemoryStatsPeriod(self._balloon_period, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                _log.info("%s: balloon stats period set to %d s", dom.name(), self._balloon_period)
            except libvirt.libvirtError as exc:
                _log.info("%s: could not set the balloon stats period: %s", dom.name(), exc)

    def _read_node_info(self, conn: libvirt.virConnect) -> None:
        _model, memory_mib, cpus, *_rest = conn.getInfo()
        self._host_cpus = int(cpus)
        self._host_memory_kib = int(memory_mib) * 1024

    def _host_counters(self, conn: libvirt.virConnect) -> HostCounters | None:
        cpu: Mapping[str, int] | None = None
        memory: Mapping[str, int] | None = None
        if self._cpu_stats_supported:
            try:
                cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0)
            except libvirt.libvirtError as exc:
                _log.info("%s: no host CPU statistics: %s", self.uri, exc)
                self._cpu_stats_supported = False
        if self._memory_stats_supported:
            try:
                memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
            except libvirt.libvirtError as exc:
                _log.info("%s: no host memory statistics: %s", self.uri, exc)
                self._memory_stats_supported = False
        return host_counters_from_stats(
            self._clock(), self._host_cpus, cpu, memory, self._host_memory_kib
        )
