"""Export a shut-off guest into one ``.vmgui`` file (layout: :mod:`vmgui.core.vmguifile`).

Works over any connection, remote ones too: disks leave the host through libvirt's sparse
download stream (holes are not sent, and stay holes in the file); on this machine a volume's
file is read directly when it can be (:mod:`~vmgui.virt.filecopy`, the same bytes, about
twice as fast). ``vol.download`` streams a qcow2 *file*, not its chain,
so a disk with a backing file is first flattened into a temporary full copy on the host
(``createXMLFrom``), streamed, then deleted. The read-only cloud-init seed goes in as raw;
installer ISOs (CD-ROMs) are left out, with a note in the manifest. A running guest is
refused: its disks change while they are read (shut it down, or export a clone).

The export is a :class:`~vmgui.virt.transaction.Transaction`: on failure or cancel the
temporary copies and the partial file are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from io import SEEK_CUR
from pathlib import Path
from typing import IO

import libvirt

from vmgui.core.diskhash import DISK_ALGORITHM
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import ProgressCallback, Step, StepTiming
from vmgui.core.vmguifile import (
    DOMAIN_XML,
    END_OF_ARCHIVE,
    MANIFEST,
    DiskEntry,
    Manifest,
    disk_member,
    manifest_json,
    member_header,
    member_padding,
)
from vmgui.core.xml.domain import is_seed_disk, parse_domain_xml
from vmgui.core.xml.host import read_volume
from vmgui.core.xml.mobility import FileStamp, networks_of, volume_stamp
from vmgui.virt import inspect
from vmgui.virt.clone import full_copy_blocking
from vmgui.virt.connection import HostConnection
from vmgui.virt.filecopy import copy_file_blocking, is_local_uri, open_if_same
from vmgui.virt.storage import call_keeping, delete_volume_blocking
from vmgui.virt.transaction import Transaction
from vmgui.virt.volstream import (
    Control,
    disk_reporter,
    download_blocking,
    run_controlled,
    run_transfer,
)


@dataclass(frozen=True, slots=True)
class ExportDisk:
    """A disk to export: where it is and whether it needs flattening first."""

    target: str
    path: str
    format: str
    virtual_size: int
    backed: bool
    readonly: bool
    pool: str


@dataclass(frozen=True, slots=True)
class ExportFacts:
    """The guest as an export reads it."""

    name: str
    xml: str
    disks: tuple[ExportDisk, ...]
    left_out: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        path: the ``.vmgui`` file.
        manifest: its manifest.
        file_size: the file's size in bytes.
        timings: per step.
    """

    path: Path
    manifest: Manifest
    file_size: int
    timings: tuple[StepTiming, ...]


async def export_guest(
    host: HostConnection,
    uuid: str,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.perf_counter,
    direct: bool = True,
) -> ExportResult:
    """Write the shut-off guest ``uuid`` into the file ``path`` (which must not exist).

    Args:
        host: the guest's host.
        uuid: the guest.
        path: the ``.vmgui`` file to write.
        progress: progress reports.
        clock: for timings.
        direct: when the host is this machine, read a volume's file directly where it can
            (:mod:`~vmgui.virt.filecopy`); False always streams through libvirt.

    Raises:
        ProvisionError: naming the step; temporary copies and the partial file are removed.
        asyncio.CancelledError: after the same clean-up.
    """
    txn = Transaction(host, f"Could not export to {path.name}", progress, clock=clock)
    return await _Export(txn, uuid, path, direct and is_local_uri(host.uri)).run()


