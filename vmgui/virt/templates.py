"""Templates: mark a guest as one (libvirt metadata) and make linked clones of it.

A template is a shut-off guest with ``<vmgui:template/>`` in vmgui's metadata namespace. A
clone gets a qcow2 overlay on each of the template's writable disks (O(1), the template's
disks become read-only backing files), a new name, UUID and MAC addresses. Like provisioning,
cloning is a :class:`~vmgui.virt.transaction.Transaction`: on failure or cancel, every overlay,
seed and domain it created is removed (the template's disks never).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import libvirt

from vmgui.core.cloudinit import CloudInitConfig, build_seed_iso, seed_files
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import ProgressCallback, ProvisionResult
from vmgui.core.validation import ValidationError, validate_guest_name
from vmgui.core.xml.base import VMGUI_NS
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.core.xml.edit import (
    TEMPLATE_METADATA_KEY,
    clone_disks,
    template_metadata,
)
from vmgui.virt import inspect
from vmgui.virt.clonerun import CloneRun, create_overlay_blocking
from vmgui.virt.connection import HostConnection
from vmgui.virt.storage import StreamUploader, Uploader, unless_missing
from vmgui.virt.transaction import Transaction


async def set_template(host: HostConnection, uuid: str, template: bool) -> None:
    """Mark (or unmark) guest ``uuid`` as a template in its persistent configuration.

    Raises:
        VmguiError: the guest is gone or libvirt refused.
    """
    verb = "mark" if template else "unmark"
    try:
        await host.call(
            lambda c: _set_template_blocking(c, uuid, template),
            f"Could not {verb} the guest as a template",
        )
    finally:
        host.request_refresh(uuid)


def _set_template_blocking(conn: libvirt.virConnect, uuid: str, template: bool) -> None:
    dom = inspect.lookup(conn, uuid)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    existing = inspect.vmgui_metadata(dom, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    xml = template_metadata(existing, template)
    key = TEMPLATE_METADATA_KEY if xml is not None else None
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, VMGUI_NS, flags)


class TemplateDisk(NamedTuple):
    """One writable disk of a template, which a clone gets an overlay of.

    Attributes:
        target: the device name ("vda").
        path: the template's volume, the overlay's backing file.
        fmt: its format ("qcow2", "raw").
        capacity: its size in bytes (the overlay's).
        pool: the storage pool it is in (the overlay goes there too).
    """

    target: str
    path: str
    fmt: str
    capacity: int
    pool: str


@dataclass(frozen=True, slots=True)
class _CloneFacts:
    xml: str
    disks: tuple[TemplateDisk, ...]


async def clone_from_template(
    host: HostConnection,
    template_uuid: str,
    name: str,
    *,
    cloud_init: CloudInitConfig | None = None,
    start: bool = False,
    progress: ProgressCallback | None = None,
    uploader: Uploader | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ProvisionResult:
    """Make a linked clone ``name`` of a template.

    Args:
        host: the template's host.
        template_uuid: the template guest (must be marked a template and shut off).
        name: the new guest's name.
        cloud_init: a new seed for the clone (replaces the template's), or None.
        start: start the clone.
        progress: progress reports, on the loop's thread.
        uploader: uploads the seed (default: stream upload).
        clock: for timings.

    Raises:
        ProvisionError: naming the step; everything created is removed first.
        asyncio.CancelledError: after the same clean-up.
    """
    txn = Transaction(host, f"Could not clone {name}", progress, clock=clock)
    clone = _Clone(txn, template_uuid, name, cloud_init, start, uploader or StreamUploader())
    return await clone.run()


class _Clone(CloneRun):
    """One linked clone of a template: its state and its steps (run on a :class:`Transaction`)."""

    def __init__(
        self,
        txn: Transaction,
        template_uuid: str,
        name: str,
        cloud_init: CloudInitConfig | None,
        start: bool,
        uploader: Uploader,
    ) -> None:
        super().__init__(txn, name, start, uploader)
        self.template_uuid = template_uuid
        self.cloud_init = cloud_init
        self.facts = _CloneFacts("", ())

    async def _validate(self) -> str:
        try:
            validate_guest_name(self.name)
        except ValidationError as exc:
            raise VmguiError(exc.message) from None
        template, name = self.template_uuid, self.name
        self.facts = await self.host.call(
            lambda c: _clone_facts(c, template, name), "Could not read the template"
        )
        self.source_xml = self.facts.xml
        self.base_path = self.facts.disks[0].path if self.facts.disks else ""
        return ""

    async def _make_disks(self) -> str:
        for disk in self.facts.disks:
            self.disks[disk.target] = await self.txn.create_volume(
                partial(create_overlay_blocking, disk, f"{self.name}-{disk.target}.qcow2"),
                f"Could not create the disk {self.name}-{disk.target}.qcow2",
            )
        return ""

    async def _seed(self) -> str:
        config = self.cloud_init
        if config is None:
            return "skipped"
        data = await asyncio.to_thread(lambda: build_seed_iso(seed_files(config)))
        await self.upload_seed(self.facts.disks[0].pool if self.facts.disks else "default", data)
        return ""


def _clone_facts(conn: libvirt.virConnect, template_uuid: str, name: str) -> _CloneFacts:
    if unless_missing(lambda: conn.lookupByName(name), libvirt.VIR_ERR_NO_DOMAIN) is not None:
        raise VmguiError(f"A guest named {name!r} already exists", hint="Choose another name.")
    dom = inspect.lookup(conn, template_uuid)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    details = parse_domain_xml(xml)
    if not details.vmgui_template:
        raise VmguiError(f"{details.name} is not a template", hint="Mark it as a template first.")
    if dom.info()[0] != libvirt.VIR_DOMAIN_SHUTOFF:
        raise VmguiError(
            f"The template {details.name} is running",
            "a linked clone needs the template's disks to stay unchanged",
            "Shut the template down first.",
        )
    disks = []
    for disk in clone_disks(xml):
        if disk.pool:
            vol = conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
        else:
            try:
                vol = conn.storageVolLookupByPath(disk.path)
            except libvirt.libvirtError as exc:
                raise VmguiError(
                    f"The template's disk {disk.target} is not a volume in a storage pool",
                    disk.path,
                    "Move the disk into a storage pool to clone it.",
                ) from exc
        pool = vol.storagePoolLookupByVolume()
        vol_name = f"{name}-{disk.target}.qcow2"
        if vol_name in pool.listVolumes():
            raise VmguiError(
                f"Pool {pool.name()!r} already has a volume named {vol_name}",
                hint="Choose another name.",
            )
        disks.append(
            TemplateDisk(disk.target, str(vol.path()), disk.fmt, int(vol.info()[1]), pool.name())
        )
    return _CloneFacts(xml, tuple(disks))
