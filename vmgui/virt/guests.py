"""Guest lifecycle, edits and deletion on a host's worker.

Every public function is ``async``: it awaits one :meth:`HostConnection.call` and then asks
for an immediate refresh of the guest (events follow too, but the refresh makes the list
right even on hosts without events).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.model import (
    DeletePlan,
    DeleteResult,
    GuestAction,
    GuestConfigEdit,
    GuestInfo,
    GuestOverview,
    GuestState,
    StorageItem,
)
from vmgui.core.validation import (
    ValidationError,
    validate_memory_mib,
    validate_title,
    validate_vcpus,
)
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.domain import (
    disk_paths_in_use,
    owned_volumes,
    parse_domain_xml,
    parse_volume_key,
)
from vmgui.core.xml.edit import set_memory_xml, set_title_xml, set_vcpus_xml
from vmgui.core.xml.host import read_volume
from vmgui.virt import inspect
from vmgui.virt import tags as tag_service
from vmgui.virt.connection import HostConnection

_ACTION_VERBS = {
    GuestAction.START: "start",
    GuestAction.SHUTDOWN: "shut down",
    GuestAction.REBOOT: "reboot",
    GuestAction.FORCE_OFF: "force off",
    GuestAction.PAUSE: "pause",
    GuestAction.RESUME: "resume",
    GuestAction.SAVE: "save",
    GuestAction.DELETE: "delete",
}


async def fetch_overview(host: HostConnection, uuid: str) -> GuestOverview:
    """Read the details pane's data for one guest."""
    return await host.call(
        lambda c: inspect.guest_overview(host.uri, c, uuid),
        f"Could not read the details of guest {host.guest_name(uuid)}",
    )


async def run_action(host: HostConnection, guest: GuestInfo, action: GuestAction) -> None:
    """Run one lifecycle action (not delete) and refresh the guest.

    Raises:
        VmguiError: naming the guest, the host and libvirt's reason.
    """
    if action is GuestAction.DELETE:
        raise ValueError("use delete_guest() for deletion")
    summary = f"Could not {_ACTION_VERBS[action]} {guest.name} on {host.display_name}"

    def act(conn: libvirt.virConnect) -> None:
        dom = inspect.lookup(conn, guest.uuid)
        if action is GuestAction.START:
            dom.create()
        elif action is GuestAction.SHUTDOWN:
            dom.shutdown()
        elif action is GuestAction.REBOOT:
            dom.reboot(0)
        elif action is GuestAction.FORCE_OFF:
            dom.destroy()
        elif action is GuestAction.PAUSE:
            dom.suspend()
        elif action is GuestAction.RESUME:
            if dom.info()[0] == libvirt.VIR_DOMAIN_PMSUSPENDED:
                dom.pMWakeup(0)
            else:
                dom.resume()
        elif action is GuestAction.SAVE:
            dom.managedSave(0)

    try:
        await host.call(act, summary)
    finally:
        host.request_refresh(guest.uuid)


async def fetch_delete_plan(host: HostConnection, guest: GuestInfo) -> DeletePlan:
    """Work out which of the guest's disks a delete may remove, and why others stay."""
    return await host.call(
        lambda c: _delete_plan(host.uri, c, guest),
        f"Could not inspect the storage of {guest.name}",
    )


async def delete_guest(
    host: HostConnection, guest: GuestInfo, remove_storage: Sequence[str] = ()
) -> DeleteResult:
    """Undefine a guest and remove the chosen disks it alone owns.

    The plan is recomputed on the host just before deleting, so a disk that became shared
    in the meantime is kept. The guest must be shut off (or saved, or crashed).

    Raises:
        VmguiError: the guest is running, or libvirt refused.
    """
    if guest.is_active and guest.state is not GuestState.CRASHED:
        raise VmguiError(
            f"Could not delete {guest.name}",
            f"{guest.name} is {guest.state.label}",
            "Shut the guest down or force it off first.",
        )
    try:
        return await host.call(
            lambda c: _delete(host.uri, c, guest, set(remove_storage)),
            f"Could not delete {guest.name} on {host.display_name}",
        )
    finally:
        host.request_refresh(guest.uuid)


