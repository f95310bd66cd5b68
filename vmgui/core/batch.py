"""Batch provisioning, the pure part: name patterns, the plan of N guests, its checks, its result.

A batch is N :class:`~vmgui.core.provisioning.ProvisionPlan` s made from one template plan:
each guest gets its name from a pattern (``web-{n}``: ``{n}`` counts from 1, unpadded), its own
cloud-init host name and instance id, and a host (several hosts may share a batch). The whole
plan is checked against what the hosts have (:func:`check_batch`) before anything is created;
the engine (:mod:`vmgui.virt.batch`) reports per guest and returns a :class:`BatchResult`.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from vmgui.core.cloudinit import guest_hostname
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import ExistingVolume, Progress, ProvisionPlan, ProvisionResult, Step
from vmgui.core.units import format_bytes, format_kib, plural
from vmgui.core.validation import (
    ValidationError,
    validate_guest_name,
    validate_memory_mib,
    validate_vcpus,
)
from vmgui.core.xml.domain import seed_volume_name

#: At most this many guests in one batch.
MAX_BATCH = 100
#: Pool space each guest needs at once: its seed and a fresh overlay's metadata, in bytes.
GUEST_HEADROOM = 2 << 20
#: The counter in a name pattern.
COUNTER = "{n}"

_BRACE = re.compile(r"[{}]")


# ----------------------------------------------------------------------------- names


def check_pattern(pattern: str, count: int = MAX_BATCH) -> str:
    """Check a name pattern: one or more ``{n}`` and no other brace; every name valid.

    Returns:
        The stripped pattern.

    Raises:
        ValidationError: a one-line message naming the rule broken.
    """
    pattern = pattern.strip()
    if COUNTER not in pattern:
        raise ValidationError("Name", "A batch's name pattern needs {n}, e.g. web-{n}.")
    stray = _BRACE.search(pattern.replace(COUNTER, ""))
    if stray is not None:
        raise ValidationError(
            "Name", f"The name pattern may hold only {{n}} in braces (a stray {stray.group()!r})."
        )
    for n in (1, max(count, 1)):  # the shortest and the longest name
        try:
            validate_guest_name(pattern.replace(COUNTER, str(n)))
        except ValidationError as exc:
            raise ValidationError("Name", f"{exc.message} (in the name pattern)") from None
    return pattern


def check_count(count: int) -> int:
    """Check a batch's size: 1 to :data:`MAX_BATCH`.

    Raises:
        ValidationError: out of range.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
        raise ValidationError("Count", f"A batch has 1 to {MAX_BATCH} guests (got {count!r}).")
    return count


def pattern_names(pattern: str, count: int) -> tuple[str, ...]:
    """The names a pattern gives: ``web-1 … web-N`` (checked).

    Raises:
        ValidationError: a bad pattern or count.
    """
    check_count(count)
    pattern = check_pattern(pattern, count)
    return tuple(pattern.replace(COUNTER, str(n)) for n in range(1, count + 1))


def preview_names(pattern: str, count: int) -> str:
    """The names for people: "web-1, web-2, web-3" or "web-1, web-2, … web-20".

    Raises:
        ValidationError: a bad pattern or count.
    """
    names = pattern_names(pattern, count)
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]}, {names[1]}, … {names[-1]}"


def batch_hostname(template: str, name: str) -> str:
    """A guest's host name in a batch: from its name, in the template host name's domain.

    ``("web.example.com", "web-3")`` gives "web-3.example.com"; ``("web", "web-3")`` "web-3".
    """
    _, dot, domain = template.partition(".")
    return f"{guest_hostname(name)}{dot}{domain}"


# ----------------------------------------------------------------------------- the plan


class GuestPhase(enum.Enum):
    """Where one guest of a batch stands."""

    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    ROLLED_BACK = "rolled back"
    NOT_MADE = "not made"

    @property
    def final(self) -> bool:
        """Whether the guest's run is over."""
        return self not in (GuestPhase.WAITING, GuestPhase.RUNNING)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One guest of a batch.

    Attributes:
        index: 1-based position in the batch.
        uri: the host it goes on.
        plan: what to make (its own name, host name and instance id).
    """

    index: int
    uri: str
    plan: ProvisionPlan

    @property
    def name(self) -> str:
        """The guest's name."""
        return self.plan.name


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """N guests over one or several hosts.

    Attributes:
        items: the guests, in order (``index`` 1..N).
        keep_finished: on a failure or cancel keep the guests already made (else all or none).
    """

    items: tuple[BatchItem, ...]
    keep_finished: bool = False

    @property
    def count(self) -> int:
        """How many guests."""
        return len(self.items)

    @property
    def uris(self) -> tuple[str, ...]:
        """The hosts, in the order their first guest appears."""
        return tuple(dict.fromkeys(item.uri for item in self.items))

    def on(self, uri: str) -> tuple[BatchItem, ...]:
        """The guests planned on ``uri``, in order."""
        return tuple(item for item in self.items if item.uri == uri)


