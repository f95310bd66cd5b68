"""``vmgui-cli migrate NAME --to URI``: move a guest to another host (live or offline)."""

from __future__ import annotations

import argparse

from vmgui.cli.common import (
    Subparsers,
    add_connect,
    add_json,
    end_transfer_line,
    on_host,
    print_json,
    print_transfer,
    uuid_of,
)
from vmgui.cli.export import add_network_map, network_map
from vmgui.core.migration import MoveResult
from vmgui.core.provisioning import Progress, Step
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.download import TransferProgress
from vmgui.virt.migrate import move_guest

HELP_ORDER = 55


def add_parser(sub: Subparsers) -> None:
    """Add ``migrate``."""
    migrate = sub.add_parser("migrate", help="move a guest to another host")
    migrate.add_argument("guest", metavar="NAME")
    add_connect(migrate)
    migrate.add_argument("--to", required=True, metavar="URI", help="the destination host")
    migrate.add_argument("--offline", action="store_true", help="move it shut off (streams)")
    migrate.add_argument("--keep-source", action="store_true", help="keep the source's copy")
    migrate.add_argument(
        "--detach-readonly",
        action="store_true",
        help="drop read-only disks (seed, ISOs) instead of carrying them",
    )
    migrate.add_argument("--pool", default="default", help="offline: the destination pool")
    migrate.add_argument("--bandwidth", type=int, default=0, metavar="MIB", help="MiB/s cap")
    add_network_map(migrate)
    add_json(migrate)
    migrate.set_defaults(run=on_host(run_migrate))


async def run_migrate(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli migrate NAME --to URI [--offline] [--keep-source]``."""
    uuid = uuid_of(host, args.guest)
    mapping = network_map(args.network_map)
    dst = HostConnection(args.to, NullObserver(), keepalive=None)
    await dst.connect()
    try:
        result = await move_guest(
            host,
            dst,
            uuid,
            offline=args.offline,
            keep_source=args.keep_source,
            network_map=mapping,
            detach_readonly=args.detach_readonly,
            pool=args.pool,
            bandwidth_mib=args.bandwidth,
            progress=None if args.json else _on_progress,
        )
    finally:
        end_transfer_line()
        await dst.close()
    _print(result, args.json)
    return 0


def _on_progress(p: Progress) -> None:
    if p.step in (Step.MIGRATE, Step.UPLOAD) and p.total_bytes:
        phase = "migrate" if p.step is Step.MIGRATE else "copy"
        print_transfer(TransferProgress(phase, p.done_bytes, p.total_bytes, p.speed, p.eta))


def _print(result: MoveResult, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "name": result.name,
                "uuid": result.uuid,
                "from": result.source_uri,
                "to": result.destination_uri,
                "live": result.live,
                "removed": list(result.removed),
                "warnings": list(result.warnings),
                "timings": {t.step.value: round(t.seconds, 4) for t in result.timings},
                "total_seconds": round(result.total_seconds, 4),
            }
        )
        return
    for t in result.timings:
        note = f"  ({t.note})" if t.note else ""
        print(f"{t.step.value:<9} {t.seconds:8.3f} s{note}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    how = "live" if result.live else "offline"
    print(f"{result.name} moved {how} to {result.destination_uri} in {result.total_seconds:.2f} s")
    if result.removed:
        print(f"removed from the source: {', '.join(result.removed)}")
