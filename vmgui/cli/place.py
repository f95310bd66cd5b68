"""``vmgui-cli place``: which of several hosts should take the planned guest(s), and why.

Every ``--connect`` host is connected (all at once), its own guests are sampled for
``--sample`` seconds, and the hosts are ranked (:func:`vmgui.core.placement.rank`): best
first, each with a one-line reason. A host that cannot be reached is listed as not fitting,
with why. The exit status is 1 when no host fits (with ``--spread``: when the batch does not
fit on the hosts together).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from vmgui.cli.common import Subparsers, add_connect, add_json, open_host, print_json
from vmgui.core.catalog import find_entry, load_catalog
from vmgui.core.errors import VmguiError
from vmgui.core.placement import (
    HostFacts,
    Placement,
    PlacementRequest,
    SpreadError,
    rank,
    spread,
)
from vmgui.core.units import plural
from vmgui.core.validation import ValidationError, parse_size
from vmgui.virt.connection import HostConnection
from vmgui.virt.placement import ImageRef, gather_facts, image_ref

HELP_ORDER = 35
DEFAULT_SAMPLE = 3.0


def add_parser(sub: Subparsers) -> None:
    """Add ``place``."""
    place = sub.add_parser("place", help="rank hosts for new guests (placement advice)")
    add_connect(place, repeatable=True)
    place.add_argument("--vcpus", type=int, required=True, help="vCPUs per guest")
    place.add_argument("--memory", required=True, metavar="MiB", help="memory per guest")
    place.add_argument("--disk", metavar="GiB", help="disk per guest (default: the image's)")
    place.add_argument("--count", type=int, default=1, help="how many guests (default 1)")
    place.add_argument("--image", metavar="ID|PATH", help="catalog id or image file to look for")
    place.add_argument("--pool", default="", help="the storage pool (default: 'default')")
    place.add_argument(
        "--sample",
        type=float,
        default=DEFAULT_SAMPLE,
        metavar="SECONDS",
        help=f"measure the hosts' guests this long first (default {DEFAULT_SAMPLE:g})",
    )
    place.add_argument(
        "--spread", action="store_true", help="spread the guests over the hosts that fit"
    )
    add_json(place, "print the ranking as JSON")
    place.set_defaults(run=run_place)


async def run_place(args: argparse.Namespace) -> int:
    """``vmgui-cli place``."""
    request = _request(args)
    image = await image_of(args.image)
    request = dataclasses.replace(
        request, image_disk_bytes=image.virtual_bytes, image_file_bytes=image.file_bytes
    )
    uris = list(dict.fromkeys(args.connect))
    facts = await asyncio.gather(*(_facts(uri, args, image.volume_name) for uri in uris))
    per_host = dataclasses.replace(request, count=1) if args.spread else request
    ranking = rank(list(facts), per_host)
    assignment: tuple[str, ...] = ()
    error = ""
    if args.spread:
        try:
            assignment = spread(ranking, request)
        except SpreadError as exc:
            error = str(exc)
    if args.json:
        data: dict[str, object] = {"hosts": [_host_json(p) for p in ranking]}
        if args.spread:
            data["assignment"] = list(assignment)
        print_json(data)
    else:
        _print(ranking, assignment)
    if error:
        raise VmguiError(error)
    return 0 if any(p.fits for p in ranking) else 1


def _request(args: argparse.Namespace) -> PlacementRequest:
    try:
        memory = parse_size(args.memory, "MiB", "Memory") >> 20
        disk = None if args.disk is None else parse_size(args.disk, "GiB", "Disk") / (1 << 30)
    except ValidationError as exc:
        raise VmguiError(exc.message) from None
    if args.sample < 0:
        raise VmguiError(f"--sample must not be negative (got {args.sample:g})")
    try:
        return PlacementRequest(args.vcpus, memory, disk, args.count)
    except ValueError:
        raise VmguiError(
            "--vcpus, --memory and --count must be at least 1 (memory in MiB)"
        ) from None


async def image_of(image: str | None) -> ImageRef:
    """The base image ``--image`` names (a file or a catalog id), as placement sees it."""
    if not image:
        return ImageRef()
    path = Path(image)
    if path.exists():
        return await image_ref(path.resolve())
    return await image_ref(find_entry(load_catalog(), image))


async def _facts(uri: str, args: argparse.Namespace, image_volume: str) -> HostFacts:
    """One host's facts, or why it could not be read (never raises)."""
    try:
        host: HostConnection = await open_host(uri, args.accept_host_key)
    except VmguiError as exc:
        return HostFacts.unreachable(uri, str(exc))
    try:
        return await gather_facts(
            host, pool=args.pool, image_volume=image_volume, sample=args.sample
        )
    except VmguiError as exc:
        return HostFacts.unreachable(uri, str(exc))
    finally:
        await host.close()


async def spread_over(
    hosts: Sequence[HostConnection],
    request: PlacementRequest,
    *,
    image: ImageRef,
    pool: str,
    sample: float,
) -> tuple[str, ...]:
    """Each of ``request.count`` guests' host URI, spread over the connected ``hosts`` by
    placement advice (each host measured for ``sample`` seconds first).

    Raises:
        VmguiError: the guests do not fit on the hosts together (says how many would), or a
            host could not be read.
    """
    request = dataclasses.replace(
        request, image_disk_bytes=image.virtual_bytes, image_file_bytes=image.file_bytes
    )
    facts = await asyncio.gather(
        *(
            gather_facts(host, pool=pool, image_volume=image.volume_name, sample=sample)
            for host in hosts
        )
    )
    ranking = rank(list(facts), dataclasses.replace(request, count=1))
    try:
        return spread(ranking, request)
    except SpreadError as exc:
        raise VmguiError(str(exc)) from None


def _host_json(p: Placement) -> dict[str, object]:
    return {"uri": p.uri, "fits": p.fits, "score": p.score, "reason": p.reason}


def _print(ranking: list[Placement], assignment: tuple[str, ...]) -> None:
    width = max(len(p.uri) for p in ranking)
    print(f"{'SCORE':>5}  {'FITS':<4}  {'HOST':<{width}}  WHY")
    for p in ranking:
        score = f"{p.score:5.1f}" if p.fits else f"{'-':>5}"
        print(f"{score}  {'yes' if p.fits else 'no':<4}  {p.uri:<{width}}  {p.reason}")
    if assignment:
        counts = {uri: assignment.count(uri) for uri in dict.fromkeys(assignment)}
        spread_text = ", ".join(f"{plural(n, 'guest')} on {uri}" for uri, n in counts.items())
        print(f"spread: {spread_text}")
