"""Move a guest to another host: live with its storage (running guests) or offline (shut-off
guests, :mod:`~vmgui.virt.offline`).

Live migration is client-managed ``migrate3`` with vmgui's own connection to the destination
(no PEER2PEER), flags ``LIVE|PERSIST_DEST|NON_SHARED_DISK`` and never ``UNDEFINE_SOURCE``:
vmgui removes the source itself once the destination guest is verified (defined, persistent,
running, disks of the same virtual sizes). The migration address is given explicitly
(``VIR_MIGRATE_PARAM_URI``, :func:`~vmgui.core.migration.migration_uri`). libvirt pre-creates
each disk in the destination pool at the disk's own folder (the check refuses a move without
one); read-only disks (the seed, ISOs), which libvirt does not copy, are streamed there
first, or left behind on request (:class:`~vmgui.virt.moveflow.MoveFlow`). Progress comes
from ``jobStats()``; a cancel calls ``abortJob()``: the guest keeps running on the source
and what the destination made is deleted. The pre-check and the clean-up are
:mod:`~vmgui.virt.movefacts`'.

``migrate3`` needs both connections in one call: it runs on the source's second thread with
the destination's ``virConnect`` borrowed (libvirt connections accept calls from any thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.leftovers import guest_leftover, volume_leftover
from vmgui.core.migration import MoveResult, migration_uri
from vmgui.core.model import ConnectionState
from vmgui.core.provisioning import ProgressCallback, Step
from vmgui.core.units import format_bytes, format_rate
from vmgui.core.validation import parse_uri
from vmgui.core.xml.mobility import disk_xml_of, eject_media, file_chardev_paths, map_networks
from vmgui.virt.connection import HostConnection
from vmgui.virt.moveflow import MoveFlow, MoveOptions
from vmgui.virt.offline import move_offline
from vmgui.virt.provhost import remove_domain_blocking
from vmgui.virt.storage import delete_volume_blocking, refresh_pools_blocking
from vmgui.virt.transaction import Transaction

LIVE_FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_NON_SHARED_DISK
)


async def move_guest(
    src: HostConnection,
    dst: HostConnection,
    uuid: str,
    *,
    offline: bool = False,
    keep_source: bool = False,
    network_map: Mapping[str, str] | None = None,
    detach_readonly: bool = False,
    pool: str = "default",
    bandwidth_mib: int = 0,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> MoveResult:
    """Move guest ``uuid`` from ``src`` to ``dst``: live when it runs, offline when shut off.

    Args:
        src: the guest's host.
        dst: the destination (connected).
        uuid: the guest.
        offline: insist on an offline move (refused for a running guest).
        keep_source: keep the source's definition and disks after the move.
        network_map: source network -> destination network ("user": user-mode).
        detach_readonly: drop read-only disks instead of carrying them.
        pool: an offline move's pool for disks whose folder has no pool on ``dst``.
        bandwidth_mib: a live migration's bandwidth cap in MiB/s (0: none).
        progress: progress reports.
        clock: for timings.

    Raises:
        ProvisionError: naming the step; what the destination got is removed, the source
            keeps the guest.
        asyncio.CancelledError: after the same clean-up.
    """
    mapping = dict(network_map or {})
    state = await src.call(
        lambda c: bool(c.lookupByUUIDString(uuid).isActive()), "Could not read the guest"
    )
    if offline and state:
        raise VmguiError(
            "An offline move needs the guest shut off", hint="Shut it down, or move it live."
        )
    if not state:
        return await move_offline(
            src,
            dst,
            uuid,
            keep_source=keep_source,
            network_map=mapping,
            detach_readonly=detach_readonly,
            pool=pool,
            progress=progress,
            clock=clock,
        )
    txn = Transaction(dst, f"Could not migrate to {dst.display_name}", progress, clock=clock)
    options = MoveOptions(keep_source, mapping, detach_readonly)
    return await _Live(txn, src, uuid, options, bandwidth_mib).run()


def local_address_towards(uri: str) -> str:
    """This machine's address as seen from the host of ``uri`` (127.0.0.1 for a local URI)."""
    host = parse_uri(uri).host.strip("[]")
    if not host:
        return "127.0.0.1"
    try:
        family = socket.getaddrinfo(host, None)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return host