def make_batch(
    template: ProvisionPlan,
    pattern: str,
    count: int,
    uris: str | Sequence[str],
    *,
    keep_finished: bool = False,
    token: Callable[[], str] = lambda: secrets.token_hex(4),
) -> BatchPlan:
    """The plan of ``count`` guests like ``template``, named by ``pattern``.

    Each guest's cloud-init (if the template has one) gets the guest's own host name (in the
    template host name's domain) and instance id ``iid-<name>-<batch token>``; a serial log
    file becomes ``<name>.log`` in the template log's folder.

    Args:
        template: what every guest is (its name is ignored).
        pattern: the name pattern, e.g. ``web-{n}``.
        count: how many guests.
        uris: one host for all, or each guest's host in order (``count`` of them).
        keep_finished: see :attr:`BatchPlan.keep_finished`.
        token: makes the batch's random part of the instance ids.

    Raises:
        ValidationError: a bad pattern or count, or not one host per guest.
    """
    names = pattern_names(pattern, count)
    hosts = (uris,) * count if isinstance(uris, str) else tuple(uris)
    if len(hosts) != count:
        raise ValidationError("Host", f"{plural(count, 'guest')} need {count} hosts assigned.")
    batch_id = token()
    items = []
    for index, (name, uri) in enumerate(zip(names, hosts, strict=True), start=1):
        config = template.cloud_init
        if config is not None:
            config = replace(
                config,
                hostname=batch_hostname(config.hostname, name),
                instance_id=f"iid-{name}-{batch_id}",
            )
        log = template.serial_log
        if log:
            log = str(PurePosixPath(log).with_name(f"{name}.log"))
        plan = replace(template, name=name, cloud_init=config, serial_log=log)
        items.append(BatchItem(index, uri, plan))
    return BatchPlan(tuple(items), keep_finished)


# ----------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class HostRoom:
    """What a host has for a batch (read in one call before anything is created).

    Attributes:
        label: the host's name for people.
        cpus: its logical CPUs.
        memory_kib: its memory.
        guest_names: the names of its guests.
        volumes: the volume names in the batch's pool (empty when the pool is missing).
        pool_available: the pool's free bytes (None when the pool does not exist yet).
    """

    label: str
    cpus: int
    memory_kib: int
    guest_names: frozenset[str]
    volumes: frozenset[str] = frozenset()
    pool_available: int | None = None


