"""Storage pools and volumes on a host: list, create, start/stop/refresh/delete, resize.

Every public function is ``async`` and runs its libvirt calls in one
:meth:`HostConnection.call`, so a check ("which guests use it?") and the action it guards
happen together on the host's worker. Uploads and downloads are in :mod:`vmgui.virt.storage`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.pools import (
    POOL_STATES,
    StoragePool,
    StorageVolume,
    check_resize,
    pool_users,
    validate_volume_format,
    volume_delete_refusal,
)
from vmgui.core.validation import ValidationError, validate_guest_name
from vmgui.core.xml.build import dir_pool_xml
from vmgui.core.xml.domain import parse_domain_xml, parse_volume_key
from vmgui.core.xml.pool import read_pool_description, read_volume_backing
from vmgui.virt.connection import HostConnection
from vmgui.virt.storage import StreamUploader, UploadProgress, create_volume_blocking


async def fetch_pools(host: HostConnection) -> list[StoragePool]:
    """Every pool of the host, inactive ones too, by name."""
    return await host.call(list_pools_blocking, f"Could not list the pools of {host.display_name}")


async def fetch_volumes(host: HostConnection, pool: str) -> list[StorageVolume]:
    """The volumes of ``pool`` with their backing chains and the guests using them."""
    return await host.call(
        lambda c: list_volumes_blocking(c, pool), f"Could not list the volumes of pool {pool}"
    )


async def create_dir_pool(
    host: HostConnection, name: str, path: str, autostart: bool = True
) -> StoragePool:
    """Define, build and start a directory pool (removed again if a step fails)."""
    return await host.call(
        lambda c: create_dir_pool_blocking(c, name, path, autostart),
        f"Could not create pool {name}",
    )


async def start_pool(host: HostConnection, name: str) -> StoragePool:
    """Start an inactive pool."""
    return await host.call(lambda c: _act(c, name, "start"), f"Could not start pool {name}")


async def stop_pool(host: HostConnection, name: str) -> StoragePool:
    """Stop a pool (refused while guests use its volumes)."""
    return await host.call(lambda c: _act(c, name, "stop"), f"Could not stop pool {name}")


async def refresh_pool(host: HostConnection, name: str) -> StoragePool:
    """Re-read a pool's volumes from its directory."""
    return await host.call(lambda c: _act(c, name, "refresh"), f"Could not refresh pool {name}")


async def set_pool_autostart(host: HostConnection, name: str, autostart: bool) -> StoragePool:
    """Start the pool with the daemon, or not."""
    return await host.call(
        lambda c: _act(c, name, "autostart" if autostart else "no-autostart"),
        f"Could not change the autostart of pool {name}",
    )


async def delete_pool(host: HostConnection, name: str) -> None:
    """Stop and undefine a pool (its directory and files stay); refused while guests use it."""
    await host.call(lambda c: _act(c, name, "delete"), f"Could not delete pool {name}")


async def create_volume(
    host: HostConnection, pool: str, name: str, capacity: int, fmt: str
) -> StorageVolume:
    """Create an empty volume of ``capacity`` bytes (qcow2 or raw)."""
    return await host.call(
        lambda c: create_volume_checked_blocking(c, pool, name, capacity, fmt),
        f"Could not create volume {name} in pool {pool}",
    )


async def resize_volume(host: HostConnection, pool: str, name: str, capacity: int) -> StorageVolume:
    """Grow a volume to ``capacity`` bytes (refused: shrinking, a running guest's disk)."""
    return await host.call(
        lambda c: resize_volume_blocking(c, pool, name, capacity),
        f"Could not resize volume {name}",
    )


async def delete_volume(host: HostConnection, pool: str, name: str) -> None:
    """Delete a volume (refused: used by a guest, or backing another volume)."""
    await host.call(
        lambda c: delete_volume_checked_blocking(c, pool, name), f"Could not delete volume {name}"
    )


async def upload_volume(
    host: HostConnection,
    pool: str,
    name: str,
    source: Path,
    progress: UploadProgress | None = None,
) -> StorageVolume:
    """Upload a local file as new volume ``name`` through a libvirt stream.

    The pool is refreshed afterwards, so libvirt probes the format (a qcow2 file reads as
    qcow2). Cancelling the task deletes the partial volume.
    """
    if not source.is_file():
        raise VmguiError(f"Could not upload {source}", "there is no such file")
    await StreamUploader().upload(host, pool, name, source, "raw", progress)
    await refresh_pool(host, pool)
    for volume in await fetch_volumes(host, pool):
        if volume.name == name:
            return volume
    raise VmguiError(f"Could not upload {source}", f"volume {name} vanished from pool {pool}")


# -- blocking (worker thread) -------------------------------------------------------------------


def _pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool:
    return conn.storagePoolLookupByName(name)


