"""Per-guest limits on a host: read them, check a change, apply it live and/or to the config.

libvirt's calls, one per kind: ``setSchedulerParametersFlags`` (CPU weight and cap, cgroup
``cpu``), ``setMemoryParameters`` (hard/soft limit, cgroup ``memory``), ``setBlockIoTune`` (disk
bytes/s and IOPS, QEMU's throttling) and ``setInterfaceParameters`` (NIC bandwidth, tc on the
host-side device). libvirt refuses ``AFFECT_LIVE | AFFECT_CONFIG`` together for some of them, so
each scope is its own call. A change is all or nothing: if any call fails, the ones already
made are set back to what was read before, and one error names what failed (and the missing
cgroup controller when that is the cause).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.limits import (
    CPU_PERIOD_US,
    DEFAULT_WEIGHT,
    MEMORY_UNLIMITED_KIB,
    DiskLimits,
    GuestLimits,
    LimitChange,
    LimitPlan,
    LimitsView,
    NicLimits,
    Scope,
    check_change,
    missing_controller,
    missing_controller_reason,
    nic_unsupported_reason,
)
from vmgui.core.validation import ValidationError
from vmgui.core.xml.domain import GuestDetails, is_writable_disk, parse_domain_xml
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_FLAGS = {
    Scope.LIVE: libvirt.VIR_DOMAIN_AFFECT_LIVE,
    Scope.CONFIG: libvirt.VIR_DOMAIN_AFFECT_CONFIG,
}
_DISK_KEYS = {
    "read_bps": "read_bytes_sec",
    "write_bps": "write_bytes_sec",
    "read_iops": "read_iops_sec",
    "write_iops": "write_iops_sec",
}


@dataclass(frozen=True, slots=True)
class AppliedLimits:
    """What :func:`apply_limits` did.

    Attributes:
        view: the guest's limits afterwards.
        plan: the checked change (scope, devices).
        warnings: what the user should know (e.g. a hard limit below current use).
    """

    view: LimitsView
    plan: LimitPlan
    warnings: tuple[str, ...]


async def fetch_limits(host: HostConnection, uuid: str) -> LimitsView:
    """Read a guest's live and config limits."""
    return await host.call(
        lambda c: read_limits_blocking(inspect.lookup(c, uuid)),
        f"Could not read the limits of guest {host.guest_name(uuid)}",
    )


async def apply_limits(
    host: HostConnection, uuid: str, change: LimitChange, scope: Scope | None = None
) -> AppliedLimits:
    """Check and apply ``change`` (``scope`` None: live and config where the guest has them).

    Raises:
        VmguiError: a bad value (nothing changed), or libvirt refused (everything set back).
    """
    name = host.guest_name(uuid)
    try:
        applied = await host.call(
            lambda c: apply_limits_blocking(inspect.lookup(c, uuid), change, scope),
            f"Could not change the limits of {name}",
        )
    finally:
        host.request_refresh(uuid)
    return applied


# -- reading (worker thread) -------------------------------------------------------------------


def read_limits_blocking(dom: libvirt.virDomain) -> LimitsView:
    """A guest's limits in every scope it has (blocking)."""
    running = bool(dom.isActive())
    persistent = bool(dom.isPersistent())
    live = config = None
    used = 0
    if running:
        live = _read_scope(dom, parse_domain_xml(dom.XMLDesc(0)), Scope.LIVE)
        with contextlib.suppress(libvirt.libvirtError):
            used = int(dom.memoryStats().get("rss", 0))
    if persistent:
        inactive = parse_domain_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        config = _read_scope(dom, inactive, Scope.CONFIG)
    return LimitsView(
        name=dom.name(),
        uuid=dom.UUIDString(),
        running=running,
        persistent=persistent,
        live=live,
        config=config,
        memory_used_kib=used,
    )


def _read_scope(dom: libvirt.virDomain, details: GuestDetails, scope: Scope) -> GuestLimits:
    flags = _FLAGS[scope]
    sched, cpu_unavailable = _unless_missing(lambda: dom.schedulerParametersFlags(flags))
    memory, memory_unavailable = _unless_missing(lambda: dom.memoryParameters(flags))
    disks = []
    for disk in details.disks:
        if not is_writable_disk(disk):
            continue
        tune = dom.blockIoTune(disk.target, flags)
        disks.append(
            DiskLimits(
                disk.target, **{field: int(tune.get(key, 0)) for field, key in _DISK_KEYS.items()}
            )
        )
    nics = []
    for nic in details.nics:
        reason = nic_unsupported_reason(nic.type)
        if reason or not nic.mac:
            nics.append(NicLimits(nic.mac, nic.type, unsupported=reason or "the NIC has no MAC"))
            continue
        params = dom.interfaceParameters(nic.mac, flags)
        nics.append(
            NicLimits(
                nic.mac,
                nic.type,
                int(params.get("inbound.average", 0)),
                int(params.get("outbound.average", 0)),
            )
        )
    return GuestLimits(
        vcpus=details.vcpus,
        cpu_weight=int(sched.get("cpu_shares", 0)),
        vcpu_period_us=int(sched.get("vcpu_period", 0)),
        vcpu_quota_us=max(0, int(sched.get("vcpu_quota", 0))),
        memory_hard_limit_kib=_memory(memory.get("hard_limit", 0)),
        memory_soft_limit_kib=_memory(memory.get("soft_limit", 0)),
        disks=tuple(disks),
        nics=tuple(nics),
        cpu_unavailable=cpu_unavailable,
        memory_unavailable=memory_unavailable,
    )


