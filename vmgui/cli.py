"""vmgui-cli: vmgui's engine on the command line (same core and virt layers as the GUI)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from vmgui import __version__, cliprov
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, consolidation
from vmgui.virt.connection import HostConnection, NullObserver


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmgui-cli", description="vmgui on the command line")
    parser.add_argument("--version", action="version", version=f"vmgui-cli {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="list a host's guests")
    listing.add_argument("--connect", metavar="URI", required=True)
    listing.add_argument("--json", action="store_true", help="print JSON")
    info = sub.add_parser("host", help="show a host and what its guests commit")
    info.add_argument("--connect", metavar="URI", required=True)
    info.add_argument("--json", action="store_true", help="print JSON")
    cliprov.add_parsers(sub)
    return parser


async def _run(args: argparse.Namespace) -> int:
    if args.command == "images":
        return await cliprov.run_images(args)
    host = HostConnection(args.connect, NullObserver(), keepalive=None)
    await host.connect()
    try:
        if args.command in cliprov.PROVISION_COMMANDS:
            return await cliprov.run_host_command(args, host)
        guests = sorted(host.guests.values(), key=lambda g: g.name)
        if args.command == "list":
            if args.json:
                print(json.dumps([_guest_json(g) for g in guests], indent=2))
            else:
                print(f"{'NAME':<32} {'STATE':<10} {'VCPUS':>5} {'MEMORY MiB':>10}")
                for g in guests:
                    print(
                        f"{g.name:<32} {g.state.label:<10} {g.vcpus:>5} {g.memory_kib // 1024:>10}"
                    )
            return 0
        info = host.host_info
        if info is None:  # pragma: no cover - connect() reads it
            raise VmguiError("The host did not describe itself")
        summary = consolidation(info, guests)
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
            print(json.dumps(data, indent=2))
        else:
            for key, value in data.items():
                print(f"{key:<22} {value}")
        return 0
    finally:
        await host.close()


def _guest_json(guest: GuestInfo) -> dict[str, object]:
    return {
        "name": guest.name,
        "uuid": guest.uuid,
        "state": guest.state.value,
        "vcpus": guest.vcpus,
        "memory_mib": guest.memory_kib // 1024,
        "persistent": guest.persistent,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run vmgui-cli; a failure prints one line and exits non-zero."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except VmguiError as exc:
        print(f"vmgui-cli: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vmgui-cli: cancelled (everything this run created was removed)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
