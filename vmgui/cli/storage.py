"""``vmgui-cli pools`` and ``vmgui-cli volumes POOL``: a host's storage, inactive pools too."""

from __future__ import annotations

import argparse
import dataclasses

from vmgui.cli.common import Subparsers, add_connect, add_json, on_host, print_json
from vmgui.core.units import format_bytes
from vmgui.virt.connection import HostConnection
from vmgui.virt.pools import fetch_pools, fetch_volumes

HELP_ORDER = 70


def add_parser(sub: Subparsers) -> None:
    """Add ``pools`` and ``volumes``."""
    pools = sub.add_parser("pools", help="list a host's storage pools (inactive ones too)")
    add_connect(pools)
    add_json(pools, "print JSON (sizes in bytes)")
    pools.set_defaults(run=on_host(run_pools))
    volumes = sub.add_parser("volumes", help="list a pool's volumes and the guests using them")
    add_connect(volumes)
    volumes.add_argument("pool", metavar="POOL")
    add_json(volumes, "print JSON (sizes in bytes)")
    volumes.set_defaults(run=on_host(run_volumes))


async def run_pools(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli pools``."""
    pools = await fetch_pools(host)
    if args.json:
        print_json([dataclasses.asdict(p) for p in pools])
        return 0
    print(
        f"{'NAME':<24} {'STATE':<9} {'AUTOSTART':<9} {'TYPE':<8} {'CAPACITY':>10} "
        f"{'ALLOCATED':>10} {'AVAILABLE':>10} {'VOLUMES':>7}  PATH"
    )
    for p in pools:
        sizes = (
            [format_bytes(v) for v in (p.capacity, p.allocation, p.available)]
            if p.active
            else ["-", "-", "-"]
        )
        print(
            f"{p.name:<24} {p.state:<9} {'yes' if p.autostart else 'no':<9} {p.type:<8} "
            f"{sizes[0]:>10} {sizes[1]:>10} {sizes[2]:>10} {p.volumes:>7}  {p.path}"
        )
    return 0


async def run_volumes(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli volumes POOL``."""
    volumes = await fetch_volumes(host, args.pool)
    if args.json:
        print_json([dataclasses.asdict(v) for v in volumes])
        return 0
    print(f"{'NAME':<36} {'FORMAT':<6} {'CAPACITY':>10} {'ALLOCATED':>10}  USED BY / BACKING")
    for v in volumes:
        notes = []
        if v.used_by:
            notes.append("used by " + ", ".join(v.used_by))
        if v.backing_chain:
            notes.append("on " + " <- ".join(v.backing_chain))
        if v.backs:
            notes.append(f"backs {len(v.backs)}")
        print(
            f"{v.name:<36} {v.format:<6} {format_bytes(v.capacity):>10} "
            f"{format_bytes(v.allocation):>10}  {'; '.join(notes)}"
        )
    return 0
