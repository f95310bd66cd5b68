"""Blocking readers that turn libvirt objects into core snapshots.

Every function here makes libvirt calls and so runs on a connection's worker thread only.
"""

from __future__ import annotations

import contextlib

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, GuestOverview, HostInfo, guest_state_from_libvirt
from vmgui.core.validation import host_display_name
from vmgui.core.xml.base import VMGUI_NS
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.core.xml.metadata import read_tags


def error_from_libvirt(exc: libvirt.libvirtError, summary: str) -> VmguiError:
    """Wrap a libvirt error in the one error type the UI shows."""
    message = exc.get_error_message() or str(exc)
    code = exc.get_error_code()
    not_found = code in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_VOL)
    hint = _hint_for(code, exc.get_error_domain())
    return VmguiError(summary, message, hint, not_found=not_found)


# Where a "system error" (an OS call failed) comes from decides what the user should check:
# a failed socket means the host is unreachable, a failed open of a disk means a missing file.
_CONNECTION_ERROR_DOMAINS = (
    None,
    libvirt.VIR_FROM_NONE,
    libvirt.VIR_FROM_RPC,
    libvirt.VIR_FROM_REMOTE,
)
_FILE_ERROR_DOMAINS = (libvirt.VIR_FROM_STORAGE, libvirt.VIR_FROM_SECURITY)


def _hint_for(code: int | None, domain: int | None = None) -> str:
    if code == libvirt.VIR_ERR_SYSTEM_ERROR and domain not in _CONNECTION_ERROR_DOMAINS:
        if domain in _FILE_ERROR_DOMAINS:
            return "Check that the guest's disks and files exist and that libvirt can read them."
        return ""
    hints = {
        libvirt.VIR_ERR_NO_DOMAIN: "The guest no longer exists; the list has been refreshed.",
        libvirt.VIR_ERR_AUTH_FAILED: "Check the user name and credentials for this host.",
        libvirt.VIR_ERR_AUTH_CANCELLED: "Check the user name and credentials for this host.",
        libvirt.VIR_ERR_NO_CONNECT: "Check that libvirtd runs on the host and the URI is right.",
        libvirt.VIR_ERR_SYSTEM_ERROR: (
            "Check that the host is reachable and libvirtd is running on it."
        ),
        libvirt.VIR_ERR_OPERATION_INVALID: "The guest is not in a state that allows this.",
        libvirt.VIR_ERR_NO_SUPPORT: "This host's hypervisor does not support it.",
    }
    return hints.get(code or 0, "")


def guest_info(uri: str, dom: libvirt.virDomain) -> GuestInfo:
    """Read one guest's list row (a few RPCs)."""
    state, max_mem, mem, vcpus, _cpu_time = dom.info()
    has_managed_save = False
    if state == libvirt.VIR_DOMAIN_SHUTOFF:
        try:
            has_managed_save = bool(dom.hasManagedSaveImage(0))
        except libvirt.libvirtError:
            has_managed_save = False
    return GuestInfo(
        host_uri=uri,
        uuid=dom.UUIDString(),
        name=dom.name(),
        state=guest_state_from_libvirt(state, has_managed_save),
        vcpus=int(vcpus),
        memory_kib=int(mem),
        max_memory_kib=int(max_mem),
        persistent=bool(dom.isPersistent()),
        domain_id=int(dom.ID()),
        tags=read_tags(vmgui_metadata(dom)),
    )


def vmgui_metadata(dom: libvirt.virDomain, flags: int = 0) -> str | None:
    """vmgui's element in the domain's metadata (one RPC), or None when it has none.

    Args:
        dom: the guest.
        flags: ``VIR_DOMAIN_AFFECT_*``; 0 reads the running guest's live definition, or the
            persistent one of a shut-off guest.
    """
    try:
        element: str = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, VMGUI_NS, flags)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            raise
        return None
    return element


def list_guests(uri: str, conn: libvirt.virConnect) -> list[GuestInfo]:
    """Every guest on the host, skipping ones that vanish while we read them."""
    result = []
    for dom in conn.listAllDomains(0):
        try:
            result.append(guest_info(uri, dom))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return result


def lookup(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain:
    """Find a guest by UUID (raises libvirtError VIR_ERR_NO_DOMAIN when gone)."""
    return conn.lookupByUUIDString(uuid)


def guest_overview(uri: str, conn: libvirt.virConnect, uuid: str) -> GuestOverview:
    """Read everything the details pane shows for one guest."""
    dom = lookup(conn, uuid)
    info = guest_info(uri, dom)
    details = parse_domain_xml(dom.XMLDesc(0))
    try:
        autostart = bool(dom.autostart())
    except libvirt.libvirtError:
        autostart = False
    try:
        managed = bool(dom.hasManagedSaveImage(0))
    except libvirt.libvirtError:
        managed = False
    config = None
    if info.persistent and info.is_active:
        inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        config = parse_domain_xml(inactive)
    return GuestOverview(
        guest=info,
        details=details,
        autostart=autostart,
        has_managed_save=managed,
        config=config,
    )


def _version_text(number: int) -> str:
    major, rest = divmod(number, 1_000_000)
    minor, micro = divmod(rest, 1000)
    return f"{major}.{minor}.{micro}"


def host_info(uri: str, conn: libvirt.virConnect, cpu_model: str = "") -> HostInfo:
    """Read the host's identity and size (fast calls only; no capabilities)."""
    model, memory_mib, cpus, _mhz, _nodes, _sockets, _cores, _threads = conn.getInfo()
    try:
        hostname = conn.getHostname()
    except libvirt.libvirtError:
        hostname = host_display_name(uri)
    try:
        hv_version = _version_text(conn.getVersion())
    except libvirt.libvirtError:
        hv_version = ""
    secure = True
    with contextlib.suppress(libvirt.libvirtError):
        secure = conn.isSecure() != 0
    memory_kib = int(memory_mib) * 1024
    with contextlib.suppress(libvirt.libvirtError, KeyError):
        memory_kib = int(conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)["total"])
    return HostInfo(
        uri=uri,
        hostname=hostname,
        hypervisor=conn.getType(),
        hypervisor_version=hv_version,
        libvirt_version=_version_text(conn.getLibVersion()),
        cpus=int(cpus),
        memory_kib=memory_kib,
        arch=str(model),
        cpu_model=cpu_model,
        capabilities_known=bool(cpu_model),
        secure=secure,
    )
