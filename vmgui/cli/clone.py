"""``vmgui-cli clone``: a full or linked clone of any shut-off guest, or a linked clone of a
template (``--template``)."""

from __future__ import annotations

import argparse

from vmgui.cli.common import (
    Subparsers,
    add_connect,
    add_json,
    end_transfer_line,
    on_host,
    print_result,
    print_transfer,
    step_printer,
    uuid_of,
)
from vmgui.core.provisioning import Progress, Step
from vmgui.virt.clone import clone_guest
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import TransferProgress
from vmgui.virt.templates import clone_from_template

HELP_ORDER = 41


def add_parser(sub: Subparsers) -> None:
    """Add ``clone``."""
    clone = sub.add_parser("clone", help="clone a shut-off guest (full or linked) or a template")
    add_connect(clone)
    source = clone.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", metavar="NAME", help="any shut-off guest")
    source.add_argument("--template", metavar="NAME", help="a template (linked clone)")
    clone.add_argument("--name", required=True)
    kind = clone.add_mutually_exclusive_group()
    kind.add_argument("--linked", action="store_true", help="overlays on the source's disks")
    kind.add_argument("--full", action="store_true", help="standalone copies (the default)")
    clone.add_argument("--start", action="store_true")
    add_json(clone, None)
    clone.set_defaults(run=on_host(run_clone))


async def run_clone(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli clone (--from NAME [--linked|--full] | --template NAME) --name NEW``."""
    if args.template:
        uuid = uuid_of(host, args.template)
        result = await clone_from_template(
            host, uuid, args.name, start=args.start, progress=step_printer(args.json)
        )
    else:
        uuid = uuid_of(host, args.source)
        try:
            result = await clone_guest(
                host,
                uuid,
                args.name,
                linked=args.linked,
                start=args.start,
                progress=None if args.json else _copy_progress,
            )
        finally:
            end_transfer_line()
    print_result(result, args.json)
    return 0


def _copy_progress(p: Progress) -> None:
    if p.step is Step.COPY and p.done_bytes:
        print_transfer(TransferProgress("copy", p.done_bytes, p.total_bytes, p.speed, p.eta))
