"""Usage statistics: libvirt's counters turned into rates, one sample per guest and tick.

Pure: no numpy, no Qt and no libvirt. The virt layer turns libvirt answers into the counter
snapshots here (:class:`GuestCounters`, :class:`HostCounters`); two snapshots give a sample of
rates (:func:`guest_sample`, :func:`host_sample`), whose :meth:`~GuestSample.row` is one row of
a :class:`~vmgui.core.history.History` (columns: :class:`GuestChannel`, :class:`HostChannel`).

Honesty rules the maths follows:

* A counter that went down (the guest rebooted, was restored, or its QEMU restarted) gives no
  rate for that interval (NaN, a gap), never a negative or huge value; so does a changed
  domain id or a missing key.
* Waiting for a host CPU (``vcpu.N.delay``: ns a vCPU was runnable but not running, libvirt
  9+) is averaged over the vCPUs that report it, in ms per s (1000 = every vCPU waited the
  whole interval). A host that reports no delay gives NaN, never 0.
* Guest memory use comes only from the balloon driver (``balloon.available`` minus
  ``balloon.usable``/``unused``). Without one it is NaN and the host-side resident size
  (``balloon.rss``) is what can be shown, labelled as such.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

NAN = math.nan


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
    CPU_WAIT = 11  # ms per s a vCPU waited for a host CPU, averaged over its vCPUs (steal time)


class HostChannel(enum.IntEnum):
    """The columns of a host's history."""

    CPU = 0  # % of all host CPUs busy (the node's own counters)
    GUESTS_CPU = 1  # % of all host CPUs used by the guests
    MEMORY_USED = 2  # KiB (total - free - buffers - cached)
    MEMORY_TOTAL = 3  # KiB
    COMMITTED_MEMORY = 4  # KiB: current memory of the active guests
    COMMITTED_VCPUS = 5  # vCPUs of the active guests
    CPUS = 6  # the host's logical CPUs
    GUESTS_MEMORY = 7  # KiB resident on the host for the guests (sum of their QEMU RSS)


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
    vcpu_delays: tuple[tuple[int, int], ...] = ()  # (vCPU index, ns waited for a host CPU)

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
    """Read one ``getAllDomainStats`` record (groups state, cpu-total, balloon, vcpu, block,
    interface). Missing keys become None (a vCPU without ``vcpu.N.delay`` is left out);
    nothing is guessed."""
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
        _vcpu_delays(record),
    )


def _vcpu_delays(record: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    count = _int(record, "vcpu.maximum") or _int(record, "vcpu.current") or 0
    delays = []
    for i in range(count):
        delay = _int(record, f"vcpu.{i}.delay")
        if delay is not None:
            delays.append((i, delay))
    return tuple(delays)


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


def delay_rate(
    previous: tuple[tuple[int, int], ...], current: tuple[tuple[int, int], ...], seconds: float
) -> float:
    """ms per s the vCPUs waited for a host CPU, averaged over the vCPUs in both snapshots.

    NaN when no vCPU reports its delay in both, or when any vCPU's counter went down (a reset:
    the whole interval is a gap, never a partial average). Clamped to 0-1000.
    """
    before = dict(previous)
    rates = [counter_rate(before[i], ns, seconds) for i, ns in current if i in before]
    if not rates or any(math.isnan(r) for r in rates):
        return NAN
    return min(1000.0, sum(rates) / len(rates) / 1e6)


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
    cpu_wait_ms: float = NAN
    balloon: bool = False

    def row(self) -> tuple[float, ...]:
        """The values in :class:`GuestChannel` order (see :data:`GUEST_FIELDS`)."""
        values: tuple[float, ...] = _guest_row(self)
        return values


#: The :class:`GuestSample` field behind each channel: rows are built in channel order from
#: this map, never from the order the fields are declared in.
GUEST_FIELDS: Mapping[GuestChannel, str] = {
    GuestChannel.CPU: "cpu_percent",
    GuestChannel.CPU_HOST: "cpu_host_percent",
    GuestChannel.MEMORY_USED: "memory_used_kib",
    GuestChannel.MEMORY_TOTAL: "memory_total_kib",
    GuestChannel.RSS: "rss_kib",
    GuestChannel.DISK_READ: "disk_read_bps",
    GuestChannel.DISK_WRITE: "disk_write_bps",
    GuestChannel.DISK_READ_IOPS: "disk_read_iops",
    GuestChannel.DISK_WRITE_IOPS: "disk_write_iops",
    GuestChannel.NET_RX: "net_rx_bps",
    GuestChannel.NET_TX: "net_tx_bps",
    GuestChannel.CPU_WAIT: "cpu_wait_ms",
}
# A channel without a field fails here, at import.
_guest_row = attrgetter(*(GUEST_FIELDS[channel] for channel in GuestChannel))


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
    cpu = cpu_host = wait = NAN
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
        wait = delay_rate(previous.vcpu_delays, current.vcpu_delays, seconds)
    available = current.memory_available_kib
    free = current.memory_usable_kib
    if free is None:
        free = current.memory_unused_kib
    balloon = available is not None and free is not None
    used = float(max(0, available - free)) if available is not None and free is not None else NAN
    total = _opt(available if available is not None else current.memory_current_kib)
    rss = _opt(current.rss_kib)
    return GuestSample(
        current.uuid,
        time,
        cpu_percent=cpu,
        cpu_host_percent=cpu_host,
        memory_used_kib=used,
        memory_total_kib=total,
        rss_kib=rss,
        disk_read_bps=disk[0],
        disk_write_bps=disk[1],
        disk_read_iops=disk[2],
        disk_write_iops=disk[3],
        net_rx_bps=net[0],
        net_tx_bps=net[1],
        cpu_wait_ms=wait,
        balloon=balloon,
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
    guests_memory_kib: float = NAN

    def row(self) -> tuple[float, ...]:
        """The values in :class:`HostChannel` order (see :data:`HOST_FIELDS`)."""
        return tuple(float(value) for value in _host_row(self))


#: The :class:`HostSample` field behind each channel (as :data:`GUEST_FIELDS`).
HOST_FIELDS: Mapping[HostChannel, str] = {
    HostChannel.CPU: "cpu_percent",
    HostChannel.GUESTS_CPU: "guests_cpu_percent",
    HostChannel.MEMORY_USED: "memory_used_kib",
    HostChannel.MEMORY_TOTAL: "memory_total_kib",
    HostChannel.COMMITTED_MEMORY: "committed_memory_kib",
    HostChannel.COMMITTED_VCPUS: "committed_vcpus",
    HostChannel.CPUS: "cpus",
    HostChannel.GUESTS_MEMORY: "guests_memory_kib",
}
_host_row = attrgetter(*(HOST_FIELDS[channel] for channel in HostChannel))


def host_sample(
    previous: HostCounters | None,
    current: HostCounters,
    time: float,
    *,
    guests_cpu_percent: float = NAN,
    committed_memory_kib: float = NAN,
    committed_vcpus: float = NAN,
    guests_memory_kib: float = NAN,
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
    return HostSample(
        time,
        current.cpus,
        cpu_percent=cpu,
        guests_cpu_percent=guests_cpu_percent,
        memory_used_kib=used,
        memory_total_kib=_opt(current.memory_total_kib),
        committed_memory_kib=committed_memory_kib,
        committed_vcpus=committed_vcpus,
        guests_memory_kib=guests_memory_kib,
    )
