"""Clone any shut-off guest: a full copy (libvirt copies the volumes on the host) or a linked one.

A full clone gets a standalone qcow2 copy of each writable disk, made on the host by
``virStoragePool.createXMLFrom`` (so it works on remote hosts; backing chains are flattened).
libvirt has no progress API for it: the new volume's allocation is polled, and a cancel takes
effect after the volume being copied. A linked clone gets a qcow2 overlay on each writable
disk (the source's disks become its backing files: the source must then stay unchanged). The
clone has a new name, UUID and MAC addresses; a source with a cloud-init seed gives the clone a
seed of its own with the new host name. Everything runs on a
:class:`~vmgui.virt.transaction.Transaction`: on failure or cancel, what the clone made is
removed; the source is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import libvirt

from vmgui.core.cloudinit import build_seed_iso, guest_hostname
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import ProgressCallback, ProvisionResult, Step
from vmgui.core.seedclone import SeedReadError, read_seed_iso, rehost_seed
from vmgui.core.units import format_bytes
from vmgui.core.validation import ValidationError, validate_guest_name
from vmgui.core.xml.build import volume_xml
from vmgui.core.xml.domain import is_seed_disk, parse_domain_xml
from vmgui.core.xml.edit import clone_disks
from vmgui.core.xml.host import read_volume
from vmgui.virt import inspect
from vmgui.virt.clonerun import CloneRun, create_overlay_blocking
from vmgui.virt.connection import HostConnection
from vmgui.virt.storage import StreamUploader, Uploader, call_keeping, unless_missing
from vmgui.virt.transaction import Transaction

#: The largest seed read back from the host (a NoCloud seed is a few hundred KiB).
SEED_LIMIT = 16 << 20


@dataclass(frozen=True, slots=True)
class SourceDisk:
    """One writable disk of the source guest.

    Attributes:
        target: the device name ("vda").
        path: the source volume's path.
        fmt: its format.
        capacity: its virtual size in bytes.
        used: bytes its chain holds (the copy's expected size, for progress).
        pool: the pool the copy or overlay goes into.
    """

    target: str
    path: str
    fmt: str
    capacity: int
    used: int
    pool: str


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """The source guest as a clone needs it (read in one worker call)."""

    xml: str
    disks: tuple[SourceDisk, ...]
    seed_path: str
    seed_pool: str


async def clone_guest(
    host: HostConnection,
    source_uuid: str,
    name: str,
    *,
    linked: bool = False,
    start: bool = False,
    progress: ProgressCallback | None = None,
    uploader: Uploader | None = None,
    poll_seconds: float = 0.25,
    clock: Callable[[], float] = time.perf_counter,
) -> ProvisionResult:
    """Clone the shut-off guest ``source_uuid`` as ``name`` on the same host.

    Args:
        host: the source's host.
        source_uuid: the guest to clone (shut off).
        name: the clone's name.
        linked: overlays on the source's disks instead of full copies.
        start: start the clone.
        progress: progress reports (the copy: bytes, speed, ETA).
        uploader: uploads the new seed (default: stream upload).
        poll_seconds: how often a full copy's progress is read.
        clock: for timings.

    Raises:
        ProvisionError: naming the step; everything the clone made is removed first.
        asyncio.CancelledError: after the same clean-up.
    """
    txn = Transaction(host, f"Could not clone {name}", progress, clock=clock)
    flow = _Clone(txn, source_uuid, name, linked, start, uploader or StreamUploader())
    flow.poll_seconds = poll_seconds
    return await flow.run()


class _Clone(CloneRun):
    def __init__(
        self,
        txn: Transaction,
        source_uuid: str,
        name: str,
        linked: bool,
        start: bool,
        uploader: Uploader,
    ) -> None:
        super().__init__(txn, name, start, uploader)
        self.source_uuid = source_uuid
        self.linked = linked
        self.poll_seconds = 0.25
        self.facts = SourceFacts("", (), "", "")

    @property
    def disks_step(self) -> Step:
        """Overlays for a linked clone, copies for a full one."""
        return Step.OVERLAY if self.linked else Step.COPY

    async def _validate(self) -> str:
        try:
            validate_guest_name(self.name)
        except ValidationError as exc:
            raise VmguiError(exc.message) from None
        uuid, name, suffix = self.source_uuid, self.name, "qcow2"
        self.facts = await self.host.call(
            lambda c: source_facts_blocking(c, uuid, name, suffix), "Could not read the source"
        )
        self.source_xml = self.facts.xml
        if self.linked and self.facts.disks:
            self.base_path = self.facts.disks[0].path
        if self.linked:
            self.warnings.append(
                "a linked clone reads its source's disks: keep the source shut off and unchanged"
            )
        return ""

    async def _make_disks(self) -> str:
        for disk in self.facts.disks:
            vol_name = f"{self.name}-{disk.target}.qcow2"
            summary = f"Could not create the disk {vol_name}"
            if self.linked:
                self.disks[disk.target] = await self.txn.create_volume(
                    partial(create_overlay_blocking, disk, vol_name), summary
                )
                continue
            watcher = asyncio.ensure_future(self._watch_copy(disk, vol_name))
            try:
                self.disks[disk.target] = await call_keeping(
                    self.host,
                    partial(full_copy_blocking, disk.pool, disk.path, vol_name, disk.capacity),
                    summary,
                    self.txn.created_volume,
                    slow=True,
                )
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            path = self.disks[disk.target]
            size = await self.host.call(partial(_allocation_at, path), f"Could not read {path}")
            self.txn.report(
                f"{disk.target}: {format_bytes(size)} copied", 1.0, (size, size, None, 0.0)
            )
        return ""

    async def _watch_copy(self, disk: SourceDisk, vol_name: str) -> None:
        t0 = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_seconds)
            with contextlib.suppress(VmguiError):
                done = await self.host.call(
                    partial(_allocation, disk.pool, vol_name), "progress", slow=False
                )
                total = max(disk.used, done, 1)
                elapsed = time.monotonic() - t0
                speed = done / elapsed if elapsed > 0 else None
                eta = (total - done) / speed if speed else None
                self.txn.report(
                    f"{disk.target}: {format_bytes(done)} of about {format_bytes(total)}",
                    min(done / total, 1.0),
                    (done, total, speed, eta),
                )

    async def _seed(self) -> str:
        if not self.facts.seed_path:
            return "skipped"
        path = self.facts.seed_path
        data = await self.host.call(
            lambda c: read_volume_bytes_blocking(c, path, SEED_LIMIT), f"Could not read {path}"
        )
        try:
            files = rehost_seed(read_seed_iso(data), guest_hostname(self.name))
        except SeedReadError as exc:
            self.warnings.append(f"the source's seed could not be read ({exc}); not copied")
            return "unreadable"
        iso = await asyncio.to_thread(build_seed_iso, files)
        await self.upload_seed(self.facts.seed_pool, iso)
        return ""


# -- on the worker -------------------------------------------------------------------------------


def source_facts_blocking(
    conn: libvirt.virConnect, uuid: str, name: str, suffix: str
) -> SourceFacts:
    """Read the source of a clone and check that ``name`` and its volumes are free.

    Raises:
        VmguiError: the name is taken, the source runs, or a disk is not in a pool.
    """
    if unless_missing(lambda: conn.lookupByName(name), libvirt.VIR_ERR_NO_DOMAIN) is not None:
        raise VmguiError(f"A guest named {name!r} already exists", hint="Choose another name.")
    dom = inspect.lookup(conn, uuid)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    details = parse_domain_xml(xml)
    if dom.isActive():
        raise VmguiError(
            f"{details.name} is running",
            "a clone is made from a shut-off guest, whose disks do not change meanwhile",
            "Shut it down first.",
        )
    disks = []
    for disk in clone_disks(xml):
        vol = _volume_of(conn, disk.path, disk.pool, disk.volume, disk.target)
        pool = vol.storagePoolLookupByVolume()
        vol_name = f"{name}-{disk.target}.{suffix}"
        if vol_name in pool.listVolumes():
            raise VmguiError(
                f"Pool {pool.name()!r} already has a volume named {vol_name}",
                hint="Choose another name.",
            )
        disks.append(
            SourceDisk(
                disk.target,
                str(vol.path()),
                disk.fmt,
                int(vol.info()[1]),
                chain_allocation_blocking(conn, vol),
                str(pool.name()),
            )
        )
    seed_path = seed_pool = ""
    for disk_info in details.disks:
        if is_seed_disk(disk_info):
            seed = unless_missing(
                partial(conn.storageVolLookupByPath, disk_info.path),
                libvirt.VIR_ERR_NO_STORAGE_VOL,
            )
            if seed is not None:
                seed_path, seed_pool = (
                    str(seed.path()),
                    str(seed.storagePoolLookupByVolume().name()),
                )
            break
    return SourceFacts(xml, tuple(disks), seed_path, seed_pool)


def _volume_of(
    conn: libvirt.virConnect, path: str, pool: str, volume: str, target: str
) -> libvirt.virStorageVol:
    if pool:
        return conn.storagePoolLookupByName(pool).storageVolLookupByName(volume)
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        raise VmguiError(
            f"The disk {target} is not a volume in a storage pool",
            path,
            "Move the disk into a storage pool to copy it.",
        ) from exc


def chain_allocation_blocking(conn: libvirt.virConnect, vol: libvirt.virStorageVol) -> int:
    """Bytes allocated by a volume and its backing chain (the volumes libvirt knows)."""
    total = 0
    seen: set[str] = set()
    current: libvirt.virStorageVol | None = vol
    while current is not None and str(current.path()) not in seen:
        seen.add(str(current.path()))
        total += int(current.info()[2])
        backing = read_volume(current.XMLDesc(0)).backing_path
        current = None
        if backing:
            current = unless_missing(
                partial(conn.storageVolLookupByPath, backing), libvirt.VIR_ERR_NO_STORAGE_VOL
            )
    return total


def full_copy_blocking(
    pool: str, source_path: str, name: str, capacity: int, conn: libvirt.virConnect
) -> str:
    """A standalone qcow2 copy of ``source_path`` (its chain flattened) in ``pool``."""
    source = conn.storageVolLookupByPath(source_path)
    xml = volume_xml(name, capacity, "qcow2")
    return str(conn.storagePoolLookupByName(pool).createXMLFrom(xml, source, 0).path())


def _allocation(pool: str, name: str, conn: libvirt.virConnect) -> int:
    target = conn.storagePoolLookupByName(pool)
    vol = unless_missing(
        lambda: target.storageVolLookupByName(name), libvirt.VIR_ERR_NO_STORAGE_VOL
    )
    return int(vol.info()[2]) if vol is not None else 0


def _allocation_at(path: str, conn: libvirt.virConnect) -> int:
    return int(conn.storageVolLookupByPath(path).info()[2])


def read_volume_bytes_blocking(conn: libvirt.virConnect, path: str, limit: int) -> bytes:
    """The whole content of a small volume (at most ``limit`` bytes) through a stream.

    Raises:
        VmguiError: the volume is larger than ``limit``.
    """
    vol = conn.storageVolLookupByPath(path)
    size = int(vol.info()[1])
    if size > limit:
        raise VmguiError(f"{path} is too large to read ({format_bytes(size)})")
    stream = conn.newStream(0)
    chunks: list[bytes] = []
    try:
        vol.download(stream, 0, size, 0)
        while True:
            data = stream.recv(256 * 1024)
            if not isinstance(data, bytes) or not data:
                break
            chunks.append(data)
        stream.finish()
    except libvirt.libvirtError:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    return b"".join(chunks)
