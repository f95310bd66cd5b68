"""``vmgui-cli snapshot create|list|revert|delete NAME [SNAP]``: a guest's snapshots."""

from __future__ import annotations

import argparse
import sys
import time

from vmgui.cli.common import Subparsers, add_connect, add_json, on_host, print_json, uuid_of
from vmgui.core.errors import VmguiError
from vmgui.core.snapshots import DISK_ONLY_WARNING, SnapshotInfo, SnapshotNode, version_text
from vmgui.virt.connection import HostConnection
from vmgui.virt.snapshots import (
    create_snapshot,
    delete_snapshot,
    list_snapshots,
    revert_snapshot,
)

HELP_ORDER = 45


def add_parser(sub: Subparsers) -> None:
    """Add ``snapshot``."""
    snapshot = sub.add_parser("snapshot", help="create, list, revert or delete snapshots")
    snapshot.add_argument("action", choices=["create", "list", "revert", "delete"])
    snapshot.add_argument("guest", metavar="NAME")
    snapshot.add_argument("snapshot", metavar="SNAP", nargs="?", default="")
    add_connect(snapshot)
    snapshot.add_argument("--description", default="", help="create: the description")
    snapshot.add_argument(
        "--disk-only",
        action="store_true",
        help="create: no memory state (external for a running guest: cannot be reverted "
        "on libvirt 9.0)",
    )
    snapshot.add_argument(
        "--children", action="store_true", help="delete: the snapshot's children too"
    )
    add_json(snapshot)
    snapshot.set_defaults(run=on_host(run_snapshot))


async def run_snapshot(args: argparse.Namespace, host: HostConnection) -> int:
    """Run one snapshot action."""
    uuid = uuid_of(host, args.guest)
    if args.action == "list":
        listing = await list_snapshots(host, uuid)
        if args.json:
            print_json([_json(s) for s in listing.snapshots])
        elif not listing.snapshots:
            print(f"{args.guest} has no snapshots")
        else:
            for line in _tree_lines(listing.tree):
                print(line)
        return 0
    if args.action in ("revert", "delete") and not args.snapshot:
        raise VmguiError(f"snapshot {args.action} needs the snapshot's name (SNAP)")
    if args.action == "create":
        if args.disk_only:
            listing = await list_snapshots(host, uuid)
            if listing.active:
                warning = DISK_ONLY_WARNING.format(version=version_text(listing.libvirt_version))
                print(f"warning: {warning}", file=sys.stderr)
        made = await create_snapshot(
            host, uuid, args.snapshot, args.description, disk_only=args.disk_only
        )
        if args.json:
            print_json(_json(made))
        else:
            memory = "with memory state" if made.has_memory else "disk only"
            print(f"{args.guest}: snapshot {made.name} created ({made.kind}, {memory})")
    elif args.action == "revert":
        await revert_snapshot(host, uuid, args.snapshot)
        print(f"{args.guest}: reverted to {args.snapshot}")
    else:
        gone = await delete_snapshot(host, uuid, args.snapshot, with_children=args.children)
        print(f"{args.guest}: deleted {', '.join(gone)}")
    return 0


def _json(s: SnapshotInfo) -> dict[str, object]:
    return {
        "name": s.name,
        "parent": s.parent or None,
        "description": s.description,
        "created": s.created,
        "state": s.state,
        "memory": s.has_memory,
        "kind": s.kind,
        "current": s.current,
        "revert_refusal": s.revert_refusal or None,
    }


def _tree_lines(nodes: tuple[SnapshotNode, ...], depth: int = 0) -> list[str]:
    lines = []
    for node in nodes:
        s = node.snapshot
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created))
        mark = "*" if s.current else " "
        memory = "memory" if s.has_memory else "disk"
        note = f"  - {s.description}" if s.description else ""
        refusal = f"  [cannot revert: {s.revert_refusal}]" if s.revert_refusal else ""
        lines.append(f"{mark} {'  ' * depth}{s.name}  {when}  {s.kind}, {memory}{note}{refusal}")
        lines.extend(_tree_lines(node.children, depth + 1))
    return lines
