"""Templates: mark a guest as one (libvirt metadata) and make linked clones of it.

A template is a shut-off guest with ``<vmgui:template/>`` in vmgui's metadata namespace. A
clone gets a qcow2 overlay on each of the template's writable disks (O(1), the template's
disks become read-only backing files), a new name, UUID and MAC addresses. Like provisioning,
cloning is transactional: on failure or cancel, every overlay, seed and domain it created is
removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import libvirt

from vmgui.core.cloudinit import CloudInitConfig, build_seed_iso, seed_files
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import (
    Progress,
    ProgressCallback,
    ProvisionError,
    ProvisionResult,
    Step,
    StepTiming,
)
from vmgui.core.validation import ValidationError, validate_guest_name
from vmgui.core.xml.base import VMGUI_NS
from vmgui.core.xml.build import volume_xml
from vmgui.core.xml.domain import parse_domain_xml, seed_volume_name
from vmgui.core.xml.edit import (
    TEMPLATE_METADATA_KEY,
    clone_disks,
    clone_xml,
    template_metadata,
)
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection
from vmgui.virt.provhost import remove_domain_blocking
from vmgui.virt.storage import StreamUploader, Uploader, delete_volume_blocking

_SHUTOFF = 5


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
    try:
        existing: str | None = dom.metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, VMGUI_NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        )
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            raise
        existing = None
    xml = template_metadata(existing, template)
    key = TEMPLATE_METADATA_KEY if xml is not None else None
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, VMGUI_NS, flags)


@dataclass(frozen=True, slots=True)
class _CloneFacts:
    xml: str
    disks: tuple[tuple[str, str, str, int, str], ...]  # target, path, fmt, capacity, pool


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
    created_volumes: list[str] = []
    created_domain: list[str] = []
    timings: list[StepTiming] = []
    step = Step.VALIDATE
    start_seconds = 0.0

    def report(message: str, fraction: float) -> None:
        if progress is not None:
            progress(Progress(step, message, fraction))

    async def timed(which: Step, fn: Callable[[], Awaitable[None]]) -> None:
        nonlocal step
        step = which
        report(which.label, 0.0)
        t0 = clock()
        await fn()
        timings.append(StepTiming(which, clock() - t0))
        report(f"{which.label}: done", 1.0)

    facts: list[_CloneFacts] = []
    overlays: dict[str, str] = {}
    seed: list[str] = []
    uuid: list[str] = []

    async def validate() -> None:
        try:
            validate_guest_name(name)
        except ValidationError as exc:
            raise VmguiError(exc.message) from None
        facts.append(
            await host.call(
                lambda c: _clone_facts(c, template_uuid, name),
                "Could not read the template",
            )
        )

    async def overlay() -> None:
        for target, path, fmt, capacity, pool in facts[0].disks:
            vol_name = f"{name}-{target}.qcow2"
            overlays[target] = await host.call(
                partial(_create_overlay, pool, vol_name, capacity, path, fmt),
                f"Could not create the disk {vol_name}",
            )
            created_volumes.append(overlays[target])

    async def make_seed() -> None:
        if cloud_init is None:
            return
        data = await asyncio.to_thread(lambda: build_seed_iso(seed_files(cloud_init)))
        pool = facts[0].disks[0][4] if facts[0].disks else "default"
        path = await (uploader or StreamUploader()).upload(
            host, pool, seed_volume_name(name), data, "raw"
        )
        created_volumes.append(path)
        seed.append(path)

    async def define() -> None:
        xml = clone_xml(facts[0].xml, name, overlays, seed[0] if seed else "")
        uuid.append(
            await host.call(
                lambda c: str(c.defineXML(xml).UUIDString()), f"Could not define {name}"
            )
        )
        created_domain.append(uuid[0])

    async def run_start() -> None:
        nonlocal start_seconds
        if not start:
            return

        def boot(conn: libvirt.virConnect) -> float:
            t0 = time.perf_counter()
            conn.lookupByUUIDString(uuid[0]).create()
            return time.perf_counter() - t0

        start_seconds = await host.call(boot, f"Could not start {name}")

    try:
        await timed(Step.VALIDATE, validate)
        await timed(Step.OVERLAY, overlay)
        await timed(Step.SEED, make_seed)
        await timed(Step.DEFINE, define)
        await timed(Step.START, run_start)
    except BaseException as exc:
        left = await asyncio.shield(_rollback(host, created_domain, created_volumes))
        if isinstance(exc, asyncio.CancelledError):
            raise
        err = exc if isinstance(exc, VmguiError) else VmguiError(type(exc).__name__, str(exc))
        details = err.details + (f"; clean-up left behind: {', '.join(left)}" if left else "")
        raise ProvisionError(
            step,
            f"Could not clone {name} (step {step.value}): {err.summary}",
            details.lstrip("; "),
            err.hint,
            left_behind=left,
        ) from exc
    host.request_refresh(uuid[0])
    first = facts[0].disks[0] if facts[0].disks else None
    return ProvisionResult(
        host_uri=host.uri,
        name=name,
        uuid=uuid[0],
        virt_type=parse_domain_xml(facts[0].xml).domain_type,
        disk_path=next(iter(overlays.values()), ""),
        base_path=first[1] if first else "",
        seed_path=seed[0] if seed else "",
        started=start,
        timings=tuple(timings),
        libvirt_start_seconds=start_seconds,
    )


def _clone_facts(conn: libvirt.virConnect, template_uuid: str, name: str) -> _CloneFacts:
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    else:
        raise VmguiError(f"A guest named {name!r} already exists", hint="Choose another name.")
    dom = inspect.lookup(conn, template_uuid)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    details = parse_domain_xml(xml)
    if not details.vmgui_template:
        raise VmguiError(f"{details.name} is not a template", hint="Mark it as a template first.")
    if dom.info()[0] != _SHUTOFF:
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
        disks.append((disk.target, str(vol.path()), disk.fmt, int(vol.info()[1]), pool.name()))
    return _CloneFacts(xml, tuple(disks))


def _create_overlay(
    pool: str, name: str, capacity: int, backing: str, fmt: str, conn: libvirt.virConnect
) -> str:
    xml = volume_xml(name, capacity, "qcow2", backing_path=backing, backing_format=fmt)
    return str(conn.storagePoolLookupByName(pool).createXML(xml, 0).path())


async def _rollback(
    host: HostConnection, domains: list[str], volumes: list[str]
) -> tuple[str, ...]:
    left: list[str] = []
    for uuid in domains:
        try:
            await host.call(partial(_undefine, uuid), "rollback")
        except VmguiError as exc:
            left.append(f"guest {uuid} ({exc.details or exc.summary})")
    for path in reversed(volumes):
        try:
            await host.call(partial(_delete, path), "rollback")
        except VmguiError as exc:
            left.append(f"volume {path} ({exc.details or exc.summary})")
    return tuple(left)


def _undefine(uuid: str, conn: libvirt.virConnect) -> None:
    remove_domain_blocking(conn, uuid)


def _delete(path: str, conn: libvirt.virConnect) -> None:
    delete_volume_blocking(conn, path)
