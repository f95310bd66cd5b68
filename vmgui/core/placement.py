"""Placement advice: which connected host should take the planned guest(s), and why.

Pure: the virt layer gathers each host's :class:`HostFacts` (the CLI samples its guests for a
few seconds; the wizard reads the stats engine's history) and :func:`rank` orders the hosts,
best first, each with a one-line reason. :func:`spread` assigns a batch over the hosts.

A host's real use is what *its own* guests were measured to use (their share of the host's
CPUs, their resident memory): two libvirt hosts on one machine report the same node figures,
so the node's own CPU counters say nothing about which of them is busy. The node's available
memory, where the host reports it, still caps what a host can give: the machine has no more.

The score (0 to 100, higher is better) weighs memory left after placing the guest(s) (40), the
guests' CPU idle share (30), how little is committed (vCPUs and memory of running and
autostart guests against the host's CPUs and memory; 20), KVM (5) and the base image already
in the pool (5). With equal real headroom the less-committed host therefore ranks first; exact
ties are broken by URI, never by the order the hosts were given in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vmgui.core.units import format_bytes, format_kib, plural

GIB = 1 << 30
NAN = math.nan

#: Weights of the score's parts (they add up to 100).
MEMORY_WEIGHT = 40.0
CPU_WEIGHT = 30.0
COMMIT_WEIGHT = 20.0
KVM_WEIGHT = 5.0
IMAGE_WEIGHT = 5.0
#: The CPU part when a host's guests' CPU use was not measured (neither idle nor busy).
UNKNOWN_CPU_IDLE = 0.5


class SpreadError(ValueError):
    """The guests of a batch do not fit on the hosts together (the message is one line)."""


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What placement knows of one host.

    Attributes:
        uri: the host's URI, exactly as given.
        cpus: the host's logical CPUs (0: unknown).
        memory_total_kib: the host's memory.
        memory_available_kib: the node's available memory now (free + buffers + cached; NaN
            where the host does not report it).
        guests_cpu_percent: this host's guests' mean share of all its CPUs over
            ``window_seconds`` (NaN: not measured).
        guests_memory_kib: memory resident on the host for this host's running guests now
            (NaN: not measured).
        window_seconds: what ``guests_cpu_percent`` covers.
        active_memory_kib: current memory of the running guests (what they may touch: stands
            in for the resident figure when that was not measured).
        committed_vcpus: vCPUs of the running and autostart guests.
        committed_memory_kib: memory of the running and autostart guests.
        pool: the storage pool the new disks would go to ("" when the host has none).
        pool_free_bytes: its free space (None: no such pool, or it is not running).
        pool_startable: the pool is not running but provisioning would start it (defined,
            inactive), or create it (the missing ``default`` pool): its space is unknown until
            then, so it does not count against the host.
        kvm: whether the host offers KVM (None: unknown).
        image_present: whether the base image is already in the pool (None: no image asked).
        error: why the host could not be read ("" when it was).
    """

    uri: str
    cpus: int = 0
    memory_total_kib: float = 0.0
    memory_available_kib: float = NAN
    guests_cpu_percent: float = NAN
    guests_memory_kib: float = NAN
    window_seconds: float = 0.0
    active_memory_kib: float = 0.0
    committed_vcpus: int = 0
    committed_memory_kib: float = 0.0
    pool: str = ""
    pool_free_bytes: int | None = None
    pool_startable: bool = False
    kvm: bool | None = None
    image_present: bool | None = None
    error: str = ""

    @classmethod
    def unreachable(cls, uri: str, reason: str) -> HostFacts:
        """A host that could not be read, with why (one line)."""
        return cls(uri, error=" ".join(reason.split()) or "the host could not be read")

    @property
    def memory_free_kib(self) -> float:
        """Memory a new guest can have now: the host's memory less what its own guests hold
        (resident, else their current memory), capped by the node's available memory."""
        used = self.guests_memory_kib
        if not math.isfinite(used):
            used = self.active_memory_kib
        free = max(0.0, self.memory_total_kib - used)
        if math.isfinite(self.memory_available_kib):
            free = min(free, max(0.0, self.memory_available_kib))
        return free

    @property
    def cpu_idle(self) -> float:
        """The share of the host's CPUs its guests left idle (0 to 1; NaN: not measured)."""
        if not math.isfinite(self.guests_cpu_percent):
            return NAN
        return min(1.0, max(0.0, 1.0 - self.guests_cpu_percent / 100.0))


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """The planned guest(s).

    Attributes:
        vcpus: vCPUs per guest.
        memory_mib: memory per guest.
        disk_gib: disk per guest (None: the image's size, ``image_disk_bytes``).
        count: how many guests.
        image_disk_bytes: the image's virtual size (0: unknown or no image).
        image_file_bytes: what uploading the image takes in a pool that lacks it (0: nothing).

    Raises:
        ValueError: a count, vCPU number or memory size below 1, or a negative disk.
    """

    vcpus: int
    memory_mib: int
    disk_gib: float | None = None
    count: int = 1
    image_disk_bytes: int = 0
    image_file_bytes: int = 0

    def __post_init__(self) -> None:
        if self.vcpus < 1 or self.memory_mib < 1 or self.count < 1:
            raise ValueError("vCPUs, memory and count must be at least 1")
        if self.disk_gib is not None and self.disk_gib < 0:
            raise ValueError("the disk size must not be negative")

    @property
    def disk_bytes(self) -> int:
        """Each guest's disk."""
        if self.disk_gib is None:
            return self.image_disk_bytes
        return int(self.disk_gib * GIB)

    @property
    def memory_kib(self) -> int:
        """Each guest's memory (KiB)."""
        return self.memory_mib * 1024


