"""``vmgui-cli images [download ID]``: the image catalog, and downloads into the cache."""

from __future__ import annotations

import argparse

from vmgui.cli.common import (
    Subparsers,
    add_json,
    end_transfer_line,
    print_json,
    print_transfer,
)
from vmgui.core.catalog import CatalogEntry, find_entry, load_catalog
from vmgui.virt.download import Downloader

HELP_ORDER = 20


def add_parser(sub: Subparsers) -> None:
    """Add ``images`` and ``images download``."""
    images = sub.add_parser("images", help="list the image catalog, or download an image")
    add_json(images)
    images_sub = images.add_subparsers(dest="images_command")
    download = images_sub.add_parser("download", help="download and verify an image")
    download.add_argument("image_id", metavar="ID")
    images.set_defaults(run=run_images)


async def run_images(args: argparse.Namespace) -> int:
    """``vmgui-cli images [download ID]``."""
    entries = load_catalog()
    if args.images_command == "download":
        entry = find_entry(entries, args.image_id)
        done = await Downloader().fetch(entry, print_transfer)
        end_transfer_line()
        state = "already cached" if done.cached else "downloaded"
        print(f"{entry.id}: {state}, {done.algorithm} verified: {done.path}")
        return 0
    if args.json:
        print_json([_entry_json(e) for e in entries])
        return 0
    print(f"{'ID':<16} {'VCPUS':>5} {'MiB':>6} {'GiB':>4}  NAME")
    for e in entries:
        print(f"{e.id:<16} {e.vcpus:>5} {e.memory_mib:>6} {e.disk_gib:>4}  {e.name}")
    return 0


def _entry_json(e: CatalogEntry) -> dict[str, object]:
    return {
        "id": e.id,
        "name": e.name,
        "url": e.url,
        "path": e.path,
        "format": e.format.value,
        "checksum": None
        if e.checksum is None
        else {"algorithm": e.checksum.algorithm, "value": e.checksum.value, "url": e.checksum.url},
        "osinfo": e.osinfo,
        "cloud_init": e.cloud_init,
        "defaults": {"vcpus": e.vcpus, "memory_mib": e.memory_mib, "disk_gib": e.disk_gib},
        "user": e.user,
    }