async def set_vcpus(host: HostConnection, guest: GuestInfo, vcpus: int) -> None:
    """Set the guest's vCPUs in its persistent config (takes effect on next boot)."""
    info = host.host_info
    try:
        validate_vcpus(vcpus, host_cpus=info.cpus if info else None)
    except ValueError as exc:
        raise VmguiError(f"Could not change the vCPUs of {guest.name}", str(exc)) from exc
    await _redefine(host, guest, "vCPUs", lambda xml: set_vcpus_xml(xml, vcpus))


async def set_memory(host: HostConnection, guest: GuestInfo, memory_mib: int) -> None:
    """Set the guest's memory in its persistent config (takes effect on next boot)."""
    info = host.host_info
    try:
        validate_memory_mib(memory_mib, host_memory_kib=info.memory_kib if info else None)
    except ValueError as exc:
        raise VmguiError(f"Could not change the memory of {guest.name}", str(exc)) from exc
    await _redefine(host, guest, "memory", lambda xml: set_memory_xml(xml, memory_mib * 1024))


async def set_title(host: HostConnection, guest: GuestInfo, title: str) -> None:
    """Set (or clear, with "") the guest's title in its persistent config."""
    try:
        title = validate_title(title)
    except ValidationError as exc:
        raise VmguiError(
            f"Could not change the title of {guest.name}", exc.message, "Remove the line breaks."
        ) from exc
    await _redefine(host, guest, "title", lambda xml: set_title_xml(xml, title))


async def set_autostart(host: HostConnection, guest: GuestInfo, autostart: bool) -> None:
    """Make the guest start (or not) when the host boots."""

    def apply(conn: libvirt.virConnect) -> None:
        inspect.lookup(conn, guest.uuid).setAutostart(1 if autostart else 0)

    await host.call(apply, f"Could not change autostart of {guest.name}")


async def apply_edit(host: HostConnection, edit: GuestConfigEdit) -> None:
    """Apply a settings edit to the guest's persistent configuration, field by field.

    The changes run one after the other (each redefines the same domain); a failed one does
    not stop the others.

    Raises:
        VmguiError: a change failed (one error naming every failed change).
    """
    guest = edit.guest
    steps: list[Coroutine[Any, Any, object]] = []
    if edit.vcpus is not None:
        steps.append(set_vcpus(host, guest, edit.vcpus))
    if edit.memory_mib is not None:
        steps.append(set_memory(host, guest, edit.memory_mib))
    if edit.title is not None:
        steps.append(set_title(host, guest, edit.title))
    if edit.autostart is not None:
        steps.append(set_autostart(host, guest, edit.autostart))
    if edit.tags is not None:
        steps.append(tag_service.set_tags(host, guest, edit.tags))
    errors: list[VmguiError] = []
    for step in steps:
        try:
            await step
        except VmguiError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise VmguiError(
            f"{len(errors)} changes to {guest.name} failed",
            "\n".join(
                f"• {e.summary}: {e.details}" if e.details else f"• {e.summary}" for e in errors
            ),
        )


async def _redefine(
    host: HostConnection, guest: GuestInfo, what: str, edit: Callable[[str], str]
) -> None:
    if not guest.persistent:
        raise VmguiError(
            f"Could not change the {what} of {guest.name}",
            f"{guest.name} is transient: it has no persistent configuration",
        )
    await redefine_guest(host, guest.uuid, f"Could not change the {what} of {guest.name}", edit)


async def redefine_guest(
    host: HostConnection, uuid: str, summary: str, edit: Callable[[str], str]
) -> None:
    """Redefine guest ``uuid`` with its persistent definition (inactive XML, secrets included)
    as ``edit`` (a pure XML edit) makes it; its row is refreshed afterwards, also on failure.

    Raises:
        VmguiError: ``summary``; the edit cannot apply (its reason as details), the guest is
            gone, or libvirt refused.
    """

    def apply(conn: libvirt.virConnect) -> None:
        dom = inspect.lookup(conn, uuid)
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        try:
            new = edit(dom.XMLDesc(flags))
        except DomainXMLError as exc:
            raise VmguiError(summary, str(exc)) from None
        conn.defineXML(new)

    try:
        await host.call(apply, summary)
    finally:
        host.request_refresh(uuid)


