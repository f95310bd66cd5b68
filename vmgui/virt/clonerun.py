"""What a linked clone of a template and a clone of any guest share.

Both are one :class:`CloneRun` on a :class:`~vmgui.virt.transaction.Transaction`: validate →
disks (overlays or full copies) → seed → define → start, and the same
:class:`~vmgui.core.provisioning.ProvisionResult`. A subclass gives the validate, disks and
seed steps; the clone's definition (:func:`~vmgui.core.xml.edit.clone_xml`), its start and the
seed upload are here once.
"""

from __future__ import annotations

from typing import Protocol

import libvirt

from vmgui.core.provisioning import ProvisionResult, Step
from vmgui.core.xml.build import volume_xml
from vmgui.core.xml.domain import parse_domain_xml, seed_volume_name
from vmgui.core.xml.edit import clone_xml
from vmgui.virt.provhost import start_blocking
from vmgui.virt.storage import Uploader
from vmgui.virt.transaction import Transaction


class BackingDisk(Protocol):
    """A disk a clone's overlay can sit on."""

    @property
    def path(self) -> str: ...

    @property
    def fmt(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def pool(self) -> str: ...


def create_overlay_blocking(disk: BackingDisk, name: str, conn: libvirt.virConnect) -> str:
    """A qcow2 overlay ``name`` on ``disk`` in its pool (on the worker); its path."""
    xml = volume_xml(name, disk.capacity, "qcow2", backing_path=disk.path, backing_format=disk.fmt)
    return str(conn.storagePoolLookupByName(disk.pool).createXML(xml, 0).path())


class CloneRun:
    """One clone's state and the steps every clone has.

    Attributes:
        txn: the transaction the steps run on (it removes what they made on failure).
        host: the host.
        name: the clone's name.
        start: start the clone at the end.
        uploader: uploads the clone's new seed.
        source_xml: the source's inactive XML (set by the validate step).
        disks: target -> the clone's new volume (set by the disks step).
        base_path: the volume the clone's first disk is an overlay of ("" for a full copy).
        seed: the clone's new seed volume ("" keeps the source's).
        uuid: the defined clone.
        start_seconds: libvirt's own start call.
        warnings: things worth telling, for the result.
    """

    def __init__(self, txn: Transaction, name: str, start: bool, uploader: Uploader) -> None:
        self.txn = txn
        self.host = txn.host
        self.name = name
        self.start = start
        self.uploader = uploader
        self.source_xml = ""
        self.disks: dict[str, str] = {}
        self.base_path = ""
        self.seed = ""
        self.uuid = ""
        self.start_seconds = 0.0
        self.warnings: list[str] = []

    async def run(self) -> ProvisionResult:
        """Run the steps; the clone made (raises what failed, after the rollback)."""
        timings = await self.txn.run(
            [
                (Step.VALIDATE, self._validate),
                (self.disks_step, self._make_disks),
                (Step.SEED, self._seed),
                (Step.DEFINE, self._define),
                (Step.START, self._start),
            ]
        )
        self.host.request_refresh(self.uuid)
        return ProvisionResult(
            host_uri=self.host.uri,
            name=self.name,
            uuid=self.uuid,
            virt_type=parse_domain_xml(self.source_xml).domain_type,
            disk_path=next(iter(self.disks.values()), ""),
            base_path=self.base_path,
            seed_path=self.seed,
            started=self.start,
            timings=timings,
            warnings=tuple(self.warnings),
            libvirt_start_seconds=self.start_seconds,
        )

    # -- what a kind of clone gives ------------------------------------------------------------

    @property
    def disks_step(self) -> Step:
        """How the disks step is reported (overlays by default)."""
        return Step.OVERLAY

    async def _validate(self) -> str:
        raise NotImplementedError

    async def _make_disks(self) -> str:
        raise NotImplementedError

    async def _seed(self) -> str:
        raise NotImplementedError

    # -- shared steps --------------------------------------------------------------------------

    async def upload_seed(self, pool: str, iso: bytes) -> None:
        """Upload the clone's new seed into ``pool`` (removed again if the run fails)."""
        self.seed = await self.uploader.upload(
            self.host, pool, seed_volume_name(self.name), iso, "raw"
        )
        self.txn.created_volume(self.seed)

    async def _define(self) -> str:
        xml = clone_xml(self.source_xml, self.name, self.disks, self.seed)
        self.uuid = await self.txn.create_domain(
            lambda c: str(c.defineXML(xml).UUIDString()), f"Could not define {self.name}", self.name
        )
        return ""

    async def _start(self) -> str:
        if not self.start:
            return "skipped"
        uuid = self.uuid
        self.start_seconds = await self.host.call(
            lambda c: start_blocking(c, uuid), f"Could not start {self.name}"
        )
        return ""
