"""``vmgui-cli limits``: show or change a guest's CPU, memory, disk and NIC limits.

Without a limit option it prints the current limits. Sizes take binary suffixes (``256K`` =
262144); a bare number is bytes/s for disks, MiB for memory and KiB/s for NICs; ``0`` lifts a
limit. ``--json`` prints libvirt's integers (bytes/s, IOPS, µs, KiB; 0 = no limit).
"""

from __future__ import annotations

import argparse
import sys

from vmgui.cli.common import Subparsers, add_connect, add_json, on_host, print_json, uuid_of
from vmgui.core.errors import VmguiError
from vmgui.core.limits import GuestLimits, LimitChange, LimitsView, Scope, scope_label
from vmgui.core.units import format_kib, format_rate
from vmgui.core.validation import ValidationError, parse_size
from vmgui.virt.connection import HostConnection
from vmgui.virt.limits import apply_limits, fetch_limits

HELP_ORDER = 60

_OPTIONS = (
    ("--cpu-weight", "N", "CPU weight (cpu_shares, 2 to 262144; 0 = default)"),
    ("--cpu-cap", "PCT", "CPU cap in %% of one host CPU for the whole guest"),
    ("--memory-hard-limit", "MIB", "memory hard limit (MiB, or 512M, 1G)"),
    ("--memory-soft-limit", "MIB", "memory soft limit (MiB, or 512M, 1G)"),
    ("--disk-read-bps", "N", "disk read bytes/s (256K, 10M)"),
    ("--disk-write-bps", "N", "disk write bytes/s (256K, 10M)"),
    ("--disk-read-iops", "N", "disk read operations/s"),
    ("--disk-write-iops", "N", "disk write operations/s"),
    ("--net-in", "KIB", "NIC inbound KiB/s (or 1M)"),
    ("--net-out", "KIB", "NIC outbound KiB/s (or 1M)"),
)


def add_parser(sub: Subparsers) -> None:
    """Add ``limits``."""
    parser = sub.add_parser(
        "limits",
        help="show or change a guest's CPU, memory, disk and network limits",
        description=__doc__,
    )
    add_connect(parser)
    parser.add_argument("name", metavar="NAME", help="the guest")
    for flag, metavar, help_text in _OPTIONS:
        parser.add_argument(flag, metavar=metavar, help=help_text)
    parser.add_argument(
        "--disk", metavar="TARGET", action="append", default=[], help="only this disk (repeatable)"
    )
    parser.add_argument(
        "--nic", metavar="MAC", action="append", default=[], help="only this NIC (repeatable)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--live", action="store_true", help="the running guest only")
    where.add_argument("--config", action="store_true", help="the persistent config only")
    add_json(parser, "print libvirt's raw integers as JSON")
    parser.set_defaults(run=on_host(run_limits))


def change_from_args(args: argparse.Namespace) -> LimitChange:
    """The :class:`LimitChange` the options ask for.

    Raises:
        ValidationError: a value that is not a number or size, or negative.
    """

    def size(value: str | None, unit: str, field: str, divisor: int = 1) -> int | None:
        if value is None:
            return None
        return parse_size(value, unit, field) // divisor

    return LimitChange(
        cpu_weight=_integer(args.cpu_weight, "CPU weight"),
        cpu_cap_percent=_percent(args.cpu_cap),
        memory_hard_limit_kib=size(args.memory_hard_limit, "MiB", "Memory hard limit", 1024),
        memory_soft_limit_kib=size(args.memory_soft_limit, "MiB", "Memory soft limit", 1024),
        disk_read_bps=size(args.disk_read_bps, "B", "Disk read bytes/s"),
        disk_write_bps=size(args.disk_write_bps, "B", "Disk write bytes/s"),
        disk_read_iops=_integer(args.disk_read_iops, "Disk read IOPS"),
        disk_write_iops=_integer(args.disk_write_iops, "Disk write IOPS"),
        net_in_kib=size(args.net_in, "KiB", "Inbound KiB/s", 1024),
        net_out_kib=size(args.net_out, "KiB", "Outbound KiB/s", 1024),
        disks=tuple(args.disk),
        nics=tuple(args.nic),
    )


