"""``vmgui-cli tag NAME [add|remove TAG]``: show or change a guest's tags."""

from __future__ import annotations

import argparse

from vmgui.cli.common import (
    Handler,
    Subparsers,
    add_connect,
    add_json,
    on_host,
    print_json,
    uuid_of,
)
from vmgui.core.errors import VmguiError
from vmgui.core.tags import format_tag_list
from vmgui.virt.connection import HostConnection
from vmgui.virt.tags import add_tag, remove_tag

HELP_ORDER = 42


def add_parser(sub: Subparsers) -> None:
    """Add ``tag``."""
    tag = sub.add_parser(
        "tag",
        help="show a guest's tags, or add or remove one",
        description="Without an action, print the guest's tags.",
    )
    add_connect(tag)
    add_json(tag)
    tag.add_argument("guest", metavar="NAME")
    tag.add_argument("action", nargs="?", choices=["add", "remove"])
    tag.add_argument("tag", nargs="?", metavar="TAG")
    tag.set_defaults(run=_checked(on_host(run_tag)))


def _checked(run: Handler) -> Handler:
    """``run``, after the arguments that argparse cannot check together (before connecting)."""

    async def check(args: argparse.Namespace) -> int:
        if args.action is not None and args.tag is None:
            raise VmguiError(f"{args.action} needs a TAG: vmgui-cli tag NAME {args.action} TAG")
        if args.action is None and args.tag is not None:
            raise VmguiError(f"Say what to do with tag {args.tag!r}: add or remove")
        return await run(args)

    return check


async def run_tag(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli tag NAME [add|remove TAG]``."""
    guest = host.guests[uuid_of(host, args.guest)]
    tags = guest.tags
    if args.action == "add":
        tags = await add_tag(host, guest, args.tag)
    elif args.action == "remove":
        tags = await remove_tag(host, guest, args.tag)
    if args.json:
        print_json({"name": guest.name, "uuid": guest.uuid, "tags": list(tags)})
    else:
        print(f"{guest.name}: {format_tag_list(tags) if tags else 'no tags'}")
    return 0