@dataclass(frozen=True, slots=True)
class Placement:
    """One host's answer.

    Attributes:
        uri: the host's URI, exactly as given.
        fits: whether all ``count`` guests of the request fit on it.
        score: how good a choice it is (0 to 100; 0 when it does not fit).
        reason: why, in one line.
        capacity: how many guests of the request it could take on its own.
        facts: what the answer was made from.
    """

    uri: str
    fits: bool
    score: float
    reason: str
    capacity: int = 0
    facts: HostFacts | None = field(default=None, repr=False, compare=False)


def rank(hosts: list[HostFacts], request: PlacementRequest) -> list[Placement]:
    """Every host's placement, best first (fitting hosts first, then by score, then by how
    little is committed, then by URI)."""
    placed = [(_place(facts, request), facts) for facts in hosts]
    placed.sort(
        key=lambda pair: (
            not pair[0].fits,
            -_score(pair[1], request, request.count) if pair[0].fits else 0.0,
            _commit_load(pair[1], request, request.count),
            pair[0].uri,
        )
    )
    return [placement for placement, _facts in placed]


def spread(ranking: list[Placement], request: PlacementRequest) -> tuple[str, ...]:
    """The host of each of the request's ``count`` guests, in order.

    Greedy: each guest goes to the host that would score best with it added (the most
    remaining headroom), among the hosts with room left; ties go to the better-ranked host.

    Raises:
        SpreadError: the hosts cannot take all the guests together.
    """
    hosts = [p for p in ranking if p.capacity > 0 and p.facts is not None]
    taken = dict.fromkeys((p.uri for p in hosts), 0)
    assignment: list[str] = []
    for _guest in range(request.count):
        best: Placement | None = None
        best_score = -math.inf
        for p in hosts:
            if taken[p.uri] >= p.capacity:
                continue
            assert p.facts is not None
            score = _score(p.facts, request, taken[p.uri] + 1)
            if score > best_score:
                best, best_score = p, score
        if best is None:
            room = sum(p.capacity for p in hosts)
            parts = ", ".join(f"{p.uri}: {p.capacity}" for p in hosts)
            where = f" ({parts})" if parts else ""
            raise SpreadError(
                f"{plural(request.count, 'guest')} do not fit on the hosts together: "
                f"room for {room}{where}"
            )
        taken[best.uri] += 1
        assignment.append(best.uri)
    return tuple(assignment)


# -- one host ---------------------------------------------------------------------------------


def _place(facts: HostFacts, request: PlacementRequest) -> Placement:
    capacity, blocker = _capacity(facts, request)
    if capacity < request.count:
        if blocker and capacity > 0:
            blocker += f" (room for {capacity} of {request.count})"
        return Placement(facts.uri, False, 0.0, blocker, capacity, facts)
    score = round(_score(facts, request, request.count), 1)
    return Placement(facts.uri, True, score, _fit_reason(facts, request), capacity, facts)


