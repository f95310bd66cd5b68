"""``vmgui-cli template mark|unmark NAME`` and ``vmgui-cli clone``: templates, linked clones."""

from __future__ import annotations

import argparse

from vmgui.cli.common import (
    Subparsers,
    add_connect,
    add_json,
    on_host,
    print_result,
    step_printer,
    uuid_of,
)
from vmgui.virt.connection import HostConnection
from vmgui.virt.templates import clone_from_template, set_template

HELP_ORDER = 40


def add_parser(sub: Subparsers) -> None:
    """Add ``template`` and ``clone``."""
    template = sub.add_parser("template", help="mark or unmark a guest as a template")
    template.add_argument("action", choices=["mark", "unmark"])
    template.add_argument("guest", metavar="NAME")
    add_connect(template)
    template.set_defaults(run=on_host(run_template))

    clone = sub.add_parser("clone", help="make a linked clone of a template")
    add_connect(clone)
    clone.add_argument("--template", required=True, metavar="NAME")
    clone.add_argument("--name", required=True)
    clone.add_argument("--start", action="store_true")
    add_json(clone, None)
    clone.set_defaults(run=on_host(run_clone))


async def run_template(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli template mark|unmark NAME``."""
    uuid = uuid_of(host, args.guest)
    await set_template(host, uuid, args.action == "mark")
    print(f"{args.guest}: {'marked' if args.action == 'mark' else 'no longer'} a template")
    return 0


async def run_clone(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli clone --template NAME --name NEW [--start]``."""
    uuid = uuid_of(host, args.template)
    result = await clone_from_template(
        host, uuid, args.name, start=args.start, progress=step_printer(args.json)
    )
    print_result(result, args.json)
    return 0
