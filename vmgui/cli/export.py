"""``vmgui-cli export NAME FILE`` and ``vmgui-cli import FILE``: a guest as one ``.vmgui`` file."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmgui.cli.common import (
    Subparsers,
    add_connect,
    add_json,
    end_transfer_line,
    on_host,
    print_json,
    print_result,
    print_transfer,
    uuid_of,
)
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import Progress, ProgressCallback, Step
from vmgui.core.units import format_bytes
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import TransferProgress
from vmgui.virt.export import export_guest
from vmgui.virt.importer import import_guest

HELP_ORDER = 50


def add_parser(sub: Subparsers) -> None:
    """Add ``export`` and ``import``."""
    export = sub.add_parser("export", help="write a shut-off guest into one .vmgui file")
    export.add_argument("guest", metavar="NAME")
    export.add_argument("file", metavar="FILE", type=Path)
    add_connect(export)
    add_json(export)
    export.set_defaults(run=on_host(run_export))

    imp = sub.add_parser("import", help="make a guest from a .vmgui file")
    imp.add_argument("file", metavar="FILE", type=Path)
    add_connect(imp)
    imp.add_argument("--name", default="", help="the guest's name (default: the file's)")
    imp.add_argument("--pool", default="default")
    imp.add_argument("--start", action="store_true")
    imp.add_argument("--new-identity", action="store_true", help="new UUID and MAC addresses")
    add_network_map(imp)
    add_json(imp)
    imp.set_defaults(run=on_host(run_import))


def add_network_map(parser: argparse.ArgumentParser) -> None:
    """``--network-map SRC=DST`` (repeatable; DST may be ``user``)."""
    parser.add_argument(
        "--network-map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="put interfaces on network SRC on DST instead ('user': user-mode networking)",
    )


def network_map(pairs: list[str]) -> dict[str, str]:
    """The ``--network-map`` pairs as a dict.

    Raises:
        VmguiError: a pair is not SRC=DST.
    """
    mapping = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src or not dst:
            raise VmguiError(f"--network-map {pair!r}: write SRC=DST")
        mapping[src] = dst
    return mapping


def transfer_printer(step: Step, phase: str, quiet: bool) -> ProgressCallback:
    """A progress callback printing ``step``'s transfer line on a terminal."""

    def on_progress(p: Progress) -> None:
        if not quiet and p.step is step and p.total_bytes:
            print_transfer(TransferProgress(phase, p.done_bytes, p.total_bytes, p.speed, p.eta))

    return on_progress


async def run_export(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli export NAME FILE``."""
    uuid = uuid_of(host, args.guest)
    try:
        result = await export_guest(
            host, uuid, args.file, progress=transfer_printer(Step.EXPORT, "export", args.json)
        )
    finally:
        end_transfer_line()
    if args.json:
        print_json(
            {
                "file": str(result.path),
                "size": result.file_size,
                "disks": [
                    {
                        "target": d.target,
                        "format": d.format,
                        "size": d.size,
                        d.algorithm: d.checksum,
                    }
                    for d in result.manifest.disks
                ],
                "left_out": list(result.manifest.left_out),
                "timings": {t.step.value: round(t.seconds, 4) for t in result.timings},
            }
        )
    else:
        print(f"{args.guest} exported to {result.path} ({format_bytes(result.file_size)})")
        for note in result.manifest.left_out:
            print(f"left out: {note}")
    return 0


async def run_import(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli import FILE [--name N] [--pool P] [--start]``."""
    try:
        result = await import_guest(
            host,
            args.file,
            name=args.name,
            pool=args.pool,
            start=args.start,
            new_identity=args.new_identity,
            network_map=network_map(args.network_map),
            progress=transfer_printer(Step.UPLOAD, "upload", args.json),
        )
    finally:
        end_transfer_line()
    print_result(result, args.json)
    return 0
