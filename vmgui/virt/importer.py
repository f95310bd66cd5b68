"""Import a ``.vmgui`` file onto any connected host (layout: :mod:`vmgui.core.vmguifile`).

The file is checked whole before anything is created on the host: its tar index (a truncated
file is refused), the manifest's version, every member's size and every disk's checksum (BLAKE3,
or SHA-256 in a version 1 file). Then
the host: the name (renamed "-2", "-3", ... on a clash unless a name was given), the pool,
the networks (mapped, or refused naming the missing one). Disks go up through sparse upload
streams (runs of zeros are sent as holes) and are checked again on the host (the checksum read
back) before the guest is defined. A :class:`~vmgui.virt.transaction.Transaction`: on
failure or cancel, every volume and the guest it made are removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

import libvirt

from vmgui.core.diskhash import label, new_hasher
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import (
    USER_NETWORK,
    ProgressCallback,
    ProvisionResult,
    Step,
)
from vmgui.core.units import format_bytes
from vmgui.core.validation import ValidationError, validate_guest_name
from vmgui.core.vmguifile import (
    DOMAIN_XML,
    MANIFEST,
    DiskEntry,
    Manifest,
    Member,
    VmguiFileError,
    check_layout,
    parse_manifest,
    read_index,
)
from vmgui.core.xml.build import volume_xml
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.core.xml.host import read_pool
from vmgui.core.xml.mobility import (
    drop_disks,
    eject_media,
    map_networks,
    networks_of,
    point_disks,
    portable_xml,
    rename_guest_files,
    set_identity,
)
from vmgui.virt.connection import HostConnection
from vmgui.virt.moveflow import watch_hosts
from vmgui.virt.storage import unless_missing
from vmgui.virt.transaction import Transaction
from vmgui.virt.volstream import (
    Control,
    disk_reporter,
    run_transfer,
    upload_blocking,
    volume_digest_blocking,
)

_HASH_CHUNK = 4 << 20


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A ``.vmgui`` file whose layout and checksums are verified."""

    path: Path
    manifest: Manifest
    members: dict[str, Member]
    domain_xml: str