def pool_snapshot(pool: libvirt.virStoragePool) -> StoragePool:
    """One pool as a snapshot (blocking)."""
    state, capacity, allocation, available = pool.info()
    desc = read_pool_description(pool.XMLDesc(0))
    active = bool(pool.isActive())
    return StoragePool(
        name=pool.name(),
        uuid=pool.UUIDString(),
        type=desc.type,
        state=POOL_STATES.get(int(state), "unknown"),
        autostart=bool(pool.autostart()),
        persistent=bool(pool.isPersistent()),
        capacity=int(capacity),
        allocation=int(allocation),
        available=int(available),
        path=desc.target_path,
        volumes=int(pool.numOfVolumes()) if active else 0,
    )


def list_pools_blocking(conn: libvirt.virConnect) -> list[StoragePool]:
    """Every pool, inactive ones too (blocking)."""
    pools = [pool_snapshot(p) for p in conn.listAllStoragePools(0)]
    return sorted(pools, key=lambda p: p.name)


class _Usage:
    """Which guests use which host paths (disks, and the backing chains of running guests)."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.users: dict[str, set[str]] = {}
        self.running: dict[str, set[str]] = {}
        self.pool_names: dict[str, set[str]] = {}
        resolved: dict[str, str] = {}
        for dom in conn.listAllDomains(0):
            try:
                details = parse_domain_xml(dom.XMLDesc(0))
                active = bool(dom.isActive())
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    continue  # undefined while we read it
                raise
            for disk in details.disks:
                if disk.pool:
                    self.pool_names.setdefault(disk.pool, set()).add(details.name)
                for ref in (disk.source_key, *disk.backing_paths):
                    if not ref:
                        continue
                    if ref not in resolved:
                        resolved[ref] = _resolve(conn, ref)
                    path = resolved[ref]
                    self.users.setdefault(path, set()).add(details.name)
                    if active:
                        self.running.setdefault(path, set()).add(details.name)

    def of(self, path: str) -> tuple[str, ...]:
        return tuple(sorted(self.users.get(path, ())))

    def running_of(self, path: str) -> tuple[str, ...]:
        return tuple(sorted(self.running.get(path, ())))

    def under(self, pool: str, directory: str) -> tuple[str, ...]:
        """Guests with a disk in pool ``pool`` or below ``directory``."""
        names = set(self.pool_names.get(pool, ()))
        if directory:
            prefix = directory.rstrip("/") + "/"
            for path, users in self.users.items():
                if path.startswith(prefix):
                    names |= users
        return tuple(sorted(names))


def _resolve(conn: libvirt.virConnect, ref: str) -> str:
    key = parse_volume_key(ref)
    if key is None:
        return ref
    with contextlib.suppress(libvirt.libvirtError):
        return str(_pool(conn, key[0]).storageVolLookupByName(key[1]).path())
    return ref


def _backing_map(conn: libvirt.virConnect) -> dict[str, str]:
    """Volume path -> its backing file, over every active pool."""
    backing: dict[str, str] = {}
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            volumes = pool.listAllVolumes(0)
        except libvirt.libvirtError:
            continue
        for vol in volumes:
            with contextlib.suppress(libvirt.libvirtError):
                doc = read_volume_backing(vol.XMLDesc(0))
                if doc.backing_path:
                    backing[str(vol.path())] = doc.backing_path
    return backing


def _chain(path: str, backing: dict[str, str]) -> tuple[str, ...]:
    chain: list[str] = []
    current = backing.get(path, "")
    while current and current not in chain and current != path:
        chain.append(current)
        current = backing.get(current, "")
    return tuple(chain)


def _volume(
    vol: libvirt.virStorageVol,
    pool: str,
    usage: _Usage,
    backing: dict[str, str],
    backed_by: dict[str, list[str]],
) -> StorageVolume:
    _type, capacity, allocation = vol.info()
    path = str(vol.path())
    doc = read_volume_backing(vol.XMLDesc(0))
    return StorageVolume(
        pool=pool,
        name=vol.name(),
        path=path,
        format=doc.format,
        capacity=int(capacity),
        allocation=int(allocation),
        backing_chain=_chain(path, backing),
        used_by=usage.of(path),
        backs=tuple(sorted(backed_by.get(path, ()))),
    )


def list_volumes_blocking(conn: libvirt.virConnect, pool_name: str) -> list[StorageVolume]:
    """The volumes of an active pool (blocking).

    Raises:
        VmguiError: the pool is not running.
    """
    pool = _pool(conn, pool_name)
    if not pool.isActive():
        raise VmguiError(
            f"Could not list the volumes of pool {pool_name}",
            f"pool {pool_name} is not running",
            "Start the pool first.",
        )
    usage = _Usage(conn)
    backing = _backing_map(conn)
    backed_by: dict[str, list[str]] = {}
    for child, parent in backing.items():
        backed_by.setdefault(parent, []).append(child)
    volumes = [_volume(v, pool_name, usage, backing, backed_by) for v in pool.listAllVolumes(0)]
    return sorted(volumes, key=lambda v: v.name)


def _find_volume(conn: libvirt.virConnect, pool: str, name: str) -> StorageVolume:
    for volume in list_volumes_blocking(conn, pool):
        if volume.name == name:
            return volume
    raise VmguiError(f"There is no volume {name!r} in pool {pool}", not_found=True)


def _refuse(summary: str, error: ValidationError) -> VmguiError:
    return VmguiError(summary, error.message)


def create_dir_pool_blocking(
    conn: libvirt.virConnect, name: str, path: str, autostart: bool = True
) -> StoragePool:
    """Define, build, start (and autostart) a dir pool; undefine it again on failure."""
    summary = f"Could not create pool {name}"
    try:
        name = validate_guest_name(name)
    except ValidationError as exc:
        raise _refuse(summary, exc) from exc
    if not path.startswith("/"):
        raise VmguiError(summary, f"the pool's directory must be an absolute path (got {path!r})")
    existing = {p.name() for p in conn.listAllStoragePools(0)}
    if name in existing:
        raise VmguiError(summary, f"a pool named {name} exists already")
    pool = conn.storagePoolDefineXML(dir_pool_xml(name, path), 0)
    try:
        pool.build(0)
        pool.create(0)
        if autostart:
            pool.setAutostart(1)
    except libvirt.libvirtError:
        with contextlib.suppress(libvirt.libvirtError):
            if pool.isActive():
                pool.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            pool.undefine()
        raise
    return pool_snapshot(pool)


def _act(conn: libvirt.virConnect, name: str, action: str) -> StoragePool:
    pool = _pool(conn, name)
    if action in ("stop", "delete"):
        desc = read_pool_description(pool.XMLDesc(0))
        users = _Usage(conn).under(name, desc.target_path)
        if pool.isActive():
            users = tuple(sorted(set(users) | set(pool_users(list_volumes_blocking(conn, name)))))
        if users:
            verb = "stopped" if action == "stop" else "deleted"
            raise VmguiError(
                f"Pool {name} cannot be {verb}",
                f"its volumes are used by {', '.join(users)}",
                "Remove those disks from the guests (or delete the guests) first.",
            )
    if action == "start":
        pool.create(0)
    elif action == "stop" or (action == "delete" and pool.isActive()):
        pool.destroy()
    elif action == "refresh":
        pool.refresh(0)
    elif action in ("autostart", "no-autostart"):
        pool.setAutostart(1 if action == "autostart" else 0)
    snapshot = pool_snapshot(pool) if action != "delete" else None
    if action == "delete":
        with contextlib.suppress(libvirt.libvirtError):
            pool.undefine()  # a transient pool is gone once stopped
        return _gone(name)
    assert snapshot is not None
    return snapshot


def _gone(name: str) -> StoragePool:
    return StoragePool(name, "", "", "inactive", False, False, 0, 0, 0, "")


def create_volume_checked_blocking(
    conn: libvirt.virConnect, pool: str, name: str, capacity: int, fmt: str
) -> StorageVolume:
    """Check the inputs, create the volume, return it (blocking)."""
    summary = f"Could not create volume {name} in pool {pool}"
    try:
        name = validate_guest_name(name)
        validate_volume_format(fmt)
    except ValidationError as exc:
        raise _refuse(summary, exc) from exc
    if capacity <= 0:
        raise VmguiError(summary, "the size must be above zero")
    if any(v.name == name for v in list_volumes_blocking(conn, pool)):
        raise VmguiError(summary, f"pool {pool} has a volume named {name} already")
    create_volume_blocking(conn, pool, name, capacity, fmt)
    return _find_volume(conn, pool, name)


def resize_volume_blocking(
    conn: libvirt.virConnect, pool: str, name: str, capacity: int
) -> StorageVolume:
    """Grow a volume after :func:`~vmgui.core.pools.check_resize` (blocking)."""
    volume = _find_volume(conn, pool, name)
    try:
        check_resize(volume, capacity, _Usage(conn).running_of(volume.path))
    except ValidationError as exc:
        raise _refuse(f"Could not resize volume {name}", exc) from exc
    if capacity != volume.capacity:
        _pool(conn, pool).storageVolLookupByName(name).resize(capacity, 0)
    return _find_volume(conn, pool, name)


def delete_volume_checked_blocking(conn: libvirt.virConnect, pool: str, name: str) -> None:
    """Delete a volume unless a guest uses it or it backs another (blocking)."""
    volume = _find_volume(conn, pool, name)
    refusal = volume_delete_refusal(volume)
    if refusal:
        raise VmguiError(f"Volume {name} cannot be deleted", refusal, _delete_hint(volume.used_by))
    _pool(conn, pool).storageVolLookupByName(name).delete(0)


def _delete_hint(users: Iterable[str]) -> str:
    if any(True for _ in users):
        return "Remove the disk from those guests (or delete the guests) first."
    return "Delete the volumes it backs first."
