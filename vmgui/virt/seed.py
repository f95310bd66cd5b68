"""Removing a guest's cloud-init seed once the guest has booted.

The provisioning engine attaches the NoCloud seed as a read-only disk whose volume name ends
in ``-seed.iso``; cloud-init only reads it on the first boot. Afterwards it is clutter (and it
holds the hashed password), so users remove it here: the disk leaves the guest's persistent
configuration (redefined without it, which every driver supports) and the seed volume is
deleted. Removal is only offered for a guest that is shut off.
"""

from __future__ import annotations

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.core.xml.edit import without_seed_disks
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection


async def remove_seed(host: HostConnection, guest: GuestInfo) -> list[str]:
    """Detach the guest's cloud-init seed from its configuration and delete the volume.

    Returns:
        The seed paths removed.

    Raises:
        VmguiError: the guest is running, has no seed, or libvirt refused.
    """
    summary = f"Could not remove the cloud-init seed of {guest.name}"
    if guest.is_active:
        raise VmguiError(summary, f"{guest.name} is {guest.state.label}", "Shut it down first.")
    if not guest.persistent:
        raise VmguiError(summary, f"{guest.name} is transient")

    def remove(conn: libvirt.virConnect) -> list[str]:
        dom = inspect.lookup(conn, guest.uuid)
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        xml, paths = without_seed_disks(dom.XMLDesc(flags))
        if not paths:
            raise libvirt.libvirtError(f"{guest.name} has no cloud-init seed disk")
        conn.defineXML(xml)  # the persistent config, like every other edit
        for path in paths:
            try:
                conn.storageVolLookupByPath(path).delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                    raise
        return list(paths)

    try:
        return await host.call(remove, summary)
    finally:
        host.request_refresh(guest.uuid)
