"""``vmgui-cli list`` and ``vmgui-cli host``: a host's guests, and what they commit."""

from __future__ import annotations

import argparse

from vmgui.cli.common import Subparsers, add_connect, add_json, on_host, print_json
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, consolidation
from vmgui.core.tags import format_tag_list, has_tag, validate_tag
from vmgui.core.validation import ValidationError
from vmgui.virt.connection import HostConnection

HELP_ORDER = 10


def add_parser(sub: Subparsers) -> None:
    """Add ``list`` and ``host``."""
    listing = sub.add_parser("list", help="list a host's guests")
    add_connect(listing)
    add_json(listing)
    listing.add_argument("--tag", metavar="TAG", help="only the guests with this tag")
    listing.set_defaults(run=on_host(run_list))
    info = sub.add_parser("host", help="show a host and what its guests commit")
    add_connect(info)
    add_json(info)
    info.set_defaults(run=on_host(run_host))


async def run_list(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli list``."""
    guests = sorted(host.guests.values(), key=lambda g: g.name)
    if args.tag is not None:
        try:
            tag = validate_tag(args.tag)
        except ValidationError as exc:
            raise VmguiError("Cannot filter by that tag", exc.message) from exc
        guests = [g for g in guests if has_tag(g.tags, tag)]
    if args.json:
        print_json([_guest_json(g) for g in guests])
        return 0
    print(f"{'NAME':<32} {'STATE':<10} {'VCPUS':>5} {'MEMORY MiB':>10}  TAGS")
    for g in guests:
        print(
            f"{g.name:<32} {g.state.label:<10} {g.vcpus:>5} {g.memory_kib // 1024:>10}"
            f"  {format_tag_list(g.tags)}".rstrip()
        )
    return 0


async def run_host(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli host``."""
    info = host.host_info
    if info is None:  # pragma: no cover - connect() reads it
        raise VmguiError("The host did not describe itself")
    summary = consolidation(info, list(host.guests.values()))
    data = {
        "uri": info.uri,
        "hostname": info.hostname,
        "hypervisor": info.hypervisor,
        "hypervisor_version": info.hypervisor_version,
        "cpus": info.cpus,
        "memory_mib": info.memory_kib // 1024,
        "guests": summary.guests,
        "active_guests": summary.active_guests,
        "committed_vcpus": summary.committed_vcpus,
        "committed_memory_mib": summary.committed_memory_kib // 1024,
    }
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key:<22} {value}")
    return 0


def _guest_json(guest: GuestInfo) -> dict[str, object]:
    return {
        "name": guest.name,
        "uuid": guest.uuid,
        "state": guest.state.value,
        "vcpus": guest.vcpus,
        "memory_mib": guest.memory_kib // 1024,
        "persistent": guest.persistent,
        "tags": list(guest.tags),
    }