def _integer(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise ValidationError(field, f"{field} must be a whole number (got {value!r}).") from None
    if number < 0:
        raise ValidationError(field, f"{field} must not be negative (got {number}).")
    return number


def _percent(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip().removesuffix("%").strip()
    try:
        number = float(text)
    except ValueError:
        raise ValidationError("CPU cap", f"CPU cap must be a percentage (got {value!r}).") from None
    if number < 0:
        raise ValidationError("CPU cap", f"CPU cap must not be negative (got {value}).")
    return number


async def run_limits(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli limits``."""
    uuid = uuid_of(host, args.name)
    try:
        change = change_from_args(args)
    except ValidationError as exc:
        raise VmguiError(f"Could not change the limits of {args.name}", exc.message) from exc
    if change.is_empty:
        if args.disk or args.nic or args.live or args.config:
            raise VmguiError(
                f"Could not change the limits of {args.name}",
                "--disk, --nic, --live and --config need a limit option (e.g. --disk-read-bps)",
            )
        view = await fetch_limits(host, uuid)
    else:
        scope = Scope.LIVE if args.live else Scope.CONFIG if args.config else None
        applied = await apply_limits(host, uuid, change, scope)
        for warning in applied.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if not args.json:
            print(f"changed ({scope_label(applied.plan.scope)})")
        view = applied.view
    if args.json:
        print_json(view_json(view))
    else:
        print_view(view)
    return 0


def view_json(view: LimitsView) -> dict[str, object]:
    """A guest's limits as JSON: libvirt's integers, 0 = no limit."""
    return {
        "name": view.name,
        "uuid": view.uuid,
        "running": view.running,
        "persistent": view.persistent,
        "memory_used_kib": view.memory_used_kib,
        "live": _scope_json(view.live),
        "config": _scope_json(view.config),
    }


def _scope_json(limits: GuestLimits | None) -> dict[str, object] | None:
    if limits is None:
        return None
    return {
        "vcpus": limits.vcpus,
        "cpu_shares": limits.cpu_weight,
        "vcpu_period": limits.vcpu_period_us,
        "vcpu_quota": limits.vcpu_quota_us,
        "hard_limit": limits.memory_hard_limit_kib,
        "soft_limit": limits.memory_soft_limit_kib,
        "disks": [
            {
                "target": d.target,
                "read_bytes_sec": d.read_bps,
                "write_bytes_sec": d.write_bps,
                "read_iops_sec": d.read_iops,
                "write_iops_sec": d.write_iops,
            }
            for d in limits.disks
        ],
        "nics": [
            {
                "mac": n.mac,
                "type": n.type,
                "inbound.average": n.inbound_kib,
                "outbound.average": n.outbound_kib,
                "supported": not n.unsupported,
                "unsupported_reason": n.unsupported,
            }
            for n in limits.nics
        ],
    }


def _rows(limits: GuestLimits) -> dict[str, str]:
    def rate(value: int) -> str:
        return format_rate(value) if value else "none"

    def count(value: int) -> str:
        return f"{value}/s" if value else "none"

    def memory(kib: int) -> str:
        return format_kib(kib) if kib else "none"

    cap = limits.cpu_cap_percent
    rows = {
        "cpu weight": str(limits.cpu_weight) if limits.cpu_weight else "default",
        "cpu cap": f"{cap:g} % ({limits.vcpu_quota_us} µs per vCPU)" if cap else "none",
        "memory hard limit": memory(limits.memory_hard_limit_kib),
        "memory soft limit": memory(limits.memory_soft_limit_kib),
    }
    for d in limits.disks:
        rows[f"disk {d.target} read"] = f"{rate(d.read_bps)}, {count(d.read_iops)}"
        rows[f"disk {d.target} write"] = f"{rate(d.write_bps)}, {count(d.write_iops)}"
    for n in limits.nics:
        if n.unsupported:
            rows[f"nic {n.mac}"] = f"not supported: {n.unsupported}"
        else:
            rows[f"nic {n.mac} in"] = rate(n.inbound_kib * 1024)
            rows[f"nic {n.mac} out"] = rate(n.outbound_kib * 1024)
    return rows


def print_view(view: LimitsView) -> None:
    """A guest's limits as a table: one column per scope it has."""
    state = "running" if view.running else "shut off"
    print(f"{view.name}: {state}; changes apply to: {scope_label(view.default_scope)}")
    scopes = (("LIVE", view.live), ("CONFIG", view.config))
    present = [(label, _rows(lim)) for label, lim in scopes if lim is not None]
    if not present:
        return
    keys = list(dict.fromkeys(k for _label, rows in present for k in rows))
    print(f"{'':<26}" + "".join(f"{label:<36}" for label, _rows_ in present).rstrip())
    for key in keys:
        cells = "".join(f"{rows.get(key, '-'):<36}" for _label, rows in present)
        print(f"{key:<26}{cells}".rstrip())