class BatchPlanError(VmguiError):
    """The batch does not fit; nothing was created.

    Attributes:
        problems: every problem found, one line each.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        more = f" (and {plural(len(problems) - 1, 'more problem')})" if len(problems) > 1 else ""
        shown = "; ".join(problems[1:11]) + ("; …" if len(problems) > 11 else "")
        super().__init__(
            f"The batch does not fit: {problems[0]}{more}",
            shown,
            "Nothing was created. Change the batch and try again.",
        )
        self.problems = tuple(problems)


def batch_problems(plan: BatchPlan, rooms: Mapping[str, HostRoom]) -> list[str]:
    """Everything that keeps ``plan`` (made by :func:`make_batch`: one template) from fitting
    its hosts; an empty list: it fits. See :func:`fit_problems`; also, no two guests may
    import one volume."""
    problems: list[str] = []
    if plan.count > 1 and any(isinstance(i.plan.source, ExistingVolume) for i in plan.items):
        problems.append("one existing volume cannot be the disk of several guests")
    if not plan.items:
        return [*problems, f"A batch has 1 to {MAX_BATCH} guests (got 0)."]
    first = plan.items[0].plan
    guests = [(item.name, item.uri) for item in plan.items]
    return problems + fit_problems(guests, first.vcpus, first.memory_mib, first.pool, rooms)


def fit_problems(
    guests: Sequence[tuple[str, str]],
    vcpus: int,
    memory_mib: int,
    pool: str,
    rooms: Mapping[str, HostRoom],
) -> list[str]:
    """What keeps ``guests`` (name, host URI) of one size from fitting their hosts.

    Checks the count, each name (valid, unique in the batch, free on its host, no volume of
    that name in the pool), the vCPUs and memory of a guest against each host, and all the
    memory the batch puts on each host.
    """
    try:
        check_count(len(guests))
    except ValidationError as exc:
        return [exc.message]
    problems: list[str] = []
    seen: set[str] = set()
    for name, uri in guests:
        room = rooms[uri]
        try:
            validate_guest_name(name)
        except ValidationError as exc:
            problems.append(f"{name}: {exc.message}")
            continue
        if name in seen:
            problems.append(f"{name} appears twice in the batch")
        seen.add(name)
        if name in room.guest_names:
            problems.append(f"a guest named {name} already exists on {room.label}")
        taken = [v for v in (f"{name}.qcow2", seed_volume_name(name)) if v in room.volumes]
        if taken:
            problems.append(f"pool {pool!r} on {room.label} already has {taken[0]}")
    for uri in dict.fromkeys(uri for _name, uri in guests):
        room, count = rooms[uri], sum(1 for _name, u in guests if u == uri)
        try:
            validate_vcpus(vcpus, host_cpus=room.cpus)
            validate_memory_mib(memory_mib, room.memory_kib)
        except ValidationError as exc:
            problems.append(f"{room.label}: {exc.message}")
        memory_kib = count * memory_mib * 1024
        if count > 1 and memory_kib > room.memory_kib:
            problems.append(
                f"{plural(count, 'guest')} need {format_kib(memory_kib)} of memory; "
                f"{room.label} has {format_kib(room.memory_kib)}"
            )
    return problems


def check_batch(plan: BatchPlan, rooms: Mapping[str, HostRoom]) -> None:
    """Refuse a plan that does not fit (see :func:`batch_problems`).

    Raises:
        BatchPlanError: one line naming the first problem; the details list the others.
    """
    problems = batch_problems(plan, rooms)
    if problems:
        raise BatchPlanError(problems)


def pool_shortfall(available: int, guests: int, base_bytes: int) -> str:
    """Why a pool cannot take ``guests`` overlays and seeds (plus a base image), or "".

    Args:
        available: the pool's free bytes.
        guests: how many guests go into it.
        base_bytes: the base image's size if it must be uploaded, else 0.
    """
    need = guests * GUEST_HEADROOM + base_bytes
    if available >= need:
        return ""
    return (
        f"{format_bytes(available)} free, {format_bytes(need)} needed for "
        f"{plural(guests, 'guest')}' seeds and new disks"
        + (f" and the base image ({format_bytes(base_bytes)})" if base_bytes else "")
    )


# ----------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """One report of a batch run (on the loop's thread).

    Attributes:
        index: the guest (1..N), or 0 for a step the guests share (download, pool, upload).
        uri: the guest's host, or the host of a shared step ("" for the download).
        phase: the guest's phase (a shared step reports RUNNING, then FINISHED).
        step: the running step, or None once the guest's run is over.
        progress: the engine's report within the step, if any.
        message: what happened, for a final phase ("" otherwise).
    """

    index: int
    uri: str
    phase: GuestPhase
    step: Step | None = None
    progress: Progress | None = None
    message: str = ""


BatchProgressCallback = Callable[[BatchProgress], None]


@dataclass(frozen=True, slots=True)
class GuestOutcome:
    """How one guest of a batch ended.

    Attributes:
        item: the planned guest.
        phase: FINISHED (it exists), FAILED, ROLLED_BACK (made or begun, then removed) or
            NOT_MADE (never begun).
        result: what was made (FINISHED, and ROLLED_BACK guests that had finished).
        step: where it failed (FAILED).
        error: why it failed (FAILED), one line.
    """

    item: BatchItem
    phase: GuestPhase
    result: ProvisionResult | None = None
    step: Step | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch run made.

    Attributes:
        guests: every planned guest's outcome, in order.
        keep_finished: the plan's choice.
        cancelled: the run was cancelled.
        failure: the first failure (a FAILED guest's, or a shared step's), one line, or "".
        shared_seconds: the wall time of the steps the guests share (validate, download,
            pool, upload), by step.
        seconds: the whole run's wall time.
        left_behind: what the rollbacks could not remove.
    """

    guests: tuple[GuestOutcome, ...]
    keep_finished: bool
    cancelled: bool = False
    failure: str = ""
    shared_seconds: Mapping[Step, float] = field(default_factory=dict)
    seconds: float = 0.0
    left_behind: tuple[str, ...] = ()

    @property
    def made(self) -> tuple[ProvisionResult, ...]:
        """The guests that exist after the run."""
        return tuple(g.result for g in self.guests if g.phase is GuestPhase.FINISHED and g.result)

    @property
    def ok(self) -> bool:
        """Every guest was made."""
        return len(self.made) == len(self.guests)

    def summary(self) -> str:
        """One line: "20 guests made on HOST", or what failed and what was kept or removed."""
        count, made = len(self.guests), len(self.made)
        if self.ok:
            hosts = ", ".join(dict.fromkeys(g.item.uri for g in self.guests))
            return f"{plural(count, 'guest')} made on {hosts}"
        what = "cancelled" if self.cancelled else self.failure or "failed"
        if all(g.phase is GuestPhase.NOT_MADE for g in self.guests):
            return f"{what}; nothing was created" if self.cancelled else what
        if made:
            kept = f"the {made} finished guest{'s were' if made != 1 else ' was'} kept"
            return f"{made} of {count} made; {what}; {kept}"
        removed = "nothing was left behind" if not self.left_behind else "clean-up incomplete"
        return f"0 of {count} made; {what}; every guest this run made was removed ({removed})"


class BatchError(VmguiError):
    """A batch run failed; :attr:`result` says which guest, where, and what is left.

    Attributes:
        result: the outcome of every guest.
    """

    def __init__(self, result: BatchResult, details: str = "", hint: str = "") -> None:
        super().__init__(result.summary(), details, hint)
        self.result = result
