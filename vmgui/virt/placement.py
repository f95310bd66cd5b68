"""Placement facts: what :func:`vmgui.core.placement.rank` needs of a host, read on its worker.

:func:`fetch_facts` reads the node's size and available memory, what the running and autostart
guests commit, the storage pool's free space and whether the base image is in it (one worker
call) and whether the host offers KVM (the capabilities, on the slow worker).
:func:`measure_guests` samples this host's own guests for a few seconds with the stats engine
(two :class:`~vmgui.virt.stats.StatsPoller` ticks): their share of the host's CPUs and their
resident memory. :func:`gather_facts` does both (the one-shot ``vmgui-cli place``); the wizard
takes the measured part from the stats engine's history instead.

:func:`image_ref` says which base volume identifies an image (the name provisioning gives it,
:func:`~vmgui.virt.provhost.base_volume_name`) and its sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import libvirt

from vmgui.core.catalog import CatalogEntry, ImageInfo, read_image_info
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.core.placement import HostFacts
from vmgui.core.provisioning import DEFAULT_POOL
from vmgui.virt import hostchoices
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader, hash_file
from vmgui.virt.provhost import base_volume_name
from vmgui.virt.stats import StatsPoller, TickResult

_NAN = math.nan

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A base image as placement sees it.

    Attributes:
        volume_name: the base volume provisioning would make of it ("" when unknown: a
            catalog image not downloaded yet).
        file_bytes: what uploading it takes (0: unknown).
        virtual_bytes: the disk size it gives a guest (0: unknown).
    """

    volume_name: str = ""
    file_bytes: int = 0
    virtual_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Measured:
    """A host's own guests over a sampling interval.

    Attributes:
        cpu_percent: their share of all the host's CPUs (NaN: not measured).
        memory_kib: their resident memory at the end (NaN: not reported).
        seconds: the interval (0: one sample, no CPU figure).
    """

    cpu_percent: float
    memory_kib: float
    seconds: float


# -- images -----------------------------------------------------------------------------------


async def image_ref(image: CatalogEntry | Path, downloader: Downloader | None = None) -> ImageRef:
    """Which base volume ``image`` becomes on a host, and its sizes.

    A local file is hashed (as provisioning does); a catalog download is known by its verified
    cached copy (none yet: the volume name is unknown, the image cannot be on a host under it).

    Raises:
        VmguiError: a local file that cannot be read or is not a disk image.
    """
    if isinstance(image, Path):
        return await _file_ref(image, image.stem)
    if image.path:
        return await _file_ref(Path(image.path), image.id)
    downloaded = await asyncio.to_thread((downloader or Downloader()).verified_copy, image)
    if downloaded is None:
        return ImageRef(virtual_bytes=image.disk_gib << 30)
    info = await asyncio.to_thread(read_image_info, downloaded.path)
    name = base_volume_name(image.id, downloaded.digest, info.format)
    return ImageRef(name, info.file_size, info.virtual_size)


async def _file_ref(path: Path, stem: str) -> ImageRef:
    info: ImageInfo = await asyncio.to_thread(read_image_info, path)
    digest = await hash_file(path, "sha256")
    return ImageRef(base_volume_name(stem, digest, info.format), info.file_size, info.virtual_size)


# -- facts ------------------------------------------------------------------------------------


async def fetch_facts(
    host: HostConnection, *, pool: str = "", image_volume: str = "", kvm: bool = True
) -> HostFacts:
    """The host's facts without the measured part (CPU share, resident memory: NaN).

    Args:
        host: a connected host (its listed guests give the vCPUs and memory).
        pool: the pool the disks would go to ("": ``default``, else the running pool with the
            most free space).
        image_volume: the base volume to look for ("": no image asked).
        kvm: read the capabilities for KVM (may take seconds; on the slow worker).

    Raises:
        VmguiError: the host is not connected or could not be read.
    """
    guests = host.guests
    facts_call = host.call(
        lambda c: _facts_blocking(c, host.uri, guests, pool, image_volume),
        f"Could not read the resources of {host.display_name}",
    )
    if not kvm:
        return await facts_call
    facts, offers_kvm = await asyncio.gather(facts_call, _kvm(host))
    return dataclasses.replace(facts, kvm=offers_kvm)


async def _kvm(host: HostConnection) -> bool | None:
    try:
        return (await hostchoices.fetch_virt_types(host)).kvm
    except VmguiError:
        return None  # unknown: the ranking says nothing about it


