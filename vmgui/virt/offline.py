"""Move a shut-off guest to another host through volume streams (the export/import path,
host to host, without a file in between).

Each disk is streamed sparse from the source into a new volume on the destination (a disk
with a backing file is first flattened into a temporary full copy on the source, since a
stream carries the file, not its chain); the read-only seed comes along as raw, installer
ISOs stay behind (dropped from the definition, with a warning). The destination volumes are
read back and their SHA-256 compared with what left the source before the guest is defined
there with the same name and UUID. Then, unless asked to keep it, the source is undefined and
its disks deleted (never a backing file). On failure or cancel the destination keeps nothing
and the temporary copies on the source are deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.migration import DestinationSide, MoveDisk, MoveResult, SourceSide
from vmgui.core.provisioning import ProgressCallback, Step
from vmgui.core.units import format_bytes
from vmgui.core.xml.build import volume_xml
from vmgui.core.xml.domain import is_seed_disk, parse_domain_xml
from vmgui.core.xml.mobility import (
    drop_disks,
    map_networks,
    point_disks,
    portable_xml,
    rename_guest_files,
)
from vmgui.virt.clone import full_copy_blocking
from vmgui.virt.connection import HostConnection
from vmgui.virt.movefacts import check_move, owned_paths, remove_source_blocking, volume_name
from vmgui.virt.storage import call_keeping, delete_volume_blocking
from vmgui.virt.transaction import Transaction
from vmgui.virt.volstream import (
    Control,
    TransferReport,
    pipe_volume,
    run_transfer,
    volume_sha256_blocking,
)


async def move_offline(
    src: HostConnection,
    dst: HostConnection,
    uuid: str,
    *,
    keep_source: bool = False,
    network_map: Mapping[str, str] | None = None,
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
    flow = _Offline(txn, src, uuid, keep_source, dict(network_map or {}), pool)
    return await flow.run()


class _Offline:
    def __init__(
        self,
        txn: Transaction,
        src: HostConnection,
        uuid: str,
        keep_source: bool,
        network_map: dict[str, str],
        pool: str,
    ) -> None:
        self.txn = txn
        self.dst = txn.host
        self.src = src
        self.uuid = uuid
        self.keep_source = keep_source
        self.network_map = network_map
        self.pool = pool
        self.side: SourceSide | None = None
        self.dest: DestinationSide | None = None
        self.xml = ""
        self.carried: list[MoveDisk] = []
        self.sources: dict[str, str] = {}  # target -> what is streamed (a flattened copy?)
        self.temporary: list[str] = []
        self.volumes: dict[str, str] = {}  # target -> the destination volume
        self.digests: dict[str, str] = {}
        self.removed: list[str] = []
        self.warnings: list[str] = []

    async def run(self) -> MoveResult:
        timings = await self.txn.run(
            [
                (Step.VALIDATE, self._validate),
                (Step.COPY, self._flatten),
                (Step.UPLOAD, self._stream),
                (Step.VERIFY, self._verify),
                (Step.DEFINE, self._define),
                (Step.CLEANUP, self._cleanup),
            ]
        )
        assert self.side is not None
        return MoveResult(
            self.side.name,
            self.uuid,
            self.src.uri,
            self.dst.uri,
            False,
            timings,
            tuple(self.removed),
            tuple(self.warnings),
        )

    async def _validate(self) -> str:
        self.side, self.xml, self.dest = await check_move(
            self.src,
            self.dst,
            self.uuid,
            network_map=self.network_map,
            detach_readonly=False,
            fallback_pool=self.pool,
        )
        seeds = {d.path for d in parse_domain_xml(self.xml).disks if is_seed_disk(d)}
        for disk in self.side.disks:
            if disk.readonly and disk.path not in seeds:
                self.warnings.append(f"{disk.target} ({disk.path}) stays behind")
            else:
                self.carried.append(disk)
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
                    f"volume {made} on {self.src.display_name}", partial(self._undo_src, made)
                ),
                slow=True,
            )
            self.temporary.append(copy)
            self.sources[disk.target] = copy
            note = ""
        return note

    async def _stream(self) -> str:
        assert self.dest is not None
        sizes = {}
        for disk in self.carried:
            source = self.sources[disk.target]
            sizes[disk.target] = await self.src.call(
                partial(_physical, source), f"Could not read {source}"
            )
        total = sum(sizes.values())
        before = 0
        for disk in self.carried:
            pool = self.dest.pools.get(disk.folder, self.pool)
            name = volume_name(disk.path)
            dest = await self.txn.create_volume(
                partial(_empty_volume, pool, name), f"Could not create {name}"
            )
            self.volumes[disk.target] = dest

            sent, received = await pipe_volume(
                self.src,
                self.sources[disk.target],
                self.dst,
                dest,
                sizes[disk.target],
                self._reporter(disk.target, before, total),
            )
            if sent != received:
                raise VmguiError(f"{disk.target} changed on its way to the destination")
            self.digests[disk.target] = sent
            before += sizes[disk.target]
        return ""

    def _reporter(self, target: str, start: int, total: int) -> TransferReport:
        def report(done: int, _all: int | None, speed: float | None, eta: float | None) -> None:
            moved = start + done
            self.txn.report(
                f"{target}: {format_bytes(moved)} of {format_bytes(total)}",
                moved / total if total else None,
                (moved, total, speed, eta),
            )

        return report

    async def _verify(self) -> str:
        assert self.dest is not None
        for pool in {self.dest.pools.get(d.folder, self.pool) for d in self.carried}:
            await self.dst.call(partial(_refresh, pool), "Could not refresh the pool")
        for disk in self.carried:
            read = partial(_sha256_of, self.volumes[disk.target])
            digest = await run_transfer(self.dst, read, f"Could not verify {disk.target}")
            if digest != self.digests[disk.target]:
                raise VmguiError(
                    f"{disk.target} differs on the destination",
                    f"SHA-256 {digest} there, {self.digests[disk.target]} on the source",
                )
        return ""

    async def _define(self) -> str:
        assert self.side is not None
        xml = map_networks(portable_xml(self.xml), self.network_map)
        carried = {d.target for d in self.carried}
        xml = drop_disks(xml, [d.target for d in self.side.disks if d.target not in carried])
        formats = {d.target: ("raw" if d.readonly else "qcow2") for d in self.carried}
        xml = point_disks(xml, {t: (self.volumes[t], formats[t]) for t in carried})
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
        if self.keep_source:
            return "kept the source"
        assert self.side is not None
        owned = owned_paths(self.side, self.xml)
        uuid = self.uuid
        self.removed = await self.src.call(
            lambda c: remove_source_blocking(c, uuid, owned), "Could not remove the source"
        )
        return ""

    async def _undo_src(self, path: str) -> None:
        await self.src.call(partial(delete_volume_blocking, path=path), f"Could not delete {path}")


def _physical(path: str, conn: libvirt.virConnect) -> int:
    vol = conn.storageVolLookupByPath(path)
    return int(vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])


def _pool_of(path: str, conn: libvirt.virConnect) -> str:
    return str(conn.storageVolLookupByPath(path).storagePoolLookupByVolume().name())


def _refresh(pool: str, conn: libvirt.virConnect) -> None:
    conn.storagePoolLookupByName(pool).refresh(0)


def _sha256_of(path: str, conn: libvirt.virConnect, control: Control) -> str:
    return volume_sha256_blocking(conn, path, control)


def _empty_volume(pool: str, name: str, conn: libvirt.virConnect) -> str:
    xml = volume_xml(name, 0, "raw")
    return str(conn.storagePoolLookupByName(pool).createXML(xml, 0).path())