def _unless_missing(read: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """``read()``, or nothing and the reason when the host lacks the cgroup controller."""
    try:
        return read(), ""
    except libvirt.libvirtError as exc:
        reason = missing_controller_reason(exc.get_error_message() or str(exc))
        if not reason:
            raise
        return {}, reason


def _memory(value: int) -> int:
    return 0 if int(value) >= MEMORY_UNLIMITED_KIB else int(value)


# -- applying (worker thread) -------------------------------------------------------------------


def apply_limits_blocking(
    dom: libvirt.virDomain, change: LimitChange, scope: Scope | None = None
) -> AppliedLimits:
    """Read, check and apply ``change``; on a refusal set back what was applied (blocking).

    Raises:
        VmguiError: a bad value (nothing was changed) or libvirt's refusal (rolled back).
    """
    view = read_limits_blocking(dom)
    try:
        plan = check_change(view, change, scope)
    except ValidationError as exc:
        raise VmguiError(f"Could not change the limits of {view.name}", exc.message) from exc
    undo: list[Callable[[], None]] = []
    try:
        for part in (Scope.LIVE, Scope.CONFIG):
            if part in plan.scope:
                _apply_scope(dom, plan, part, undo)
    except (_RefusedError, libvirt.libvirtError) as exc:
        for step in reversed(undo):
            try:
                step()
            except libvirt.libvirtError as undo_exc:
                _log.warning("%s: could not set a limit back: %s", view.name, undo_exc)
        raise _refusal(view.name, exc) from exc
    return AppliedLimits(read_limits_blocking(dom), plan, plan.warnings)


class _RefusedError(Exception):
    """A libvirt refusal with the name of the setting it was for."""

    def __init__(self, what: str, error: libvirt.libvirtError) -> None:
        super().__init__(str(error))
        self.what = what
        self.error = error


def _refusal(name: str, exc: _RefusedError | libvirt.libvirtError) -> VmguiError:
    what, error = (exc.what, exc.error) if isinstance(exc, _RefusedError) else ("limits", exc)
    message = error.get_error_message() or str(error)
    controller = missing_controller(message)
    summary = f"Could not set the {what} of {name}"
    if controller:
        return VmguiError(
            summary,
            missing_controller_reason(message),
            f"Mount the cgroup '{controller}' controller on the host (or enable it for libvirt).",
        )
    return inspect.error_from_libvirt(error, summary)


def _call(what: str, fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except libvirt.libvirtError as exc:
        raise _RefusedError(what, exc) from exc


def _apply_scope(
    dom: libvirt.virDomain, plan: LimitPlan, scope: Scope, undo: list[Callable[[], None]]
) -> None:
    flags = _FLAGS[scope]
    live = scope is Scope.LIVE
    change = plan.change
    sched: dict[str, int] = {}
    if change.cpu_weight is not None:
        sched["cpu_shares"] = change.cpu_weight or (DEFAULT_WEIGHT if live else 0)
    if plan.vcpu_quota_us is not None:
        sched["vcpu_period"] = CPU_PERIOD_US
        sched["vcpu_quota"] = plan.vcpu_quota_us or (-1 if live else 0)
    if sched:
        old = _call("CPU limits", lambda: dom.schedulerParametersFlags(flags))
        before = {key: int(old[key]) for key in sched if key in old}
        _call("CPU limits", lambda: dom.setSchedulerParametersFlags(sched, flags))
        undo.append(lambda: _restore_sched(dom, before, flags))
    memory: dict[str, int] = {}
    for key, value in (
        ("hard_limit", change.memory_hard_limit_kib),
        ("soft_limit", change.memory_soft_limit_kib),
    ):
        if value is not None:
            memory[key] = value or MEMORY_UNLIMITED_KIB
    if memory:
        old_mem = _call("memory limits", lambda: dom.memoryParameters(flags))
        before_mem = {key: int(old_mem[key]) for key in memory}
        _call("memory limits", lambda: dom.setMemoryParameters(memory, flags))
        undo.append(lambda: dom.setMemoryParameters(before_mem, flags))
    for target in plan.disks:
        _apply_disk(dom, change, target, flags, undo)
    for mac in plan.nics:
        _apply_nic(dom, change, mac, flags, undo)


def _restore_sched(dom: libvirt.virDomain, before: dict[str, int], flags: int) -> None:
    # A config's unset period reads 0, which libvirt does not take back: leave it set.
    params = {k: v for k, v in before.items() if not (k == "vcpu_period" and v == 0)}
    if params:
        dom.setSchedulerParametersFlags(params, flags)


def _apply_disk(
    dom: libvirt.virDomain,
    change: LimitChange,
    target: str,
    flags: int,
    undo: list[Callable[[], None]],
) -> None:
    params = {
        key: getattr(change, f"disk_{field}")
        for field, key in _DISK_KEYS.items()
        if getattr(change, f"disk_{field}") is not None
    }
    old = dom.blockIoTune(target, flags)
    before = {key: int(old.get(key, 0)) for key in params}
    _call(f"I/O limits of disk {target}", lambda: dom.setBlockIoTune(target, params, flags))
    undo.append(lambda: dom.setBlockIoTune(target, before, flags))


def _apply_nic(
    dom: libvirt.virDomain,
    change: LimitChange,
    mac: str,
    flags: int,
    undo: list[Callable[[], None]],
) -> None:
    params = {}
    if change.net_in_kib is not None:
        params["inbound.average"] = change.net_in_kib
    if change.net_out_kib is not None:
        params["outbound.average"] = change.net_out_kib
    old = dom.interfaceParameters(mac, flags)
    before = {key: int(old.get(key, 0)) for key in params}
    _call(f"bandwidth of NIC {mac}", lambda: dom.setInterfaceParameters(mac, params, flags))
    undo.append(lambda: dom.setInterfaceParameters(mac, before, flags))