def check_file(path: Path, progress: Callable[[int, int], None] | None = None) -> CheckedFile:
    """Verify a ``.vmgui`` file (blocking local I/O: run it on a thread).

    Raises:
        VmguiError: the file is missing, truncated, corrupt or of an unknown version.
    """
    summary = f"{path.name} cannot be imported"
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            members = read_index(handle, size)
            manifest = parse_manifest(_read(handle, members[MANIFEST]))
            check_layout(manifest, members)
            xml = _read(handle, members[DOMAIN_XML]).decode("utf-8")
            parse_domain_xml(xml)
            total = manifest.total_size
            done = 0
            for disk in manifest.disks:
                member = members[disk.member]
                digest = new_hasher(disk.algorithm)
                handle.seek(member.offset)
                left = member.size
                while left:
                    data = handle.read(min(_HASH_CHUNK, left))
                    if not data:
                        raise VmguiFileError(f"{disk.member} ends early")
                    digest.update(data)
                    left -= len(data)
                    done += len(data)
                    if progress is not None:
                        progress(done, total)
                if digest.hexdigest() != disk.checksum:
                    raise VmguiFileError(
                        f"{disk.member} is corrupt: its {label(disk.algorithm)} is "
                        f"{digest.hexdigest()}, the manifest says {disk.checksum}"
                    )
    except VmguiFileError as exc:
        raise VmguiError(
            summary, str(exc), "The file is damaged: export the guest again."
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise VmguiError(summary, str(exc)) from None
    return CheckedFile(path, manifest, members, xml)


def _read(handle: IO[bytes], member: Member) -> bytes:
    handle.seek(member.offset)
    return handle.read(member.size)


@dataclass(frozen=True, slots=True)
class _HostFacts:
    name: str
    uuid_taken: bool
    pool_path: str
    missing_networks: tuple[str, ...]


async def import_guest(
    host: HostConnection,
    path: Path,
    *,
    name: str = "",
    pool: str = "default",
    start: bool = False,
    new_identity: bool = False,
    network_map: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ProvisionResult:
    """Import the guest in ``path`` onto ``host``.

    Args:
        host: where the guest goes.
        path: the ``.vmgui`` file.
        name: the guest's name there ("" keeps the file's, renamed on a clash).
        pool: the storage pool for its disks.
        start: start it afterwards.
        new_identity: a new UUID and new MAC addresses (a copy beside the original).
        network_map: source network -> destination network ("user" for user-mode).
        progress: progress reports.
        clock: for timings.

    Raises:
        ProvisionError: naming the step (VALIDATE for a bad file or a missing network: then
            nothing was created); everything created is removed first.
        asyncio.CancelledError: after the same clean-up.
    """
    txn = Transaction(host, f"Could not import {path.name}", progress, clock=clock)
    flow = _Import(txn, path, name, pool, start, new_identity, dict(network_map or {}))
    return await flow.run()


class _Import:
    def __init__(
        self,
        txn: Transaction,
        path: Path,
        name: str,
        pool: str,
        start: bool,
        new_identity: bool,
        network_map: dict[str, str],
    ) -> None:
        self.txn = txn
        self.host = txn.host
        self.path = path
        self.wanted = name
        self.pool = pool
        self.start = start
        self.new_identity = new_identity
        self.network_map = network_map
        self.checked: CheckedFile | None = None
        self.facts = _HostFacts("", False, "", ())
        self.volumes: dict[str, str] = {}
        self.uuid = ""
        self.warnings: list[str] = []

    async def run(self) -> ProvisionResult:
        timings = await self.txn.run(
            [
                (Step.VALIDATE, self._validate),
                (Step.UPLOAD, watch_hosts(self._upload, (self.host,), "the file is intact")),
                (Step.VERIFY, watch_hosts(self._verify, (self.host,), "the file is intact")),
                (Step.DEFINE, self._define),
                (Step.START, self._start),
            ]
        )
        self.host.request_refresh(self.uuid)
        assert self.checked is not None
        details = parse_domain_xml(self.checked.domain_xml)
        writable = [d for d in self.checked.manifest.disks if not d.readonly]
        seeds = [d for d in self.checked.manifest.disks if d.readonly]
        return ProvisionResult(
            host_uri=self.host.uri,
            name=self.facts.name,
            uuid=self.uuid,
            virt_type=details.domain_type,
            disk_path=self.volumes.get(writable[0].target, "") if writable else "",
            base_path="",
            seed_path=self.volumes.get(seeds[0].target, "") if seeds else "",
            started=self.start,
            timings=timings,
            warnings=tuple(self.warnings),
        )

    async def _validate(self) -> str:
        if self.wanted:
            try:
                validate_guest_name(self.wanted)
            except ValidationError as exc:
                raise VmguiError(exc.message) from None

        def hashed(done: int, total: int) -> None:
            loop.call_soon_threadsafe(
                self.txn.report,
                f"Checking the file: {format_bytes(done)} of {format_bytes(total)}",
                done / total if total else None,
                (done, total, None, None),
            )

        loop = asyncio.get_running_loop()
        self.checked = await asyncio.to_thread(check_file, self.path, hashed)
        manifest, xml = self.checked.manifest, self.checked.domain_xml
        mapped = map_networks(xml, self.network_map)
        wanted, pool = self.wanted, self.pool
        stem = wanted or manifest.guest
        uuid = parse_domain_xml(xml).uuid
        suffixes = [_volume_suffix(d.target, d.format, d.readonly) for d in manifest.disks]
        self.facts = await self.host.call(
            lambda c: _host_facts_blocking(c, stem, bool(wanted), uuid, pool, mapped, suffixes),
            f"Could not check {self.host.display_name}",
        )
        if self.facts.missing_networks:
            missing = self.facts.missing_networks[0]
            raise VmguiError(
                f"{self.host.display_name} has no network {missing!r}",
                hint=f"Map it to another network or to user-mode networking "
                f"(--network-map {missing}=NETWORK or {missing}={USER_NETWORK}).",
            )
        if self.facts.name != stem:
            self.warnings.append(f"{stem} exists on the host: imported as {self.facts.name}")
        for note in manifest.left_out:
            self.warnings.append(f"not included in the file: {note}")
        return ""

    async def _upload(self) -> str:
        assert self.checked is not None
        manifest = self.checked.manifest
        done_before = 0
        with self.path.open("rb") as handle:
            for disk in manifest.disks:
                suffix = _volume_suffix(disk.target, disk.format, disk.readonly)
                vol_name = self.facts.name + suffix
                dest = await self.txn.create_volume(
                    partial(_empty_volume_blocking, self.pool, vol_name),
                    f"Could not create {vol_name}",
                )
                self.volumes[disk.target] = dest
                member = self.checked.members[disk.member]
                digest = await self._upload_disk(
                    handle, disk, dest, member, done_before, manifest.total_size
                )
                if digest != disk.checksum:
                    raise VmguiError(f"{disk.member} changed while it was uploaded")
                done_before += member.size
        return ""

    async def _upload_disk(
        self, handle: IO[bytes], disk: DiskEntry, dest: str, member: Member, before: int, total: int
    ) -> str:
        report = disk_reporter(self.txn.report, disk.target, before, total)

        def send(conn: libvirt.virConnect, control: Control) -> str:
            return upload_blocking(
                conn, dest, handle, member.offset, member.size, control, disk.algorithm
            )

        return await run_transfer(
            self.host, send, f"Could not upload {disk.target}", report, member.size
        )

    async def _verify(self) -> str:
        assert self.checked is not None
        pool = self.pool
        await self.host.call(
            lambda c: c.storagePoolLookupByName(pool).refresh(0), "Could not refresh the pool"
        )
        for disk in self.checked.manifest.disks:
            path = self.volumes[disk.target]

            def read(
                conn: libvirt.virConnect, control: Control, p: str = path, a: str = disk.algorithm
            ) -> str:
                return volume_digest_blocking(conn, p, control, a)

            digest = await run_transfer(self.host, read, f"Could not verify {disk.target}")
            if digest != disk.checksum:
                raise VmguiError(
                    f"The imported {disk.target} differs from the file",
                    f"{label(disk.algorithm)} {digest} on the host, {disk.checksum} in the file",
                )
            if disk.format == "qcow2":
                capacity = await self.host.call(partial(_capacity, path), f"Could not read {path}")
                if capacity != disk.virtual_size:
                    raise VmguiError(
                        f"The imported {disk.target} has {capacity} bytes, "
                        f"the file says {disk.virtual_size}"
                    )
        return ""

    async def _define(self) -> str:
        assert self.checked is not None
        manifest = self.checked.manifest
        xml = map_networks(portable_xml(self.checked.domain_xml), self.network_map)
        kept = {d.target for d in manifest.disks}
        absent = [d for d in parse_domain_xml(xml).disks if d.source_key and d.target not in kept]
        xml = drop_disks(xml, [d.target for d in absent if d.device != "cdrom"])
        xml = eject_media(xml, [d.target for d in absent if d.device == "cdrom"])
        xml = point_disks(
            xml, {d.target: (self.volumes[d.target], d.format) for d in manifest.disks}
        )
        new_uuid = self.new_identity or self.facts.uuid_taken
        xml = set_identity(xml, self.facts.name, new_uuid=new_uuid, new_macs=self.new_identity)
        xml = rename_guest_files(xml, manifest.guest, self.facts.name, self.facts.pool_path)
        name = self.facts.name
        self.uuid = await self.txn.create_domain(
            lambda c: str(c.defineXML(xml).UUIDString()), f"Could not define {name}", name
        )
        return ""

    async def _start(self) -> str:
        if not self.start:
            return "skipped"
        uuid = self.uuid
        await self.host.call(
            lambda c: c.lookupByUUIDString(uuid).create(), f"Could not start {self.facts.name}"
        )
        return ""


def _host_facts_blocking(
    conn: libvirt.virConnect,
    stem: str,
    exact: bool,
    uuid: str,
    pool_name: str,
    xml: str,
    suffixes: list[str],
) -> _HostFacts:
    taken = {str(d.name()) for d in conn.listAllDomains(0)}
    if exact and stem in taken:
        raise VmguiError(f"A guest named {stem!r} already exists", hint="Choose another name.")
    pool = unless_missing(
        lambda: conn.storagePoolLookupByName(pool_name), libvirt.VIR_ERR_NO_STORAGE_POOL
    )
    if pool is None or not pool.isActive():
        raise VmguiError(f"There is no active storage pool {pool_name!r}")
    pool.refresh(0)
    volumes = set(pool.listVolumes())
    name, n = stem, 1
    while name in taken or any(name + suffix in volumes for suffix in suffixes):
        if exact:
            raise VmguiError(
                f"Pool {pool_name!r} already has volumes of a guest named {stem}",
                hint="Choose another name.",
            )
        n += 1
        name = f"{stem}-{n}"
    uuid_taken = (
        unless_missing(lambda: conn.lookupByUUIDString(uuid), libvirt.VIR_ERR_NO_DOMAIN) is not None
    )
    have = set(conn.listNetworks()) | set(conn.listDefinedNetworks())
    missing = tuple(n for n in networks_of(xml) if n not in have)
    return _HostFacts(name, uuid_taken, read_pool(pool.XMLDesc(0)).target_path, missing)


def _volume_suffix(target: str, fmt: str, readonly: bool) -> str:
    return "-seed.iso" if readonly else f"-{target}.{fmt}"


def _empty_volume_blocking(pool: str, name: str, conn: libvirt.virConnect) -> str:
    # Empty and raw: the upload writes the file as it is, and a refresh re-probes its format.
    xml = volume_xml(name, 0, "raw")
    return str(conn.storagePoolLookupByName(pool).createXML(xml, 0).path())


def _capacity(path: str, conn: libvirt.virConnect) -> int:
    return int(conn.storageVolLookupByPath(path).info()[1])
