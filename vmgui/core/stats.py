"""Usage statistics: rates from libvirt's counters, and bounded numpy history.

Pure: numpy only, no Qt and no libvirt. The virt layer turns libvirt answers into the
counter snapshots here (:class:`GuestCounters`, :class:`HostCounters`); two snapshots give a
sample of rates (:func:`guest_sample`, :func:`host_sample`); the UI keeps samples in a
:class:`History` (a full-rate ring for the recent minutes plus a ring of coarse means for the
hour) and plots them.

Honesty rules the maths follows:

* A counter that went down (the guest rebooted, was restored, or its QEMU restarted) gives no
  rate for that interval (NaN, a gap), never a negative or huge value; so does a changed
  domain id or a missing key.
* Guest memory use comes only from the balloon driver (``balloon.available`` minus
  ``balloon.usable``/``unused``). Without one it is NaN and the host-side resident size
  (``balloon.rss``) is what can be shown, labelled as such.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

NAN = math.nan

#: Full-rate points kept per series (10 minutes at 1 s).
FINE_POINTS = 600
#: Seconds per point of the long history, and how long it reaches back.
COARSE_STEP = 10.0
HISTORY_SPAN = 3600.0

FloatArray = npt.NDArray[np.float64]
ValueArray = npt.NDArray[np.float32]


class GuestChannel(enum.IntEnum):
    """The columns of a guest's history (units in the comments)."""

    CPU = 0  # % of the guest's own vCPUs (100 = every vCPU busy)
    CPU_HOST = 1  # % of all host CPUs
    MEMORY_USED = 2  # KiB used inside the guest (balloon driver); NaN without one
    MEMORY_TOTAL = 3  # KiB the guest sees (balloon "available", else its current allocation)
    RSS = 4  # KiB resident on the host (the QEMU process)
    DISK_READ = 5  # bytes/s
    DISK_WRITE = 6  # bytes/s
    DISK_READ_IOPS = 7  # requests/s
    DISK_WRITE_IOPS = 8  # requests/s
    NET_RX = 9  # bytes/s
    NET_TX = 10  # bytes/s


class HostChannel(enum.IntEnum):
    """The columns of a host's history."""

    CPU = 0  # % of all host CPUs busy (the node's own counters)
    GUESTS_CPU = 1  # % of all host CPUs used by the guests
    MEMORY_USED = 2  # KiB (total - free - buffers - cached)
    MEMORY_TOTAL = 3  # KiB
    COMMITTED_MEMORY = 4  # KiB: current memory of the active guests
    COMMITTED_VCPUS = 5  # vCPUs of the active guests
    CPUS = 6  # the host's logical CPUs


# --------------------------------------------------------------------------------------------
# Counters


@dataclass(frozen=True, slots=True)
class DeviceCounters:
    """One disk's or network interface's cumulative counters (None: not reported).

    For a disk: bytes and requests read/written. For an interface: bytes and packets
    received (``read_*``) and transmitted (``write_*``).
    """

    name: str
    read_bytes: int | None = None
    write_bytes: int | None = None
    read_ops: int | None = None
    write_ops: int | None = None


@dataclass(frozen=True, slots=True)
class GuestCounters:
    """One guest's raw counters at one moment (None: not reported). Memory in KiB."""

    uuid: str
    domain_id: int  # a new id means the counters restarted (a new QEMU)
    mono: float  # monotonic seconds when read
    vcpus: int | None = None
    cpu_time_ns: int | None = None  # CPU time used by the guest so far
    memory_current_kib: int | None = None  # balloon target, or the allocation
    memory_available_kib: int | None = None  # what the guest OS sees (balloon driver)
    memory_usable_kib: int | None = None  # usable without swapping (balloon driver)
    memory_unused_kib: int | None = None  # left completely free (balloon driver)
    rss_kib: int | None = None  # resident size of the QEMU process on the host
    disks: tuple[DeviceCounters, ...] = ()
    nics: tuple[DeviceCounters, ...] = ()

    @property
    def has_counters(self) -> bool:
        """Whether the record carried usage counters at all (the test driver's has none)."""
        return self.cpu_time_ns is not None