@contextlib.asynccontextmanager
async def lent_connection(host: HostConnection) -> AsyncIterator[libvirt.virConnect]:
    """``host``'s libvirt connection, for a call another host's worker makes with it
    (``migrate3`` takes the destination's connection).

    While it is lent, ``host``'s second thread waits inside a call of its own, so that a drop
    of ``host`` (its daemon killed mid-migration) does not close the connection under the
    borrowing call: a dropped connection is closed only after each of its workers' current
    call (:mod:`~vmgui.virt.closing`); closing it earlier crashed the process.
    """
    loop = asyncio.get_running_loop()
    lent: asyncio.Future[libvirt.virConnect] = loop.create_future()
    release = threading.Event()

    def lend(conn: libvirt.virConnect) -> None:
        loop.call_soon_threadsafe(_resolve, lent, conn)
        release.wait()

    holder = asyncio.ensure_future(
        host.call(lend, f"Could not reach {host.display_name}", slow=True)
    )
    try:
        await asyncio.wait({lent, holder}, return_when=asyncio.FIRST_COMPLETED)
        if not lent.done():
            await holder  # it failed: raise its error
        yield lent.result()
    finally:
        release.set()
        lent.cancel()
        with contextlib.suppress(Exception):
            await holder


def _resolve(future: asyncio.Future[libvirt.virConnect], conn: libvirt.virConnect) -> None:
    if not future.done():
        future.set_result(conn)