def _capacity(facts: HostFacts, request: PlacementRequest) -> tuple[int, str]:
    """How many guests fit, and (when not all do) what stops them, in one line."""
    if facts.error:
        return 0, facts.error
    count = request.count
    if facts.cpus and request.vcpus > facts.cpus:
        return 0, f"needs {plural(request.vcpus, 'vCPU')}, the host has {plural(facts.cpus, 'CPU')}"
    free = facts.memory_free_kib
    limits = [
        (
            int(free // request.memory_kib),
            f"needs {format_kib(count * request.memory_kib)}, {format_kib(free)} available",
        )
    ]
    disk = request.disk_bytes
    upload = 0 if facts.image_present else request.image_file_bytes
    if (disk or upload) and facts.pool_free_bytes is None and not facts.pool_startable:
        name = f" {facts.pool}" if facts.pool else ""
        return 0, f"no running storage pool{name}"
    if (disk or upload) and facts.pool_free_bytes is not None:
        room = facts.pool_free_bytes - upload
        fits_disks = (room // disk if disk else count) if room >= 0 else 0
        limits.append(
            (
                int(fits_disks),
                f"needs {format_bytes(count * disk + upload)} in pool {facts.pool}, "
                f"{format_bytes(facts.pool_free_bytes)} free",
            )
        )
    capacity = min(limit for limit, _why in limits)
    reason = next((why for limit, why in limits if limit < count), "")
    return capacity, reason


def _score(facts: HostFacts, request: PlacementRequest, guests: int) -> float:
    """The score with ``guests`` guests of the request placed on the host."""
    total = facts.memory_total_kib
    left = facts.memory_free_kib - guests * request.memory_kib
    memory = min(1.0, max(0.0, left / total)) if total > 0 else 0.0
    idle = facts.cpu_idle
    cpu = UNKNOWN_CPU_IDLE if math.isnan(idle) else idle
    commit = 1.0 / (1.0 + _commit_load(facts, request, guests))
    kvm = 0.5 if facts.kvm is None else float(facts.kvm)
    image = 1.0 if facts.image_present else 0.0
    return (
        MEMORY_WEIGHT * memory
        + CPU_WEIGHT * cpu
        + COMMIT_WEIGHT * commit
        + KVM_WEIGHT * kvm
        + IMAGE_WEIGHT * image
    )


def _commit_load(facts: HostFacts, request: PlacementRequest, guests: int) -> float:
    """The mean of committed vCPUs per CPU and committed memory per memory, with ``guests``
    guests of the request added."""
    vcpus = (facts.committed_vcpus + guests * request.vcpus) / max(1, facts.cpus)
    memory = (facts.committed_memory_kib + guests * request.memory_kib) / max(
        1.0, facts.memory_total_kib
    )
    return (vcpus + memory) / 2


def _fit_reason(facts: HostFacts, request: PlacementRequest) -> str:
    parts = [f"{format_kib(facts.memory_free_kib)} free"]
    idle = facts.cpu_idle
    if math.isnan(idle):
        parts.append("CPU use not measured")
    else:
        parts.append(f"CPU {idle * 100:.0f} % idle{_over(facts.window_seconds)}")
    if facts.cpus:
        parts.append(f"{facts.committed_vcpus}/{facts.cpus} vCPUs committed")
    if (request.disk_bytes or request.image_file_bytes) and facts.pool_free_bytes is not None:
        parts.append(f"{format_bytes(facts.pool_free_bytes)} free in pool {facts.pool}")
    elif facts.pool_startable:
        parts.append(f"pool {facts.pool} not running yet (its space is checked when it starts)")
    if facts.image_present is not None:
        parts.append("image present" if facts.image_present else "image to upload")
    if facts.kvm is False:
        parts.append("no KVM (emulated)")
    return ", ".join(parts)


def _over(seconds: float) -> str:
    """ " over 10 min", " over 3 s", or "" for a single sample."""
    if seconds < 1:
        return ""
    if seconds >= 90:
        return f" over {seconds / 60:.0f} min"
    return f" over {seconds:.0f} s"
