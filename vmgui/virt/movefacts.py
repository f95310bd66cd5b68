"""What a move between hosts reads on both sides, the check before it starts, and the
source's clean-up after a verified move (shared by :mod:`~vmgui.virt.migrate` and
:mod:`~vmgui.virt.offline`).

Every ``*_blocking`` function runs on one host's worker.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Mapping
from functools import partial

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.migration import (
    DestinationSide,
    MoveDisk,
    SourceSide,
    migration_refusals,
)
from vmgui.core.xml.domain import disk_paths_in_use, is_seed_disk, parse_domain_xml
from vmgui.core.xml.host import read_capabilities, read_pool, read_volume
from vmgui.core.xml.mobility import networks_of
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection
from vmgui.virt.storage import unless_missing


def source_side_blocking(conn: libvirt.virConnect, uuid: str) -> tuple[SourceSide, str]:
    """The guest as a move sees it, and its persistent (inactive) XML."""
    dom = inspect.lookup(conn, uuid)
    xml = str(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    details = parse_domain_xml(xml)
    disks = []
    for disk in details.disks:
        if not disk.path or disk.source_type not in ("file", "volume"):
            continue
        capacity, _allocation, physical = dom.blockInfo(disk.target, 0)
        backing = ""
        vol = unless_missing(
            partial(conn.storageVolLookupByPath, disk.path), libvirt.VIR_ERR_NO_STORAGE_VOL
        )
        if vol is not None:
            backing = read_volume(vol.XMLDesc(0)).backing_path
        disks.append(
            MoveDisk(
                disk.target,
                disk.path,
                int(capacity),
                int(physical),
                disk.readonly or disk.device == "cdrom",
                backing,
                cdrom=disk.device == "cdrom",
                in_pool=vol is not None,
            )
        )
    cpu_model = ""
    if details.cpu_mode == "host-passthrough":
        cpu_model = read_capabilities(conn.getCapabilities()).cpu_model
    side = SourceSide(
        name=details.name,
        uuid=details.uuid,
        active=bool(dom.isActive()),
        domain_type=details.domain_type,
        cpu_mode=details.cpu_mode,
        networks=networks_of(xml),
        disks=tuple(disks),
        cpu_model=cpu_model,
    )
    return side, xml


def destination_side_blocking(
    conn: libvirt.virConnect, display_name: str, name: str, uuid: str
) -> DestinationSide:
    """What the destination offers a guest ``name``/``uuid``."""
    pools: dict[str, str] = {}
    existing: set[str] = set()
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        path = read_pool(pool.XMLDesc(0)).target_path
        if not path:
            continue
        pools[path.rstrip("/") or "/"] = str(pool.name())
        with contextlib.suppress(libvirt.libvirtError):
            pool.refresh(0)
            existing.update(str(v.path()) for v in pool.listAllVolumes(0))
    caps = read_capabilities(conn.getCapabilities())
    types = tuple(sorted({t for _arch, kinds in caps.guest_types for t in kinds}))
    name_taken = (
        unless_missing(partial(conn.lookupByName, name), libvirt.VIR_ERR_NO_DOMAIN) is not None
    )
    uuid_taken = (
        unless_missing(partial(conn.lookupByUUIDString, uuid), libvirt.VIR_ERR_NO_DOMAIN)
        is not None
    )
    networks = frozenset(str(n) for n in (*conn.listNetworks(), *conn.listDefinedNetworks()))
    return DestinationSide(
        display_name=display_name,
        pools=pools,
        existing=frozenset(existing),
        networks=networks,
        virt_types=types,
        name_taken=name_taken,
        uuid_taken=uuid_taken,
        cpu_model=caps.cpu_model,
    )


async def check_move(
    src: HostConnection,
    dst: HostConnection,
    uuid: str,
    *,
    network_map: Mapping[str, str],
    detach_readonly: bool = False,
    fallback_pool: str = "",
) -> tuple[SourceSide, str, DestinationSide]:
    """Read both sides and refuse before anything starts.

    Returns:
        The source side, the guest's persistent XML and the destination side.

    Raises:
        VmguiError: one line per gap (a missing network, pool, ...) in the details.
    """
    if src.uri == dst.uri:
        raise VmguiError("The guest is already on that host")
    side, xml = await src.call(
        lambda c: source_side_blocking(c, uuid), "Could not read the guest", slow=True
    )
    dest = await dst.call(
        lambda c: destination_side_blocking(c, dst.display_name, side.name, side.uuid),
        f"Could not read {dst.display_name}",
        slow=True,
    )
    refusals = migration_refusals(
        side,
        dest,
        network_map=network_map,
        detach_readonly=detach_readonly,
        fallback_pool=fallback_pool,
    )
    if refusals:
        raise VmguiError(f"Cannot move {side.name} to {dst.display_name}", "; ".join(refusals))
    return side, xml, dest


def remove_source_blocking(conn: libvirt.virConnect, uuid: str, owned: list[str]) -> list[str]:
    """Undefine the (shut-off) source guest and delete the disks only it used.

    Args:
        conn: the source host.
        uuid: the guest.
        owned: the paths it owned (writable disks and its seed); a path another guest uses or
            that backs another volume is kept. Backing files are never in this list.

    Returns:
        What was removed ("guest NAME", then the paths).
    """
    dom = inspect.lookup(conn, uuid)
    if dom.isActive():
        raise VmguiError(f"{dom.name()} still runs on the source", hint="Nothing was removed.")
    others: list[str] = []
    for other in conn.listAllDomains(0):
        if str(other.UUIDString()) == uuid:
            continue
        # another guest may go away between the listing and the read (other users, tests)
        xml = unless_missing(partial(other.XMLDesc, 0), libvirt.VIR_ERR_NO_DOMAIN)
        if xml is not None:
            others.append(str(xml))
    in_use = disk_paths_in_use(others)
    name = str(dom.name())
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    )
    try:
        dom.undefineFlags(flags)
    except libvirt.libvirtError:
        dom.undefine()
    removed = [f"guest {name}"]
    for path in owned:
        if path in in_use:
            continue
        vol = unless_missing(
            partial(conn.storageVolLookupByPath, path), libvirt.VIR_ERR_NO_STORAGE_VOL
        )
        if vol is not None:
            vol.delete(0)
            removed.append(path)
    return removed


def owned_paths(side: SourceSide, xml: str) -> list[str]:
    """The source's files a verified move deletes: writable disks and the cloud-init seed
    (never a backing file, never another read-only disk such as an installer ISO)."""
    seeds = {d.path for d in parse_domain_xml(xml).disks if is_seed_disk(d)}
    backing = {d.backing for d in side.disks if d.backing}
    return [
        d.path for d in side.disks if (not d.readonly or d.path in seeds) and d.path not in backing
    ]


def volume_name(path: str) -> str:
    """A volume's name in a dir pool: its file name."""
    return posixpath.basename(path)