class _Export:
    def __init__(self, txn: Transaction, uuid: str, path: Path, direct: bool) -> None:
        self.txn = txn
        self.host = txn.host
        self.uuid = uuid
        self.path = path
        self.direct = direct
        self.stamps: dict[str, FileStamp | None] = {}
        self.partial = path.with_name(f".{path.name}.part")
        self.facts = ExportFacts("", "", (), ())
        self.sources: dict[str, str] = {}  # target -> the volume to stream
        self.temporary: list[str] = []
        self.manifest: Manifest | None = None

    async def run(self) -> ExportResult:
        timings = await self.txn.run(
            [
                (Step.VALIDATE, self._validate),
                (Step.COPY, self._flatten),
                (Step.EXPORT, self._stream),
                (Step.CLEANUP, self._cleanup),
            ]
        )
        assert self.manifest is not None
        return ExportResult(self.path, self.manifest, self.path.stat().st_size, timings)

    async def _validate(self) -> str:
        if self.path.exists():
            raise VmguiError(f"{self.path} already exists", hint="Choose another file name.")
        if not self.path.parent.is_dir():
            raise VmguiError(f"The folder {self.path.parent} does not exist")
        uuid = self.uuid
        self.facts = await self.host.call(
            lambda c: export_facts_blocking(c, uuid), "Could not read the guest"
        )
        return ""

    async def _flatten(self) -> str:
        note = "skipped"
        for disk in self.facts.disks:
            if not disk.backed:
                self.sources[disk.target] = disk.path
                continue
            name = f"vmgui-export-{self.facts.name}-{disk.target}-{int(time.time())}.qcow2"
            self.txn.report(f"Flattening {disk.target} on the host")
            copy = await call_keeping(
                self.host,
                partial(full_copy_blocking, disk.pool, disk.path, name, disk.virtual_size),
                f"Could not flatten {disk.target}",
                self.txn.created_volume,
                slow=True,
            )
            self.temporary.append(copy)
            self.sources[disk.target] = copy
            note = ""
        return note

    async def _stream(self) -> str:
        sizes = {}
        for disk in self.facts.disks:
            source = self.sources[disk.target]
            sizes[disk.target], self.stamps[disk.target] = await self.host.call(
                partial(_source_facts, source), f"Could not read {source}"
            )
        total = sum(sizes.values())
        self.txn.on_rollback(f"file {self.partial}", self._remove_partial)
        now = int(time.time())
        entries: list[DiskEntry] = []
        with self.partial.open("xb") as out:
            xml = self.facts.xml.encode()
            out.write(member_header(DOMAIN_XML, len(xml), now) + xml + member_padding(len(xml)))
            done_before = 0
            for disk in self.facts.disks:
                member = disk_member(disk.target, disk.format)
                size = sizes[disk.target]
                digest = await self._stream_disk(out, disk, member, size, now, done_before, total)
                entries.append(
                    DiskEntry(
                        disk.target,
                        member,
                        disk.format,
                        disk.virtual_size,
                        size,
                        digest,
                        disk.readonly,
                        DISK_ALGORITHM,
                    )
                )
                done_before += size
            self.manifest = Manifest(
                guest=self.facts.name,
                source_host=self.host.uri,
                created=now,
                disks=tuple(entries),
                networks=networks_of(self.facts.xml),
                left_out=self.facts.left_out,
            )
            data = manifest_json(self.manifest)
            out.write(member_header(MANIFEST, len(data), now) + data + member_padding(len(data)))
            out.write(END_OF_ARCHIVE)
        self.partial.rename(self.path)
        self.txn.on_rollback(f"file {self.path}", self._remove_file)
        return ""

    async def _stream_disk(
        self,
        out: IO[bytes],
        disk: ExportDisk,
        member: str,
        size: int,
        now: int,
        done_before: int,
        total: int,
    ) -> str:
        out.write(member_header(member, size, now))
        start = out.tell()
        source = self.sources[disk.target]

        report = disk_reporter(self.txn.report, disk.target, done_before, total)

        def fetch(conn: libvirt.virConnect, control: Control) -> str:
            def skip(length: int) -> None:
                out.seek(length, SEEK_CUR)  # a hole in the file too

            def write(data: bytes) -> None:
                out.write(data)

            return download_blocking(conn, source, write, control, skip)

        local = None
        if self.direct:
            local = await asyncio.to_thread(open_if_same, source, self.stamps[disk.target])
        if local is None:
            digest = await run_transfer(
                self.host, fetch, f"Could not read {disk.target}", report, size
            )
        else:
            try:
                digest = await run_controlled(
                    lambda control: asyncio.to_thread(
                        copy_file_blocking, local, size, out, control
                    ),
                    report,
                    size,
                )
            finally:
                os.close(local)
        written = out.tell() - start
        if written != size:
            raise VmguiError(
                f"The host sent {written} bytes of {disk.target}, {size} were expected",
                hint="The volume changed while it was read; try again.",
            )
        out.write(member_padding(size))
        return digest

    async def _cleanup(self) -> str:
        for path in self.temporary:
            await self.host.call(
                partial(delete_volume_blocking, path=path), f"Could not delete {path}"
            )
        return "" if self.temporary else "skipped"

    async def _remove_partial(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    async def _remove_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _source_facts(path: str, conn: libvirt.virConnect) -> tuple[int, FileStamp | None]:
    """The bytes a volume's stream carries and what its host says about its file."""
    vol = conn.storageVolLookupByPath(path)
    size = int(vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])
    return size, volume_stamp(str(vol.XMLDesc(0)))


def export_facts_blocking(conn: libvirt.virConnect, uuid: str) -> ExportFacts:
    """Read what an export needs of guest ``uuid``.

    Raises:
        VmguiError: the guest runs, or a disk is not a volume in a storage pool.
    """
    dom = inspect.lookup(conn, uuid)
    xml = str(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    details = parse_domain_xml(xml)
    if dom.isActive():
        raise VmguiError(
            f"{details.name} is running",
            "an export reads the disks, which must not change meanwhile",
            "Shut it down first (or export a clone of it).",
        )
    disks: list[ExportDisk] = []
    left_out: list[str] = []
    for disk in details.disks:
        if not disk.source_key:
            continue
        if disk.device == "cdrom" or (disk.readonly and not is_seed_disk(disk)):
            note = f"{disk.target}: {disk.source_key} (read-only {disk.device}, not copied)"
            if disk.device == "cdrom":
                note += "; an import keeps the drive, empty"
            left_out.append(note)
            continue
        try:
            if disk.source_type == "volume":
                vol = conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
            else:
                vol = conn.storageVolLookupByPath(disk.path)
        except libvirt.libvirtError as exc:
            raise VmguiError(
                f"The disk {disk.target} is not a volume in a storage pool",
                disk.source_key,
                "Move it into a storage pool to export it.",
            ) from exc
        doc = read_volume(vol.XMLDesc(0))
        fmt = "raw" if disk.readonly else (doc.format or disk.driver_type or "raw")
        backed = bool(doc.backing_path)
        if fmt not in ("qcow2", "raw"):
            raise VmguiError(f"The disk {disk.target} is {fmt}: only qcow2 and raw are exported")
        disks.append(
            ExportDisk(
                disk.target,
                str(vol.path()),
                "qcow2" if backed else fmt,
                int(vol.info()[1]),
                backed,
                disk.readonly,
                str(vol.storagePoolLookupByVolume().name()),
            )
        )
    return ExportFacts(details.name, xml, tuple(disks), tuple(left_out))
