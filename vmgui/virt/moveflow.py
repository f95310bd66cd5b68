"""What a live and an offline move share (:mod:`~vmgui.virt.migrate`,
:mod:`~vmgui.virt.offline`): the check of both sides, what becomes of each read-only disk, a
disk streamed into a new volume on the destination, the source's removal after a verified
move, and the result.

Read-only disks (the cloud-init seed, installer ISOs), which libvirt's migration does not
copy, are streamed like any disk, whatever their size. A CD-ROM whose medium the destination
already has at the same path uses that one. With ``detach_readonly`` they stay behind: a
CD-ROM drive moves empty (its medium ejected in the destination's definition), any other
read-only disk is left out; the source guest is never changed for it before the move is done
(a live move's hot-unplug is undone on failure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.migration import (
    DestinationSide,
    MoveDisk,
    MoveResult,
    SourceSide,
    reuses_medium,
)
from vmgui.core.model import ConnectionState
from vmgui.core.provisioning import StepTiming
from vmgui.core.xml.build import volume_xml
from vmgui.virt.connection import HostConnection
from vmgui.virt.movefacts import check_move, owned_paths, remove_source_blocking, volume_name
from vmgui.virt.storage import call_keeping
from vmgui.virt.transaction import StepFn, Transaction
from vmgui.virt.volstream import TransferReport, disk_reporter, pipe_volume


@dataclass(frozen=True, slots=True)
class MoveOptions:
    """How a move is to be done.

    Attributes:
        keep_source: keep the source's definition and disks after the move.
        network_map: source network -> destination network ("user": user-mode).
        detach_readonly: leave read-only disks behind instead of carrying them.
        fallback_pool: an offline move's pool for disks whose folder has none there ("" for
            a live move).
    """

    keep_source: bool = False
    network_map: Mapping[str, str] = field(default_factory=dict)
    detach_readonly: bool = False
    fallback_pool: str = ""


class MoveFlow:
    """The state and steps both kinds of move have; the transaction runs on the destination.

    Args:
        txn: the move's transaction (its host is the destination).
        src: the guest's host.
        uuid: the guest.
        options: how to move it.
    """

    def __init__(
        self, txn: Transaction, src: HostConnection, uuid: str, options: MoveOptions
    ) -> None:
        self.txn = txn
        self.dst = txn.host
        self.src = src
        self.uuid = uuid
        self.keep_source = options.keep_source
        self.network_map = dict(options.network_map)
        self.detach_readonly = options.detach_readonly
        self.fallback_pool = options.fallback_pool
        self.side = SourceSide("", uuid, False, "", "", (), ())
        self.dest = DestinationSide("", {}, frozenset(), frozenset(), (), False, False)
        self.xml = ""
        self.left_behind: list[MoveDisk] = []  # read-only disks detached (CD-ROMs: ejected)
        self.reused: list[MoveDisk] = []  # media the destination has at the same path
        self.removed: list[str] = []
        self.warnings: list[str] = []

    async def validate(self) -> str:
        """Read both sides, refuse in one line per gap, and decide each read-only disk."""
        self.side, self.xml, self.dest = await check_move(
            self.src,
            self.dst,
            self.uuid,
            network_map=self.network_map,
            detach_readonly=self.detach_readonly,
            fallback_pool=self.fallback_pool,
        )
        for disk in self.side.disks:
            if disk.readonly and self.detach_readonly:
                self.left_behind.append(disk)
                how = "its medium ejected" if disk.cdrom else "detached"
                self.warnings.append(f"{disk.target} ({disk.path}) stays behind: {how}")
            elif disk.readonly and reuses_medium(disk, self.dest):
                self.reused.append(disk)
                self.warnings.append(f"{disk.target}: the destination's own {disk.path} is used")
        return ""

    @property
    def streamed(self) -> list[MoveDisk]:
        """The read-only disks the move streams itself (libvirt does not copy them)."""
        skip = {d.target for d in (*self.left_behind, *self.reused)}
        return [d for d in self.side.disks if d.readonly and d.target not in skip]

    def pool_for(self, disk: MoveDisk) -> str:
        """The destination pool a disk goes to: the one at its folder, else the fallback."""
        return self.dest.pools.get(disk.folder, self.fallback_pool)

    async def stream_disk(
        self,
        disk: MoveDisk,
        source: str,
        size: int,
        record: Callable[[str], None],
        report: TransferReport | None = None,
    ) -> tuple[str, str]:
        """Stream ``size`` bytes of the volume ``source`` into a new volume named like the
        disk's file, in :meth:`pool_for`; ``record`` gets the new volume's path at once.

        Returns:
            The new volume's path and the digest of what was sent (and received).
        """
        name = volume_name(disk.path)
        dest = await call_keeping(
            self.dst,
            partial(_empty_volume_blocking, self.pool_for(disk), name),
            f"Could not create {name}",
            record,
        )
        sent, received = await pipe_volume(self.src, source, self.dst, dest, size, report)
        if sent != received:
            raise VmguiError(f"{disk.target} changed on its way to the destination")
        return dest, sent

    def watched(self, fn: StepFn) -> StepFn:
        """A step whose failure on a dropped host says so (:func:`watch_hosts`)."""
        return watch_hosts(fn, (self.dst, self.src), f"the guest stays on {self.src.display_name}")

    def reporter(self, target: str, start: int, total: int) -> TransferReport:
        """Progress of one disk of several: ``start`` bytes were moved before it."""
        return disk_reporter(self.txn.report, target, start, total)

    async def remove_source(self) -> str:
        """After a verified move: undefine the source and delete the files only it used."""
        if self.keep_source:
            return "kept the source"
        owned = owned_paths(self.side, self.xml)
        uuid = self.uuid
        self.removed = await self.src.call(
            lambda c: remove_source_blocking(c, uuid, owned), "Could not remove the source"
        )
        return ""

    def result(self, timings: tuple[StepTiming, ...], *, live: bool) -> MoveResult:
        """The finished move."""
        return MoveResult(
            self.side.name,
            self.uuid,
            self.src.uri,
            self.dst.uri,
            live,
            timings,
            tuple(self.removed),
            tuple(self.warnings),
        )


def watch_hosts(fn: StepFn, hosts: Sequence[HostConnection], kept: str) -> StepFn:
    """``fn``, whose failure while one of ``hosts`` dropped says so first ("the connection to
    host2 was lost: <libvirt's words>"), with ``kept`` as the hint (what is intact where)."""

    async def step() -> str:
        try:
            return await fn()
        except VmguiError as exc:
            gone = [h for h in hosts if h.state is not ConnectionState.CONNECTED]
            if not gone:
                raise
            raise VmguiError(
                f"the connection to {gone[0].display_name} was lost",
                exc.details or exc.summary,
                kept,
            ) from exc

    return step


def _empty_volume_blocking(pool: str, name: str, conn: libvirt.virConnect) -> str:
    # Empty and raw: the upload writes the file as it is, and a refresh re-probes its format.
    xml = volume_xml(name, 0, "raw")
    return str(conn.storagePoolLookupByName(pool).createXML(xml, 0).path())