# -- storage (blocking, worker thread) ----------------------------------------------------


def disk_ref_path(conn: libvirt.virConnect, ref: str) -> str:
    """A disk reference (a path or a :func:`~vmgui.core.xml.domain.volume_key`) as a host path."""
    key = parse_volume_key(ref)
    if key is None:
        return ref
    pool_name, vol_name = key
    try:
        return str(conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name).path())
    except libvirt.libvirtError:
        return ref


def _backing_paths_of_volumes(conn: libvirt.virConnect) -> set[str]:
    """Paths that back some volume in an active pool (base images must never be deleted)."""
    paths: set[str] = set()
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            volumes = pool.listAllVolumes(0)
        except libvirt.libvirtError:
            continue
        for vol in volumes:
            try:
                backing = read_volume(vol.XMLDesc(0)).backing_path
            except libvirt.libvirtError:
                continue
            if backing:
                paths.add(backing)
    return paths


def _delete_plan(uri: str, conn: libvirt.virConnect, guest: GuestInfo) -> DeletePlan:
    dom = inspect.lookup(conn, guest.uuid)
    details = parse_domain_xml(dom.XMLDesc(0))
    others = _other_domain_xmls(conn, guest.uuid)
    used_elsewhere = {disk_ref_path(conn, ref) for ref in disk_paths_in_use(others)}
    backing = _backing_paths_of_volumes(conn)
    own_chain = {p for disk in details.disks for p in disk.backing_paths}
    targets = {d.source_key: d.target for d in details.disks}
    items = []
    for ref in owned_volumes(details):
        path = disk_ref_path(conn, ref)
        target = targets.get(ref, "")
        if path in used_elsewhere:
            items.append(StorageItem(path, target, False, "used by another guest"))
        elif path in backing or path in own_chain:
            items.append(StorageItem(path, target, False, "backs another image"))
        elif not _is_volume(conn, path):
            items.append(
                StorageItem(path, target, False, "not a volume in a storage pool of this host")
            )
        else:
            items.append(StorageItem(path, target, True))
    info = inspect.guest_info(uri, dom)
    return DeletePlan(guest=info, storage=tuple(items))


def _other_domain_xmls(conn: libvirt.virConnect, uuid: str) -> list[str]:
    """The XML of every guest but ``uuid``, skipping guests undefined while we read them."""
    xmls = []
    for other in conn.listAllDomains(0):
        if other.UUIDString() == uuid:
            continue
        try:
            xmls.append(other.XMLDesc(0))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return xmls


def _is_volume(conn: libvirt.virConnect, path: str) -> bool:
    try:
        conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return False
    return True


def _delete(uri: str, conn: libvirt.virConnect, guest: GuestInfo, remove: set[str]) -> DeleteResult:
    plan = _delete_plan(uri, conn, guest)
    dom = inspect.lookup(conn, guest.uuid)
    if dom.isActive():
        if dom.info()[0] != libvirt.VIR_DOMAIN_CRASHED:
            raise libvirt.libvirtError(f"{guest.name} is running")
        dom.destroy()
    _undefine(dom)
    removed: list[str] = []
    kept: list[StorageItem] = []
    for item in plan.storage:
        if item.path not in remove:
            continue
        if not item.removable:
            kept.append(item)
            continue
        try:
            conn.storageVolLookupByPath(item.path).delete(0)
        except libvirt.libvirtError as exc:
            kept.append(StorageItem(item.path, item.target, False, exc.get_error_message()))
        else:
            removed.append(item.path)
    return DeleteResult(guest=plan.guest, removed=tuple(removed), kept=tuple(kept))


def _undefine(dom: libvirt.virDomain) -> None:
    if not dom.isPersistent():
        return
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    )
    try:
        dom.undefineFlags(flags)
    except libvirt.libvirtError:
        # Older hosts or drivers refuse some flags: drop what we can, then undefine.
        with contextlib.suppress(libvirt.libvirtError):
            dom.managedSaveRemove(0)
        dom.undefine()