async def measure_guests(
    host: HostConnection, seconds: float, *, sleep: Sleep = asyncio.sleep
) -> Measured:
    """Sample the host's own guests for ``seconds`` (0: one sample, memory only).

    Raises:
        VmguiError: the host could not be read.
    """
    poller = StatsPoller(host, balloon_period=0)  # read only: never changes a guest
    first = await _tick(poller, host)
    if seconds <= 0:
        return Measured(_NAN, _resident(first), 0.0)
    await sleep(seconds)
    second = await _tick(poller, host)
    return Measured(_cpu(second), _resident(second), second.time - first.time)


async def gather_facts(
    host: HostConnection,
    *,
    pool: str = "",
    image_volume: str = "",
    sample: float = 3.0,
    sleep: Sleep = asyncio.sleep,
) -> HostFacts:
    """:func:`fetch_facts` and :func:`measure_guests` (for ``sample`` seconds), together.

    Raises:
        VmguiError: the host is not connected or could not be read.
    """
    facts, measured = await asyncio.gather(
        fetch_facts(host, pool=pool, image_volume=image_volume),
        measure_guests(host, sample, sleep=sleep),
    )
    return with_measured(facts, measured.cpu_percent, measured.memory_kib, measured.seconds)


def with_measured(
    facts: HostFacts, cpu_percent: float, memory_kib: float, seconds: float
) -> HostFacts:
    """``facts`` with its guests' measured CPU share and resident memory."""
    return dataclasses.replace(
        facts,
        guests_cpu_percent=cpu_percent,
        guests_memory_kib=memory_kib,
        window_seconds=seconds,
    )


async def _tick(poller: StatsPoller, host: HostConnection) -> TickResult:
    result = await poller.tick(host.guests)
    if result is None:
        raise VmguiError(f"Could not read the usage of {host.display_name}")
    return result


def _cpu(result: TickResult) -> float:
    """The guests' summed share of the host CPUs (0 with no guest running; NaN: not read)."""
    shares = [s.cpu_host_percent for s in result.guests.values()]
    known = [v for v in shares if math.isfinite(v)]
    if shares and not known:
        return _NAN
    return min(100.0, sum(known))


def _resident(result: TickResult) -> float:
    """The guests' summed resident memory (0 with no guest running; NaN: not reported)."""
    values = [s.rss_kib for s in result.guests.values()]
    known = [v for v in values if math.isfinite(v)]
    if values and not known:
        return _NAN
    return float(sum(known))


# -- blocking (worker thread) -----------------------------------------------------------------


def _facts_blocking(
    conn: libvirt.virConnect,
    uri: str,
    guests: Mapping[str, GuestInfo],
    pool_name: str,
    image_volume: str,
) -> HostFacts:
    _model, memory_mib, cpus, *_rest = conn.getInfo()
    total = float(memory_mib) * 1024
    available = _NAN
    with contextlib.suppress(libvirt.libvirtError):
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
        total = float(stats.get("total", total))
        if "free" in stats:
            available = float(sum(stats.get(k, 0) for k in ("free", "buffers", "cached")))
    flag = libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART
    autostart = {str(d.UUIDString()) for d in conn.listAllDomains(flag)}
    committed = [g for g in guests.values() if g.is_active or g.uuid in autostart]
    pool, free, volumes, startable = _pool_blocking(conn, pool_name)
    return HostFacts(
        uri,
        cpus=int(cpus),
        memory_total_kib=total,
        memory_available_kib=available,
        active_memory_kib=float(sum(g.memory_kib for g in guests.values() if g.is_active)),
        committed_vcpus=sum(g.vcpus for g in committed),
        committed_memory_kib=float(sum(g.memory_kib for g in committed)),
        pool=pool,
        pool_free_bytes=free,
        pool_startable=startable,
        image_present=(image_volume in volumes) if image_volume else None,
    )


def _pool_blocking(
    conn: libvirt.virConnect, name: str
) -> tuple[str, int | None, frozenset[str], bool]:
    """(pool name, free bytes or None when not running, its volume names, whether
    provisioning would start or create it: a defined inactive pool, or a missing ``default``)."""
    pools = {str(p.name()): p for p in conn.listAllStoragePools(0)}
    if not name:
        running = [p for p in pools.values() if p.isActive()]
        if DEFAULT_POOL in pools or not running:
            name = DEFAULT_POOL  # (created at its usual place when missing)
        else:
            name = str(max(running, key=lambda p: p.info()[3]).name())
    pool = pools.get(name)
    if pool is None:
        return name, None, frozenset(), name == DEFAULT_POOL
    if not pool.isActive():
        return name, None, frozenset(), True
    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    return name, int(pool.info()[3]), frozenset(str(v) for v in pool.listVolumes()), False
