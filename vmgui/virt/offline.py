"""Move a shut-off guest to another host through volume streams (the export/import path,
host to host, without a file in between).

Each disk is streamed sparse from the source into a new volume on the destination (a disk
with a backing file is first flattened into a temporary full copy on the source, since a
stream carries the file, not its chain); read-only disks (the seed, installer ISOs) come
along as raw, or stay behind on request (:class:`~vmgui.virt.moveflow.MoveFlow`). The
destination volumes are read back and their SHA-256 compared with what left the source before
the guest is defined there with the same name and UUID. Then, unless asked to keep it, the
source is undefined and its disks deleted (never a backing file, never an ISO). On failure or
cancel the destination keeps nothing and the temporary copies on the source are deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial

import libvirt

from vmgui.core.diskhash import MOVE_ALGORITHM, label
from vmgui.core.errors import VmguiError
from vmgui.core.leftovers import volume_leftover
from vmgui.core.migration import MoveDisk, MoveResult
from vmgui.core.provisioning import ProgressCallback, Step
from vmgui.core.xml.mobility import (
    drop_disks,
    eject_media,
    map_networks,
    point_disks,
    portable_xml,
    rename_guest_files,
)
from vmgui.virt.clone import full_copy_blocking
from vmgui.virt.connection import HostConnection
from vmgui.virt.moveflow import MoveFlow, MoveOptions
from vmgui.virt.storage import call_keeping, delete_volume_blocking
from vmgui.virt.transaction import Transaction
from vmgui.virt.volstream import Control, run_transfer, volume_digest_blocking


async def move_offline(
    src: HostConnection,
    dst: HostConnection,
    uuid: str,
    *,
    keep_source: bool = False,
    network_map: Mapping[str, str] | None = None,
    detach_readonly: bool = False,
    pool: str = "default",
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> MoveResult:
    """Move the shut-off guest ``uuid`` from ``src`` to ``dst`` through streams.

    Disks go to the destination pool at their own folder when there is one, else to ``pool``.

    Raises:
        ProvisionError: naming the step; the destination keeps nothing, the source is intact.
        asyncio.CancelledError: after the same clean-up.
    """
    txn = Transaction(dst, f"Could not move to {dst.display_name}", progress, clock=clock)
    options = MoveOptions(keep_source, network_map or {}, detach_readonly, pool)
    return await _Offline(txn, src, uuid, options).run()


class _Offline(MoveFlow):
    def __init__(
        self, txn: Transaction, src: HostConnection, uuid: str, options: MoveOptions
    ) -> None:
        super().__init__(txn, src, uuid, options)
        self.carried: list[MoveDisk] = []
        self.sources: dict[str, str] = {}  # target -> what is streamed (a flattened copy?)
        self.temporary: list[str] = []
        self.volumes: dict[str, str] = {}  # target -> the destination volume
        self.digests: dict[str, str] = {}

    async def run(self) -> MoveResult:
        timings = await self.txn.run(
            [
                (Step.VALIDATE, self._validate),
                (Step.COPY, self._flatten),
                (Step.UPLOAD, self.watched(self._stream)),
                (Step.VERIFY, self.watched(self._verify)),
                (Step.DEFINE, self.watched(self._define)),
                (Step.CLEANUP, self._cleanup),
            ]
        )
        return self.result(timings, live=False)

    async def _validate(self) -> str:
        await self.validate()
        streamed = {d.target for d in self.streamed}
        self.carried = [d for d in self.side.disks if not d.readonly or d.target in streamed]
        return ""

    async def _flatten(self) -> str:
        note = "skipped"
        for disk in self.carried:
            if not disk.backing:
                self.sources[disk.target] = disk.path
                continue
            name = f"vmgui-move-{self.uuid[:8]}-{disk.target}-{int(time.time())}.qcow2"
            pool = await self.src.call(partial(_pool_of, disk.path), "Could not find the pool")
            copy = await call_keeping(
                self.src,
                partial(full_copy_blocking, pool, disk.path, name, disk.capacity),
                f"Could not flatten {disk.target}",
                lambda made: self.txn.on_rollback(
                    f"volume {made} on {self.src.display_name}",
                    partial(self._undo_src, made),
                    later=volume_leftover(self.src.uri, made, self.txn.failed),
                    on=self.src,
                ),
                slow=True,
            )
            self.temporary.append(copy)
            self.sources[disk.target] = copy
            note = ""
        return note

    async def _stream(self) -> str:
        sizes = {}
        for disk in self.carried:
            source = self.sources[disk.target]
            sizes[disk.target] = await self.src.call(
                partial(_physical, source), f"Could not read {source}"
            )
        total = sum(sizes.values())
        before = 0
        for disk in self.carried:
            target = disk.target
            self.volumes[target], self.digests[target] = await self.stream_disk(
                disk,
                self.sources[target],
                sizes[target],
                self.txn.created_volume,
                self.reporter(target, before, total),
            )
            before += sizes[target]
        return ""

    async def _verify(self) -> str:
        for pool in {self.pool_for(d) for d in self.carried}:
            await self.dst.call(partial(_refresh, pool), "Could not refresh the pool")
        for disk in self.carried:
            read = partial(_digest_of, self.volumes[disk.target])
            digest = await run_transfer(self.dst, read, f"Could not verify {disk.target}")
            if digest != self.digests[disk.target]:
                raise VmguiError(
                    f"{disk.target} differs on the destination",
                    f"{label(MOVE_ALGORITHM)} {digest} there, {self.digests[disk.target]} on the "
                    "source",
                )
        return ""

    async def _define(self) -> str:
        xml = map_networks(portable_xml(self.xml), self.network_map)
        xml = drop_disks(xml, [d.target for d in self.left_behind if not d.cdrom])
        xml = eject_media(xml, [d.target for d in self.left_behind if d.cdrom])
        formats = {d.target: ("raw" if d.readonly else "qcow2") for d in self.carried}
        xml = point_disks(xml, {t: (self.volumes[t], f) for t, f in formats.items()})
        folder = next(iter(self.volumes.values()), "").rpartition("/")[0]
        xml = rename_guest_files(xml, self.side.name, self.side.name, folder)
        name = self.side.name
        await self.txn.create_domain(
            lambda c: str(c.defineXML(xml).UUIDString()), f"Could not define {name}", name
        )
        return ""

    async def _cleanup(self) -> str:
        for path in self.temporary:
            await self.src.call(
                partial(delete_volume_blocking, path=path), f"Could not delete {path}"
            )
        return await self.remove_source()

    async def _undo_src(self, path: str) -> None:
        await self.src.call(partial(delete_volume_blocking, path=path), f"Could not delete {path}")


def _physical(path: str, conn: libvirt.virConnect) -> int:
    vol = conn.storageVolLookupByPath(path)
    return int(vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])


def _pool_of(path: str, conn: libvirt.virConnect) -> str:
    return str(conn.storageVolLookupByPath(path).storagePoolLookupByVolume().name())


def _refresh(pool: str, conn: libvirt.virConnect) -> None:
    conn.storagePoolLookupByName(pool).refresh(0)


def _digest_of(path: str, conn: libvirt.virConnect, control: Control) -> str:
    return volume_digest_blocking(conn, path, control, MOVE_ALGORITHM)