def _int(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    if type(value) is int:  # the common case, first
        return value
    if isinstance(value, float):
        return int(value)
    return None


def _devices(
    record: Mapping[str, Any], group: str, keys: Sequence[str]
) -> tuple[DeviceCounters, ...]:
    count = _int(record, f"{group}.count") or 0
    devices = []
    for i in range(count):
        prefix = f"{group}.{i}."
        name = record.get(prefix + "name")
        values = [_int(record, prefix + key) for key in keys]
        if not isinstance(name, str) or all(v is None for v in values):
            continue
        devices.append(DeviceCounters(name, *values))
    return tuple(devices)


_BLOCK_KEYS = ("rd.bytes", "wr.bytes", "rd.reqs", "wr.reqs")
_NET_KEYS = ("rx.bytes", "tx.bytes", "rx.pkts", "tx.pkts")


def guest_counters_from_stats(
    uuid: str,
    domain_id: int,
    mono: float,
    record: Mapping[str, Any],
    vcpus: int | None = None,
) -> GuestCounters:
    """Read one ``getAllDomainStats`` record (groups state, cpu-total, balloon, block,
    interface). Missing keys become None; nothing is guessed."""
    if vcpus is None:
        vcpus = _int(record, "vcpu.current")
    current, available, usable, unused, rss = (
        _int(record, f"balloon.{k}") for k in ("current", "available", "usable", "unused", "rss")
    )
    return GuestCounters(
        uuid,
        domain_id,
        mono,
        vcpus,
        _int(record, "cpu.time"),
        current,
        available,
        usable,
        unused,
        rss,
        _devices(record, "block", _BLOCK_KEYS),
        _devices(record, "net", _NET_KEYS),
    )


@dataclass(frozen=True, slots=True)
class HostCounters:
    """A host's raw counters at one moment (None: not reported)."""

    mono: float  # monotonic seconds when read
    cpus: int  # logical CPUs
    cpu_busy_ns: int | None = None  # kernel + user time of all CPUs
    cpu_total_ns: int | None = None  # busy + idle + iowait time of all CPUs
    memory_total_kib: int | None = None
    memory_free_kib: int | None = None  # free + buffers + cached


def host_counters_from_stats(
    mono: float,
    cpus: int,
    cpu_stats: Mapping[str, int] | None,
    memory_stats: Mapping[str, int] | None,
    memory_total_kib: int | None = None,
) -> HostCounters:
    """Read ``getCPUStats(ALL_CPUS)`` and ``getMemoryStats(ALL_CELLS)`` answers (None where
    unsupported; then ``memory_total_kib``, e.g. from ``getInfo``, gives the size)."""
    busy = total = None
    if cpu_stats is not None and "kernel" in cpu_stats and "user" in cpu_stats:
        busy = int(cpu_stats["kernel"]) + int(cpu_stats["user"])
        if "idle" in cpu_stats:
            total = busy + int(cpu_stats["idle"]) + int(cpu_stats.get("iowait", 0))
    free = None
    if memory_stats is not None and "total" in memory_stats:
        memory_total_kib = int(memory_stats["total"])
        if "free" in memory_stats:
            free = sum(int(memory_stats.get(k, 0)) for k in ("free", "buffers", "cached"))
    return HostCounters(mono, cpus, busy, total, memory_total_kib, free)


# --------------------------------------------------------------------------------------------
# Rates


def counter_rate(previous: int | None, current: int | None, seconds: float) -> float:
    """Per-second rate of a cumulative counter; NaN when unknown or the counter was reset."""
    if previous is None or current is None or seconds <= 0 or current < previous:
        return NAN
    return (current - previous) / seconds


_IO_FIELDS = ("read_bytes", "write_bytes", "read_ops", "write_ops")


def _device_rates(
    previous: tuple[DeviceCounters, ...], current: tuple[DeviceCounters, ...], seconds: float
) -> tuple[float, float, float, float]:
    """Summed per-device rates; devices present in both samples only (hot-plug safe)."""
    before = {d.name: d for d in previous}
    sums = [NAN, NAN, NAN, NAN]
    for dev in current:
        old = before.get(dev.name)
        if old is None:
            continue
        for i, name in enumerate(_IO_FIELDS):
            rate = counter_rate(getattr(old, name), getattr(dev, name), seconds)
            if not math.isnan(rate):
                sums[i] = rate if math.isnan(sums[i]) else sums[i] + rate
    return sums[0], sums[1], sums[2], sums[3]


@dataclass(frozen=True, slots=True)
class GuestSample:
    """One guest's usage over one interval (NaN: unknown). Units as in :class:`GuestChannel`.

    Attributes:
        balloon: True when the guest reports its own memory use (balloon driver with stats).
    """

    uuid: str
    time: float
    cpu_percent: float = NAN
    cpu_host_percent: float = NAN
    memory_used_kib: float = NAN
    memory_total_kib: float = NAN
    rss_kib: float = NAN
    disk_read_bps: float = NAN
    disk_write_bps: float = NAN
    disk_read_iops: float = NAN
    disk_write_iops: float = NAN
    net_rx_bps: float = NAN
    net_tx_bps: float = NAN
    balloon: bool = False

    def row(self) -> tuple[float, ...]:
        """The values in :class:`GuestChannel` order (the fields after ``time``)."""
        return tuple(getattr(self, name) for name in _GUEST_FIELDS)


_GUEST_FIELDS = tuple(
    n for n in GuestSample.__dataclass_fields__ if n not in ("uuid", "time", "balloon")
)


def _opt(value: int | None) -> float:
    return NAN if value is None else float(value)


def guest_sample(
    previous: GuestCounters | None, current: GuestCounters, host_cpus: int, time: float
) -> GuestSample:
    """Rates between two snapshots of one guest, and its memory now.

    ``previous`` is ignored when it belongs to another run of the guest (domain id changed);
    then only the memory figures are known. CPU shares are clamped to 0-100 %.
    """
    if previous is not None and (
        previous.domain_id != current.domain_id or previous.uuid != current.uuid
    ):
        previous = None
    cpu = cpu_host = NAN
    disk = net = (NAN, NAN, NAN, NAN)
    if previous is not None:
        seconds = current.mono - previous.mono
        ns_per_s = counter_rate(previous.cpu_time_ns, current.cpu_time_ns, seconds)
        if not math.isnan(ns_per_s):
            if current.vcpus:
                cpu = min(100.0, ns_per_s / 1e7 / current.vcpus)
            if host_cpus > 0:
                cpu_host = min(100.0, ns_per_s / 1e7 / host_cpus)
        disk = _device_rates(previous.disks, current.disks, seconds)
        net = _device_rates(previous.nics, current.nics, seconds)
    available = current.memory_available_kib
    free = current.memory_usable_kib
    if free is None:
        free = current.memory_unused_kib
    balloon = available is not None and free is not None
    used = float(max(0, available - free)) if available is not None and free is not None else NAN
    total = _opt(available if available is not None else current.memory_current_kib)
    rss = _opt(current.rss_kib)
    return GuestSample(
        current.uuid, time, cpu, cpu_host, used, total, rss, *disk, net[0], net[1], balloon
    )


@dataclass(frozen=True, slots=True)
class HostSample:
    """A host's usage over one interval (NaN: unknown). Units as in :class:`HostChannel`."""

    time: float
    cpus: int
    cpu_percent: float = NAN
    guests_cpu_percent: float = NAN
    memory_used_kib: float = NAN
    memory_total_kib: float = NAN
    committed_memory_kib: float = NAN
    committed_vcpus: float = NAN

    def row(self) -> tuple[float, ...]:
        """The values in :class:`HostChannel` order."""
        return (*(getattr(self, name) for name in _HOST_FIELDS), float(self.cpus))


_HOST_FIELDS = tuple(n for n in HostSample.__dataclass_fields__ if n not in ("time", "cpus"))


def host_sample(
    previous: HostCounters | None,
    current: HostCounters,
    time: float,
    *,
    guests_cpu_percent: float = NAN,
    committed_memory_kib: float = NAN,
    committed_vcpus: float = NAN,
) -> HostSample:
    """The host's real CPU use between two snapshots and its memory now."""
    cpu = NAN
    if previous is not None:
        busy = counter_rate(previous.cpu_busy_ns, current.cpu_busy_ns, 1.0)
        total = counter_rate(previous.cpu_total_ns, current.cpu_total_ns, 1.0)
        if not math.isnan(busy) and not math.isnan(total) and total > 0:
            cpu = min(100.0, 100.0 * busy / total)
    used = NAN
    if current.memory_total_kib is not None and current.memory_free_kib is not None:
        used = float(max(0, current.memory_total_kib - current.memory_free_kib))
    total_kib = _opt(current.memory_total_kib)
    committed = (committed_memory_kib, committed_vcpus)
    return HostSample(time, current.cpus, cpu, guests_cpu_percent, used, total_kib, *committed)


# --------------------------------------------------------------------------------------------
# History


class RingBuffer:
    """A fixed number of timed rows in preallocated numpy arrays; the oldest row drops out.

    Times are float64 seconds (wall clock); each row's values are a float32 array of
    ``shape`` (channels, or slots x channels for a table of series sampled together).
    """

    def __init__(self, capacity: int, shape: int | tuple[int, ...]) -> None:
        shape = (shape,) if isinstance(shape, int) else shape
        if capacity < 1 or min(shape) < 1:
            raise ValueError("capacity and shape must be positive")
        self._times: FloatArray = np.zeros(capacity, dtype=np.float64)
        self._values: ValueArray = np.full((capacity, *shape), np.nan, dtype=np.float32)
        self._capacity = capacity
        self._next = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        """How many rows fit."""
        return self._capacity

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one row's values."""
        return tuple(self._values.shape[1:])

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return int(self._times.nbytes + self._values.nbytes)

    def append(self, time: float, row: Sequence[float] | npt.NDArray[np.floating[Any]]) -> None:
        """Add a row (times must not go backwards)."""
        i = self._next
        self._times[i] = time
        self._values[i] = row
        self._next = (i + 1) % self._capacity
        if self._size < self._capacity:
            self._size += 1

    def widen(self, slots: int) -> None:
        """Make room for ``slots`` along the second axis (new slots read NaN)."""
        capacity, old, *rest = self._values.shape
        if slots > old:
            values = np.full((capacity, slots, *rest), np.nan, dtype=np.float32)
            values[:, :old] = self._values
            self._values = values

    def clear(self, index: int) -> None:
        """Forget one slot's values (they read NaN)."""
        self._values[:, index] = np.nan

    def tail(self, count: int) -> ValueArray:
        """The newest ``count`` rows' values (at most all), oldest first, as a copy."""
        count = min(count, self._size)
        start = self._next - count
        if start >= 0:
            return self._values[start : self._next].copy()
        return np.concatenate((self._values[start:], self._values[: self._next]))

    def first_time(self) -> float:
        """The oldest row's time (NaN when empty)."""
        if not self._size:
            return NAN
        return float(self._times[(self._next - self._size) % self._capacity])

    def last(self, index: int | None = None) -> tuple[float, ValueArray] | None:
        """The newest row (of one slot if ``index`` is given), as a copy; None if empty."""
        if not self._size:
            return None
        i = (self._next - 1) % self._capacity
        values = self._values[i] if index is None else self._values[i, index]
        return float(self._times[i]), values.copy()

    def view(
        self, since: float = -math.inf, index: int | None = None
    ) -> tuple[FloatArray, ValueArray]:
        """Rows with time >= ``since`` (of one slot if ``index`` is given), oldest first, as
        copies. Only those rows are copied: the ring is two time-sorted runs (older rows
        after the write position, newer ones before it), each searched on its own."""
        values = self._values if index is None else self._values[:, index]
        if self._size < self._capacity:
            start = int(np.searchsorted(self._times[: self._size], since, side="left"))
            return self._times[start : self._size].copy(), values[start : self._size].copy()
        split = self._next
        newer = self._times[:split]
        if split and newer[0] < since:
            start = int(np.searchsorted(newer, since, side="left"))
            return self._times[start:split].copy(), values[start:split].copy()
        start = split + int(np.searchsorted(self._times[split:], since, side="left"))
        times = np.concatenate((self._times[start:], newer))
        return times, np.concatenate((values[start:], values[:split]))


class History:
    """Series sampled at the same moments (a host, or all guests of a host): recent rows at
    full rate plus coarse means for the last hour, in one numpy ring per tier.

    Each series owns a slot; a tick appends one row for all slots at once (absent series
    read NaN: a gap). Bounded: ``fine_points`` full-rate rows (10 min at 1 s) and
    ``span / step`` means of ``step`` seconds, computed from the full-rate rows when a step
    ends. :meth:`view` joins both: full rate where it still has it, means before that.
    """

    def __init__(
        self,
        channels: int,
        *,
        slots: int = 1,
        fine_points: int = FINE_POINTS,
        step: float = COARSE_STEP,
        span: float = HISTORY_SPAN,
    ) -> None:
        self.fine = RingBuffer(fine_points, (slots, channels))
        self.coarse = RingBuffer(math.ceil(span / step) + 2, (slots, channels))
        self._step = step
        self._bucket: int | None = None
        self._in_bucket = 0

    @property
    def channels(self) -> int:
        """Values per series and row."""
        return self.fine.shape[1]

    @property
    def slots(self) -> int:
        """How many series fit (see :meth:`widen`)."""
        return self.fine.shape[0]

    def __len__(self) -> int:
        return len(self.fine)

    def widen(self, slots: int) -> None:
        """Make room for at least ``slots`` series (grows by half at least, amortised)."""
        if slots > self.slots:
            slots = max(slots, self.slots + self.slots // 2)
            self.fine.widen(slots)
            self.coarse.widen(slots)

    def clear(self, slot: int) -> None:
        """Forget one series (its slot can be reused)."""
        self.fine.clear(slot)
        self.coarse.clear(slot)

    def append(
        self,
        time: float,
        rows: Sequence[float] | npt.NDArray[np.floating[Any]],
        slots: npt.NDArray[np.intp] | Sequence[int] | None = None,
    ) -> None:
        """Add one tick: ``rows[i]`` for slot ``slots[i]`` (others read NaN), or one row for
        a single-slot history (``slots`` None)."""
        if slots is None:
            block = np.asarray(rows, dtype=np.float32).reshape(self.fine.shape)
        else:
            block = np.full(self.fine.shape, np.nan, dtype=np.float32)
            block[np.asarray(slots, dtype=np.intp)] = rows
        bucket = math.floor(time / self._step)
        if bucket != self._bucket:
            self._flush()
            self._bucket = bucket
        self.fine.append(time, block)
        self._in_bucket += 1

    def break_line(self, time: float) -> None:
        """Mark a gap for every series (the host dropped): lines do not join across it."""
        self._flush()
        gap = np.full(self.fine.shape, np.nan, dtype=np.float32)
        self.fine.append(time, gap)
        self.coarse.append(time, gap)

    def _flush(self) -> None:
        """Close the current step: its mean (of the known values) goes to the coarse ring."""
        if self._bucket is not None and self._in_bucket:
            rows = self.fine.tail(self._in_bucket)
            known = np.isfinite(rows)
            count = known.sum(axis=0)
            total = np.where(known, rows, 0.0).sum(axis=0, dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            self.coarse.append((self._bucket + 0.5) * self._step, means)
        self._bucket = None
        self._in_bucket = 0

    def last(self, slot: int = 0) -> tuple[float, ValueArray] | None:
        """One series' newest full-rate row, or None."""
        return self.fine.last(slot)

    def last_time(self) -> float:
        """The newest row's time (NaN when empty)."""
        last = self.fine.last(0)
        return NAN if last is None else last[0]

    def view(
        self, seconds: float, now: float | None = None, slot: int = 0
    ) -> tuple[FloatArray, ValueArray]:
        """One series' rows of the last ``seconds`` before ``now`` (default: newest row)."""
        if now is None:
            now = self.last_time()
            if math.isnan(now):
                return self.fine.view(index=slot)
        since = now - seconds
        times, values = self.fine.view(since, slot)
        fine_start = self.fine.first_time()
        if len(self.coarse) and not math.isnan(fine_start) and fine_start > since:
            old_t, old_v = self.coarse.view(since, slot)
            keep = old_t < fine_start
            if keep.any():
                times = np.concatenate((old_t[keep], times))
                values = np.concatenate((old_v[keep], values))
        return times, values

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return self.fine.nbytes + self.coarse.nbytes


@dataclass(frozen=True, slots=True)
class SeriesView:
    """One series of a :class:`History` (a guest's slot in its host's table)."""

    table: History
    slot: int

    def __len__(self) -> int:
        return len(self.table)

    def view(self, seconds: float, now: float | None = None) -> tuple[FloatArray, ValueArray]:
        """The series' rows of the last ``seconds`` (see :meth:`History.view`)."""
        return self.table.view(seconds, now, self.slot)

    def last(self) -> tuple[float, ValueArray] | None:
        """The series' newest row, or None."""
        return self.table.last(self.slot)

    def last_time(self) -> float:
        """The newest row's time (NaN when empty)."""
        return self.table.last_time()
