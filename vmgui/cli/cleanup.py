"""``vmgui-cli cleanup --connect URI [--yes | --keep]``: what interrupted jobs left on a host.

A job whose host was lost before its rollback writes down what it made there
(:mod:`vmgui.core.leftovers`). This verb lists what of it is still on the host and removes it
(``--yes``, or "y" on a terminal) or forgets it, leaving it on the host (``--keep``). Without a
terminal and without either flag it only lists, and exits 1 when something is there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sized

from vmgui.cli.common import Subparsers, add_connect, add_json, on_host, print_json
from vmgui.core.leftovers import LeftoverBook
from vmgui.core.units import plural
from vmgui.virt.connection import HostConnection
from vmgui.virt.leftovers import Found, remove_found, review

HELP_ORDER = 57


def add_parser(sub: Subparsers) -> None:
    """Add ``cleanup``."""
    cleanup = sub.add_parser(
        "cleanup",
        help="remove what interrupted jobs left on a host",
        description="List what jobs interrupted by a lost connection left on the host, and "
        "remove it (asked on a terminal, or --yes) or forget it (--keep).",
    )
    add_connect(cleanup)
    add_json(cleanup)
    how = cleanup.add_mutually_exclusive_group()
    how.add_argument("--yes", action="store_true", help="remove them without asking")
    how.add_argument(
        "--keep", action="store_true", help="forget them: they stay on the host, unlisted"
    )
    cleanup.set_defaults(run=on_host(run_cleanup))


async def run_cleanup(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli cleanup``."""
    book = LeftoverBook()
    found = await review(host, book)
    if not found:
        _say(args, [], [], [], f"nothing left on {host.display_name}")
        return 0
    if not args.json:
        print(f"left on {host.display_name} by interrupted jobs:")
        for entry in found:
            print(f"  {entry.text}  [{entry.item.job}]")
    if args.keep:
        await asyncio.to_thread(book.forget, [f.item for f in found])
        _say(args, found, [], [], f"forgot {_count(found)}; they stay on the host")
        return 0
    if not args.yes and not _agreed(found, args.json):
        _say(args, found, [], [], "kept (remove with --yes, or forget with --keep)")
        return 1
    removed, failed = await remove_found(host, book, found)
    _say(args, found, [i.label for i in removed], failed, f"removed {_count(removed)}")
    for line in failed:
        print(f"vmgui-cli: could not remove {line}", file=sys.stderr)
    return 1 if failed else 0


def _count(items: Sized) -> str:
    return plural(len(items), "leftover")


def _agreed(found: list[Found], quiet: bool) -> bool:
    if quiet or not sys.stdin.isatty():
        return False
    answer = input(f"Remove {'them' if len(found) > 1 else 'it'}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _say(
    args: argparse.Namespace,
    found: list[Found],
    removed: list[str],
    failed: list[str],
    line: str,
) -> None:
    if args.json:
        print_json(
            {
                "found": [
                    {
                        "kind": f.item.kind,
                        "name": f.item.name,
                        "key": f.item.key,
                        "detail": f.detail,
                        "job": f.item.job,
                    }
                    for f in found
                ],
                "removed": removed,
                "failed": failed,
            }
        )
    else:
        print(line)
