"""``vmgui-cli template mark|unmark NAME``: templates (their clones: :mod:`vmgui.cli.clone`)."""

from __future__ import annotations

import argparse

from vmgui.cli.common import (
    Subparsers,
    add_connect,
    on_host,
    uuid_of,
)
from vmgui.virt.connection import HostConnection
from vmgui.virt.templates import set_template

HELP_ORDER = 40


def add_parser(sub: Subparsers) -> None:
    """Add ``template``."""
    template = sub.add_parser("template", help="mark or unmark a guest as a template")
    template.add_argument("action", choices=["mark", "unmark"])
    template.add_argument("guest", metavar="NAME")
    add_connect(template)
    template.set_defaults(run=on_host(run_template))


async def run_template(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli template mark|unmark NAME``."""
    uuid = uuid_of(host, args.guest)
    await set_template(host, uuid, args.action == "mark")
    print(f"{args.guest}: {'marked' if args.action == 'mark' else 'no longer'} a template")
    return 0