class _Live(MoveFlow):
    def __init__(
        self,
        txn: Transaction,
        src: HostConnection,
        uuid: str,
        options: MoveOptions,
        bandwidth_mib: int,
    ) -> None:
        super().__init__(txn, src, uuid, options)
        self.bandwidth_mib = bandwidth_mib
        self.migrated = False
        self.detached: list[str] = []  # <disk> elements hot-unplugged from the source

    async def run(self) -> MoveResult:
        timings = await self.txn.run(
            [
                (Step.VALIDATE, self.validate),
                (Step.UPLOAD, self.watched(self._carry)),
                (Step.MIGRATE, self.watched(self._migrate)),
                (Step.VERIFY, self._verify),
                (Step.CLEANUP, self._cleanup),
            ]
        )
        return self.result(timings, live=True)

    async def _carry(self) -> str:
        note = "skipped"
        uuid = self.uuid
        for disk in self.left_behind:
            if disk.cdrom:
                continue  # its medium is ejected in the destination's definition
            element = disk_xml_of(self.xml, disk.target)
            await self.src.call(
                partial(_detach_blocking, uuid, element), f"Could not detach {disk.target}"
            )
            self.txn.on_rollback(
                f"{disk.target} detached from the source", partial(self._reattach, element)
            )
            self.detached.append(element)
            note = "detached"
        for disk in self.streamed:
            made, _digest = await self.stream_disk(disk, disk.path, disk.size, self._created)
            if made != disk.path:
                raise VmguiError(
                    f"{disk.target} landed at {made} on the destination, not {disk.path}"
                )
            note = ""
        return note

    async def _cleanup(self) -> str:
        if self.keep_source:  # the kept definition gets back what was unplugged for the move
            for element in self.detached:
                await self._reattach(element)
        return await self.remove_source()

    def _created(self, path: str) -> None:
        self.txn.on_rollback(
            f"volume {path} on {self.dst.display_name}",
            partial(self._undo_volume, path),
            later=volume_leftover(self.dst.uri, path, self.txn.failed),
        )

    async def _migrate(self) -> str:
        for disk in self.side.disks:
            if not disk.readonly:
                self.txn.on_rollback(
                    f"volume {disk.path} on {self.dst.display_name}",
                    partial(self._undo_volume, disk.path),
                    later=volume_leftover(self.dst.uri, disk.path, self.txn.failed),
                )
        for path in file_chardev_paths(self.xml):  # its serial log, made when it starts there
            if path not in self.dest.existing:
                self.txn.on_rollback(
                    f"file {path} on {self.dst.display_name}",
                    partial(self._undo_file, path),
                    later=volume_leftover(self.dst.uri, path, self.txn.failed),
                )
        uuid = self.uuid
        self.txn.on_rollback(
            f"guest {self.side.name} on {self.dst.display_name}",
            self._undo_guest,
            later=guest_leftover(self.dst.uri, uuid, self.side.name, self.txn.failed),
        )
        params: dict[str, object] = {
            libvirt.VIR_MIGRATE_PARAM_URI: migration_uri(
                self.dst.uri, local_address_towards(self.src.uri)
            )
        }
        if self.bandwidth_mib:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = self.bandwidth_mib
        ejected = [d.target for d in self.left_behind if d.cdrom]
        if self.network_map or ejected:
            live_xml = await self.src.call(
                lambda c: str(
                    c.lookupByUUIDString(uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
                ),
                "Could not read the guest",
            )
            dest_xml = eject_media(map_networks(live_xml, self.network_map), ejected)
            params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = dest_xml

        async with lent_connection(self.dst) as dconn:

            def migrate(conn: libvirt.virConnect) -> str:
                dom = conn.lookupByUUIDString(uuid)
                return str(dom.migrate3(dconn, params, LIVE_FLAGS).UUIDString())

            job = asyncio.ensure_future(
                self.src.call(migrate, f"Could not migrate {self.side.name}", slow=True)
            )
            watcher = asyncio.ensure_future(self._watch())
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                if not job.done():
                    with contextlib.suppress(VmguiError):
                        await self.src.call(
                            lambda c: c.lookupByUUIDString(uuid).abortJob(), "Could not abort"
                        )
                    with contextlib.suppress(Exception):
                        await job
                raise
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        self.migrated = True
        return ""

    async def _watch(self) -> None:
        uuid = self.uuid
        aborted = False
        while True:
            await asyncio.sleep(0.2)
            if self.dst.state is not ConnectionState.CONNECTED and not aborted:
                # The destination is gone: the source's QEMU would go on sending the guest to
                # an orphan until the end; stop it now, and the guest goes on here.
                aborted = True
                with contextlib.suppress(VmguiError):
                    await self.src.call(
                        lambda c: c.lookupByUUIDString(uuid).abortJob(), "Could not abort"
                    )
            try:
                stats = await self.src.call(
                    lambda c: c.lookupByUUIDString(uuid).jobStats(0), "job stats"
                )
            except VmguiError:
                continue
            total = int(stats.get("data_total", 0) or 0)
            left = int(stats.get("data_remaining", 0) or 0)
            done = max(total - left, 0)
            dirty = float(stats.get("memory_dirty_rate", 0) or 0) * 4096
            downtime = stats.get("downtime")
            speed = float(stats.get("memory_bps", 0) or stats.get("disk_bps", 0) or 0) or None
            eta = left / speed if speed else None
            text = f"{format_bytes(done)} of {format_bytes(total)}"
            if dirty:
                text += f", memory dirtied at {format_rate(dirty)}"
            if downtime:
                text += f", expected downtime {downtime} ms"
            self.txn.report(
                text, done / total if total else None, (done, total or None, speed, eta)
            )

    async def _verify(self) -> str:
        uuid, side = self.uuid, self.side
        sizes = await self.dst.call(
            lambda c: _verify_blocking(c, uuid, [d.target for d in side.disks if not d.readonly]),
            f"Could not verify the guest on {self.dst.display_name}",
        )
        for disk in side.disks:
            if not disk.readonly and sizes.get(disk.target) != disk.capacity:
                raise VmguiError(
                    f"{disk.target} has {sizes.get(disk.target)} bytes on the destination, "
                    f"{disk.capacity} on the source",
                    hint="The guest runs on the destination; the source was kept.",
                )
        return ""

    async def _undo_volume(self, path: str) -> None:
        if self.migrated:
            return  # the guest runs there now: never delete what it uses
        await self.dst.call(lambda c: _delete_volume_at(c, path), f"Could not delete {path}")

    async def _undo_file(self, path: str) -> None:
        if self.migrated:
            return
        await self.dst.call(lambda c: _delete_volume_at(c, path), f"Could not delete {path}")

    async def _reattach(self, element: str) -> None:
        uuid = self.uuid
        await self.src.call(
            partial(_attach_blocking, uuid, element), "Could not re-attach the disk"
        )

    async def _undo_guest(self) -> None:
        if self.migrated:
            return
        uuid = self.uuid
        await self.dst.call(lambda c: remove_domain_blocking(c, uuid), "Could not remove the guest")


def _detach_blocking(uuid: str, element: str, conn: libvirt.virConnect) -> None:
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
    conn.lookupByUUIDString(uuid).detachDeviceFlags(element, flags)


def _attach_blocking(uuid: str, element: str, conn: libvirt.virConnect) -> None:
    dom = conn.lookupByUUIDString(uuid)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    dom.attachDeviceFlags(element, flags)


def _delete_volume_at(conn: libvirt.virConnect, path: str) -> None:
    """Delete the file at ``path`` if it is a volume of a pool (else it is the host's own)."""
    refresh_pools_blocking(conn)
    delete_volume_blocking(conn, path)


def _verify_blocking(conn: libvirt.virConnect, uuid: str, targets: list[str]) -> dict[str, int]:
    dom = conn.lookupByUUIDString(uuid)
    if not dom.isPersistent():
        raise VmguiError("The guest is not persistent on the destination")
    if not dom.isActive():
        raise VmguiError("The guest does not run on the destination")
    return {t: int(dom.blockInfo(t, 0)[0]) for t in targets}
