"""Per-guest resource limits: what libvirt's numbers mean, and which changes are allowed.

Pure rules (no libvirt calls). The virt layer (:mod:`vmgui.virt.limits`) reads libvirt's raw
integers into :class:`GuestLimits`, checks a :class:`LimitChange` with :func:`check_change` and
applies it.

Units are libvirt's throughout: bytes/s and IOPS for disks (``setBlockIoTune``), KiB/s for NIC
averages (``setInterfaceParameters``), KiB for memory (``setMemoryParameters``), µs for the CPU
period and quota (``setSchedulerParametersFlags``). 0 means "no limit" in every field of this
module; libvirt's own spelling of it (-1 quotas, ``VIR_DOMAIN_MEMORY_PARAM_UNLIMITED``, unset
config values) is translated at the edge.

The CPU cap is given in % of one host CPU for the whole guest and enforced per vCPU: libvirt's
``vcpu_quota`` applies to each vCPU thread, so a cap of C % on a guest with N vCPUs is
``vcpu_quota = C / N % of vcpu_period`` for each of them (:func:`quota_for_cap`). A 20 % cap on a
1-vCPU guest is ``vcpu_quota=20000`` at ``vcpu_period=100000``; on 2 vCPUs it is 10000 each. The
guest can then never use more than C % in total, and one busy vCPU of several gets at most its
share (C / N %): the price of a per-vCPU quota.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from vmgui.core.units import format_kib
from vmgui.core.validation import ValidationError

#: ``vcpu_period`` vmgui sets with every cap (µs).
CPU_PERIOD_US = 100_000
#: The smallest ``vcpu_quota`` libvirt accepts (µs).
MIN_QUOTA_US = 1_000
#: cgroup v1 ``cpu.shares`` bounds (libvirt refuses others) and the kernel's default.
MIN_WEIGHT, MAX_WEIGHT, DEFAULT_WEIGHT = 2, 262_144, 1024
#: libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (KiB): "no memory limit".
MEMORY_UNLIMITED_KIB = 9_007_199_254_740_991
#: Interface types whose bandwidth libvirt can shape (they have a host-side device).
SHAPEABLE_NIC_TYPES = frozenset({"network", "bridge", "direct", "ethernet"})


class Scope(enum.Flag):
    """Where a change applies: the running guest, its persistent definition, or both."""

    LIVE = enum.auto()
    CONFIG = enum.auto()


def scope_label(scope: Scope) -> str:
    """ "live", "config" or "live + config"."""
    parts = [
        name for flag, name in ((Scope.LIVE, "live"), (Scope.CONFIG, "config")) if flag in scope
    ]
    return " + ".join(parts) or "nothing"


@dataclass(frozen=True, slots=True)
class DiskLimits:
    """One disk's I/O limits (0 = none).

    Attributes:
        target: the guest device, e.g. "vda".
        read_bps: read bytes/s.
        write_bps: write bytes/s.
        read_iops: read operations/s.
        write_iops: write operations/s.
    """

    target: str
    read_bps: int = 0
    write_bps: int = 0
    read_iops: int = 0
    write_iops: int = 0


@dataclass(frozen=True, slots=True)
class NicLimits:
    """One NIC's bandwidth limits (0 = none).

    Attributes:
        mac: its MAC address (the selector).
        type: the ``<interface type>``, e.g. "network", "user".
        inbound_kib: average inbound KiB/s (traffic to the guest).
        outbound_kib: average outbound KiB/s (traffic from the guest).
        unsupported: why its bandwidth cannot be limited, or "" when it can.
    """

    mac: str
    type: str
    inbound_kib: int = 0
    outbound_kib: int = 0
    unsupported: str = ""


def nic_unsupported_reason(nic_type: str) -> str:
    """Why libvirt cannot shape a NIC of ``nic_type`` ("" when it can)."""
    if nic_type in SHAPEABLE_NIC_TYPES:
        return ""
    if nic_type == "user":
        return (
            "user-mode networking (<interface type='user'>) has no host-side device to shape; "
            "attach the guest to a virtual network or bridge to limit it"
        )
    return f"libvirt cannot limit the bandwidth of <interface type='{nic_type}'>"


@dataclass(frozen=True, slots=True)
class GuestLimits:
    """A guest's limits in one scope (live or config), libvirt's integers made uniform.

    Attributes:
        vcpus: the guest's vCPUs (the cap is split over them).
        cpu_weight: ``cpu_shares`` (0 = the default).
        vcpu_period_us: libvirt's ``vcpu_period`` (0 = unset).
        vcpu_quota_us: libvirt's ``vcpu_quota`` per vCPU (0 = no cap; libvirt's -1 reads 0).
        memory_hard_limit_kib: the hard limit (0 = none).
        memory_soft_limit_kib: the soft limit (0 = none).
        disks: every disk's I/O limits.
        nics: every NIC's bandwidth limits.
        cpu_unavailable: why the host can neither read nor set the CPU weight and cap (its
            cgroup ``cpu`` controller is missing), or "" (the CPU fields then read 0).
        memory_unavailable: the same for the memory limits (cgroup ``memory``).
    """

    vcpus: int
    cpu_weight: int = 0
    vcpu_period_us: int = 0
    vcpu_quota_us: int = 0
    memory_hard_limit_kib: int = 0
    memory_soft_limit_kib: int = 0
    disks: tuple[DiskLimits, ...] = ()
    nics: tuple[NicLimits, ...] = ()
    cpu_unavailable: str = ""
    memory_unavailable: str = ""

    @property
    def cpu_cap_percent(self) -> float:
        """The cap in % of one host CPU for the whole guest (0.0 = none)."""
        return cap_for_quota(self.vcpu_quota_us, self.vcpu_period_us, self.vcpus)

    def disk(self, target: str) -> DiskLimits | None:
        """The limits of disk ``target``, or None."""
        return next((d for d in self.disks if d.target == target), None)

    def nic(self, mac: str) -> NicLimits | None:
        """The limits of the NIC with ``mac`` (case-insensitive), or None."""
        return next((n for n in self.nics if n.mac.lower() == mac.lower()), None)


@dataclass(frozen=True, slots=True)
class LimitsView:
    """A guest's limits as the Limits tab and ``vmgui-cli limits`` show them.

    Attributes:
        name: the guest's name.
        uuid: its UUID.
        running: whether it runs (live limits exist).
        persistent: whether it has a persistent definition (config limits exist).
        live: the running guest's limits, or None when it is shut off.
        config: the persistent definition's limits, or None for a transient guest.
        memory_used_kib: what the guest's process uses (RSS), or 0 when unknown.
    """

    name: str
    uuid: str
    running: bool
    persistent: bool
    live: GuestLimits | None
    config: GuestLimits | None
    memory_used_kib: int = 0

    @property
    def current(self) -> GuestLimits:
        """The limits in force: live when running, else the config."""
        limits = self.live if self.live is not None else self.config
        assert limits is not None, "a guest is running or persistent"
        return limits

    @property
    def default_scope(self) -> Scope:
        """Where a change goes without ``--live``/``--config``: both where possible."""
        scope = Scope(0)
        if self.running:
            scope |= Scope.LIVE
        if self.persistent:
            scope |= Scope.CONFIG
        return scope


@dataclass(frozen=True, slots=True)
class LimitChange:
    """What to change (None = leave as is; 0 lifts a limit).

    Attributes:
        cpu_weight: ``cpu_shares`` (0 = back to the default).
        cpu_cap_percent: the cap in % of one host CPU for the whole guest.
        memory_hard_limit_kib: hard limit, KiB.
        memory_soft_limit_kib: soft limit, KiB.
        disk_read_bps: read bytes/s for each selected disk.
        disk_write_bps: write bytes/s.
        disk_read_iops: read IOPS.
        disk_write_iops: write IOPS.
        net_in_kib: inbound KiB/s for each selected NIC.
        net_out_kib: outbound KiB/s.
        disks: the disks to change (empty = every writable disk).
        nics: the NICs' MACs to change (empty = every NIC).
    """

    cpu_weight: int | None = None
    cpu_cap_percent: float | None = None
    memory_hard_limit_kib: int | None = None
    memory_soft_limit_kib: int | None = None
    disk_read_bps: int | None = None
    disk_write_bps: int | None = None
    disk_read_iops: int | None = None
    disk_write_iops: int | None = None
    net_in_kib: int | None = None
    net_out_kib: int | None = None
    disks: tuple[str, ...] = ()
    nics: tuple[str, ...] = ()

    @property
    def touches_disks(self) -> bool:
        """Whether a disk limit changes."""
        values = (
            self.disk_read_bps,
            self.disk_write_bps,
            self.disk_read_iops,
            self.disk_write_iops,
        )
        return any(v is not None for v in values)

    @property
    def touches_nics(self) -> bool:
        """Whether a NIC limit changes."""
        return self.net_in_kib is not None or self.net_out_kib is not None

    @property
    def is_empty(self) -> bool:
        """Whether nothing changes."""
        return not (
            self.touches_disks
            or self.touches_nics
            or self.cpu_weight is not None
            or self.cpu_cap_percent is not None
            or self.memory_hard_limit_kib is not None
            or self.memory_soft_limit_kib is not None
        )


@dataclass(frozen=True, slots=True)
class LimitPlan:
    """A checked change: where it goes, which devices, and what the user should know.

    Attributes:
        change: the change.
        scope: where it applies.
        disks: the disk targets it changes.
        nics: the NIC MACs it changes.
        vcpu_quota_us: the quota per vCPU for the cap (0 = lift), or None if unchanged.
        warnings: allowed but risky, e.g. a hard limit below what the guest uses now.
    """

    change: LimitChange
    scope: Scope
    disks: tuple[str, ...]
    nics: tuple[str, ...]
    vcpu_quota_us: int | None
    warnings: tuple[str, ...] = ()


def quota_for_cap(cap_percent: float, vcpus: int) -> int:
    """The ``vcpu_quota`` (µs per :data:`CPU_PERIOD_US`) of each vCPU for a whole-guest cap.

    0 lifts the cap (returns 0). Example: 20 % on 1 vCPU -> 20000; on 2 vCPUs -> 10000.
    """
    if cap_percent <= 0:
        return 0
    return round(cap_percent / 100 * CPU_PERIOD_US / max(1, vcpus))


def cap_for_quota(quota_us: int, period_us: int, vcpus: int) -> float:
    """The whole-guest cap in % of one host CPU that a per-vCPU quota means (0.0 = none)."""
    if quota_us <= 0 or period_us <= 0:
        return 0.0
    return quota_us / period_us * 100 * max(1, vcpus)


def _non_negative(field: str, value: float | None) -> None:
    if value is not None and value < 0:
        raise ValidationError(field, f"{field} must not be negative (got {value:g}).")


def check_change(view: LimitsView, change: LimitChange, scope: Scope | None = None) -> LimitPlan:
    """Check ``change`` against the guest; say where it goes and what to warn about.

    Args:
        view: the guest's current limits.
        change: what to change.
        scope: where to apply it; None = :attr:`LimitsView.default_scope`.

    Raises:
        ValidationError: a negative value, a cap above the guest's vCPUs (or too small to
            split), a weight out of range, an unknown disk or NIC, a NIC whose bandwidth
            libvirt cannot shape, live on a shut-off guest, config on a transient one.
    """
    if change.is_empty:
        raise ValidationError("Limits", "Nothing to change: give at least one limit.")
    if scope is None:
        scope = view.default_scope
    if Scope.LIVE in scope and not view.running:
        raise ValidationError(
            "Scope", f"{view.name} is shut off: it has no live limits (use --config, or start it)."
        )
    if Scope.CONFIG in scope and not view.persistent:
        raise ValidationError(
            "Scope", f"{view.name} is transient: it has no persistent config (use --live)."
        )
    fields = {
        "CPU weight": change.cpu_weight,
        "CPU cap": change.cpu_cap_percent,
        "Memory hard limit": change.memory_hard_limit_kib,
        "Memory soft limit": change.memory_soft_limit_kib,
        "Disk read bytes/s": change.disk_read_bps,
        "Disk write bytes/s": change.disk_write_bps,
        "Disk read IOPS": change.disk_read_iops,
        "Disk write IOPS": change.disk_write_iops,
        "Inbound KiB/s": change.net_in_kib,
        "Outbound KiB/s": change.net_out_kib,
    }
    for field, value in fields.items():
        _non_negative(field, value)
    current = view.current
    _check_available(current, change)
    weight = change.cpu_weight
    if weight and not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise ValidationError(
            "CPU weight",
            f"CPU weight must be 0 (the default) or {MIN_WEIGHT} to {MAX_WEIGHT} (got {weight}).",
        )
    quota = None
    if change.cpu_cap_percent is not None:
        quota = _check_cap(change.cpu_cap_percent, current.vcpus)
    disks = _select_disks(current, change) if change.touches_disks else ()
    nics = _select_nics(current, change) if change.touches_nics else ()
    return LimitPlan(change, scope, disks, nics, quota, tuple(_warnings(view, change)))


def _check_available(current: GuestLimits, change: LimitChange) -> None:
    if current.cpu_unavailable and (
        change.cpu_weight is not None or change.cpu_cap_percent is not None
    ):
        raise ValidationError("CPU", f"CPU limits cannot be set: {current.cpu_unavailable}.")
    if current.memory_unavailable and (
        change.memory_hard_limit_kib is not None or change.memory_soft_limit_kib is not None
    ):
        raise ValidationError(
            "Memory", f"Memory limits cannot be set: {current.memory_unavailable}."
        )


def _check_cap(cap: float, vcpus: int) -> int:
    if cap > 100 * vcpus:
        raise ValidationError(
            "CPU cap",
            f"CPU cap {cap:g} % is above what the guest's {vcpus} vCPU(s) can use "
            f"(at most {100 * vcpus} %).",
        )
    quota = quota_for_cap(cap, vcpus)
    if cap and quota < MIN_QUOTA_US:
        smallest = MIN_QUOTA_US * vcpus / CPU_PERIOD_US * 100
        raise ValidationError(
            "CPU cap",
            f"CPU cap {cap:g} % is too small to split over {vcpus} vCPU(s) "
            f"(at least {smallest:g} %).",
        )
    return quota


def _select_disks(current: GuestLimits, change: LimitChange) -> tuple[str, ...]:
    known = [d.target for d in current.disks]
    if not change.disks:
        if not known:
            raise ValidationError("Disk", "The guest has no writable disk to limit.")
        return tuple(known)
    for target in change.disks:
        if target not in known:
            raise ValidationError(
                "Disk",
                f"The guest has no disk {target!r} (its disks: {', '.join(known) or 'none'}).",
            )
    return change.disks


def _select_nics(current: GuestLimits, change: LimitChange) -> tuple[str, ...]:
    if change.nics:
        chosen = []
        for mac in change.nics:
            nic = current.nic(mac)
            if nic is None:
                macs = ", ".join(n.mac for n in current.nics) or "none"
                raise ValidationError("NIC", f"The guest has no NIC {mac} (its NICs: {macs}).")
            chosen.append(nic)
    else:
        chosen = list(current.nics)
        if not chosen:
            raise ValidationError("NIC", "The guest has no network interface to limit.")
    for nic in chosen:
        if nic.unsupported:
            raise ValidationError("NIC", f"NIC {nic.mac} cannot be limited: {nic.unsupported}.")
    return tuple(n.mac for n in chosen)


def _warnings(view: LimitsView, change: LimitChange) -> list[str]:
    warnings = []
    used = view.memory_used_kib
    for label, value in (
        ("hard", change.memory_hard_limit_kib),
        ("soft", change.memory_soft_limit_kib),
    ):
        if value and used and value < used:
            consequence = (
                "the host may kill the guest's process"
                if label == "hard"
                else "the host reclaims its memory first when short"
            )
            warnings.append(
                f"The memory {label} limit {format_kib(value)} is below what {view.name} uses "
                f"now ({format_kib(used)}): {consequence}."
            )
    hard, soft = change.memory_hard_limit_kib, change.memory_soft_limit_kib
    if hard and soft and soft > hard:
        warnings.append("The memory soft limit is above the hard limit: it has no effect.")
    return warnings


_CONTROLLERS = (
    (re.compile(r"\bcpu\b|cpu controller", re.IGNORECASE), "cpu"),
    (re.compile(r"memory", re.IGNORECASE), "memory"),
    (re.compile(r"blkio|block i/o", re.IGNORECASE), "blkio"),
    (re.compile(r"cpuset", re.IGNORECASE), "cpuset"),
)


def missing_controller_reason(message: str) -> str:
    """What to tell the user when libvirt's ``message`` is a missing cgroup controller ("" if
    it is not), e.g. "the host's cgroup 'cpu' controller is missing for this guest (...)"."""
    controller = missing_controller(message)
    if not controller:
        return ""
    return f"the host's cgroup '{controller}' controller is missing for this guest ({message})"


def missing_controller(message: str) -> str:
    """The cgroup controller a libvirt error says is missing ("cpu", "memory", ...), or "".

    libvirt words it "cgroup CPU controller is not mounted", "cgroup memory controller is not
    mounted", "blkio cgroup isn't mounted", "Block I/O tuning is not available on this host".
    """
    lower = message.lower()
    if "cgroup" not in lower and "not available on this host" not in lower:
        return ""
    if not any(word in lower for word in ("not mounted", "isn't mounted", "not available")):
        return ""
    for pattern, name in _CONTROLLERS[::-1]:
        if pattern.search(message):
            return name
    return "unknown"
