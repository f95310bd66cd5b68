"""Libvirt domain XML: parse it into :class:`GuestDetails` and apply small edits.

The ``set_*_xml`` edits are pure string → string transforms of a persistent definition
(``virDomain.XMLDesc(VIR_DOMAIN_XML_INACTIVE)``): each takes the XML, changes one thing,
keeps every other element, attribute and comment, returns the edited XML and raises
:class:`DomainXMLError` if the XML cannot be read. ElementTree does not keep namespace
prefixes; the namespaces vmgui and libvirt commonly use are registered so they keep
readable prefixes, any other namespace keeps its URI under a generated prefix.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from vmgui.core.validation import unit_factor

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
VMGUI_NS = "https://vmgui.dev/xmlns/vmgui/1.0"

_KNOWN_NAMESPACES = {
    "libosinfo": LIBOSINFO_NS,
    "vmgui": VMGUI_NS,
    "qemu": "http://libvirt.org/schemas/domain/qemu/1.0",
    "lxc": "http://libvirt.org/schemas/domain/lxc/1.0",
    "bhyve": "http://libvirt.org/schemas/domain/bhyve/1.0",
    "xen": "http://libvirt.org/schemas/domain/xen/1.0",
    "boxes": "https://wiki.gnome.org/Apps/Boxes",
}
for _prefix, _uri in _KNOWN_NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

# Readable names for libosinfo ids: "<host>/<path prefix>" → product name.
_OS_VENDORS = {
    "debian.org/debian": "Debian",
    "ubuntu.com/ubuntu": "Ubuntu",
    "fedoraproject.org/fedora": "Fedora",
    "fedoraproject.org/coreos": "Fedora CoreOS",
    "fedoraproject.org/silverblue": "Fedora Silverblue",
    "microsoft.com/win": "Windows",
    "redhat.com/rhel": "Red Hat Enterprise Linux",
    "centos.org/centos": "CentOS",
    "centos.org/centos-stream": "CentOS Stream",
    "almalinux.org/almalinux": "AlmaLinux",
    "rockylinux.org/rocky": "Rocky Linux",
    "opensuse.org/opensuse": "openSUSE",
    "suse.com/sles": "SUSE Linux Enterprise Server",
    "archlinux.org/archlinux": "Arch Linux",
    "alpinelinux.org/alpinelinux": "Alpine Linux",
    "freebsd.org/freebsd": "FreeBSD",
    "netbsd.org/netbsd": "NetBSD",
    "openbsd.org/openbsd": "OpenBSD",
    "linuxmint.com/linuxmint": "Linux Mint",
    "libosinfo.org/linux": "Linux",
}

_SOURCE_TYPES_OWNED = frozenset({"file", "block", "volume"})


class DomainXMLError(ValueError):
    """A domain XML document cannot be read (malformed, or lacks name or uuid)."""


@dataclass(frozen=True, slots=True)
class DiskInfo:
    """One ``<disk>`` of a guest.

    Attributes:
        device: "disk", "cdrom", "floppy" or "lun".
        target: the guest device name, e.g. "vda".
        bus: e.g. "virtio", "sata", "scsi".
        source_type: the disk's type: "file", "block", "volume", "network", ... or "".
        path: the source file or device path; "" if none (empty CD-ROM, volume, network).
        pool: the storage pool of a type="volume" disk, else "".
        volume: the volume name of a type="volume" disk, else "".
        driver_type: the image format, e.g. "qcow2", "raw"; "" if not given.
        readonly: whether the disk is read-only.
        shareable: whether the disk may be shared between guests.
        backing_paths: the backing chain's source files (live XML), outermost first.
    """

    device: str
    target: str
    bus: str
    source_type: str
    path: str
    pool: str = ""
    volume: str = ""
    driver_type: str = ""
    readonly: bool = False
    shareable: bool = False
    backing_paths: tuple[str, ...] = ()

    @property
    def source_key(self) -> str:
        """The source as one string: the path, or "pool/volume", or ""."""
        if self.source_type == "volume" and self.pool and self.volume:
            return f"{self.pool}/{self.volume}"
        return self.path


@dataclass(frozen=True, slots=True)
class NicInfo:
    """One ``<interface>`` of a guest.

    Attributes:
        type: "network", "bridge", "user", "direct", ...
        source: the network name, bridge, or host device; "" for user networking.
        mac: the MAC address, or "".
        model: the device model, e.g. "virtio", or "".
        target_dev: the host-side device (live XML), e.g. "vnet0", or "".
    """

    type: str
    source: str
    mac: str
    model: str
    target_dev: str = ""


@dataclass(frozen=True, slots=True)
class GuestDetails:
    """What a guest's domain XML says about it.

    Attributes:
        name: the domain name.
        uuid: the domain UUID.
        title: the short description, or "".
        description: the long description, or "".
        domain_type: "kvm", "qemu", "test", ...
        os_type: e.g. "hvm".
        arch: e.g. "x86_64", or "".
        machine: e.g. "pc-q35-7.2", or "".
        osinfo_id: the libosinfo OS id URL, or "".
        os_name: a readable OS name derived from ``osinfo_id`` ("" if none).
        vcpus: current vCPUs.
        max_vcpus: maximum vCPUs.
        cpu_mode: e.g. "host-passthrough", "custom", or "" without a ``<cpu>`` mode.
        cpu_model: the CPU model name, or "".
        memory_kib: current memory (``<currentMemory>``) in KiB.
        max_memory_kib: maximum memory (``<memory>``) in KiB.
        disks: the disks, in document order.
        nics: the network interfaces, in document order.
        graphics: the graphics types, e.g. ("vnc",) or ("spice",).
        has_balloon: whether a memory balloon device is present (model not "none").
        vmgui_template: whether vmgui's metadata marks the guest as a template.
    """

    name: str
    uuid: str
    title: str = ""
    description: str = ""
    domain_type: str = ""
    os_type: str = ""
    arch: str = ""
    machine: str = ""
    osinfo_id: str = ""
    os_name: str = ""
    vcpus: int = 1
    max_vcpus: int = 1
    cpu_mode: str = ""
    cpu_model: str = ""
    memory_kib: int = 0
    max_memory_kib: int = 0
    disks: tuple[DiskInfo, ...] = ()
    nics: tuple[NicInfo, ...] = ()
    graphics: tuple[str, ...] = ()
    has_balloon: bool = False
    vmgui_template: bool = False


def _parse_root(xml: str) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    try:
        root = ET.fromstring(xml, parser=parser)
    except ET.ParseError as exc:
        raise DomainXMLError(f"The domain XML is malformed: {exc}") from None
    if root.tag != "domain":
        raise DomainXMLError(f"The XML is not a domain: its root element is <{root.tag}>.")
    return root


def _text(root: ET.Element, path: str) -> str:
    return (root.findtext(path) or "").strip()


def _attr(parent: ET.Element, path: str, name: str) -> str:
    element = parent.find(path)
    return element.get(name, "") if element is not None else ""


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DomainXMLError(f"The domain XML has a bad {what}: {text!r}.") from None


def _memory_kib(element: ET.Element | None, what: str) -> int:
    """A libvirt scaled memory element in KiB (rounded up, as libvirt does)."""
    if element is None:
        return 0
    value = _int(element.text or "", what)
    unit = element.get("unit", "KiB")
    try:
        factor = unit_factor(unit)
    except ValueError:
        raise DomainXMLError(f"The domain XML has an unknown unit {unit!r} in {what}.") from None
    return math.ceil(value * factor / 1024)


def osinfo_display_name(osinfo_id: str) -> str:
    """A readable OS name for a libosinfo id ("" for an empty id).

    "http://debian.org/debian/12" → "Debian 12", "http://microsoft.com/win/11" →
    "Windows 11", "http://microsoft.com/win/2k22" → "Windows Server 2022". Unknown
    vendors fall back to the last parts of the id's path ("http://x.org/foo/1" →
    "Foo 1"); a string that is not a URL is returned as is.
    """
    if not osinfo_id:
        return ""
    _, sep, rest = osinfo_id.partition("://")
    if not sep:
        return osinfo_id
    host, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if host.startswith("www."):
        host = host[4:]
    for length in range(len(parts), 0, -1):
        vendor = _OS_VENDORS.get("/".join([host, *parts[:length]]))
        if vendor is not None:
            version = " ".join(parts[length:])
            if vendor == "Windows" and version.startswith("2k"):
                return f"Windows Server 20{version[2:]}"
            return f"{vendor} {version}" if version else vendor
    if not parts:
        return host
    tail = " ".join(parts[-2:])
    return tail[:1].upper() + tail[1:]


def _backing_paths(disk: ET.Element) -> tuple[str, ...]:
    paths: list[str] = []
    store = disk.find("backingStore")
    while store is not None:
        if path := _attr(store, "source", "file") or _attr(store, "source", "dev"):
            paths.append(path)
        store = store.find("backingStore")
    return tuple(paths)


def _parse_disk(disk: ET.Element) -> DiskInfo:
    file, dev = _attr(disk, "source", "file"), _attr(disk, "source", "dev")
    source_type = disk.get("type") or ("file" if file else "block" if dev else "")
    is_volume = source_type == "volume"
    return DiskInfo(
        device=disk.get("device", "disk"),
        target=_attr(disk, "target", "dev"),
        bus=_attr(disk, "target", "bus"),
        source_type=source_type,
        path=file or dev,
        pool=_attr(disk, "source", "pool") if is_volume else "",
        volume=_attr(disk, "source", "volume") if is_volume else "",
        driver_type=_attr(disk, "driver", "type"),
        readonly=disk.find("readonly") is not None,
        shareable=disk.find("shareable") is not None,
        backing_paths=_backing_paths(disk),
    )


_NIC_SOURCE_ATTR = {"network": "network", "bridge": "bridge", "direct": "dev"}


def _parse_nic(nic: ET.Element) -> NicInfo:
    nic_type = nic.get("type", "")
    source = nic.find("source")
    source_name = ""
    if source is not None and nic_type != "user":
        preferred = _NIC_SOURCE_ATTR.get(nic_type)
        names = [preferred] if preferred else ["network", "bridge", "dev", "path", "name"]
        source_name = next((source.get(n, "") for n in names if source.get(n)), "")
    return NicInfo(
        type=nic_type,
        source=source_name,
        mac=_attr(nic, "mac", "address"),
        model=_attr(nic, "model", "type"),
        target_dev=_attr(nic, "target", "dev"),
    )


def parse_domain_xml(xml: str) -> GuestDetails:
    """Read a domain XML document (``virDomain.XMLDesc()``, live or inactive).

    Raises:
        DomainXMLError: if the XML is malformed, is not a ``<domain>``, lacks a name or
            uuid, or has unreadable numbers.
    """
    root = _parse_root(xml)
    name = _text(root, "name")
    uuid = _text(root, "uuid")
    if not name:
        raise DomainXMLError("The domain XML has no <name>.")
    if not uuid:
        raise DomainXMLError(f"The domain XML of {name!r} has no <uuid>.")

    max_vcpus = _int(root.findtext("vcpu") or "1", "<vcpu>")
    current = _attr(root, "vcpu", "current")
    max_memory_kib = _memory_kib(root.find("memory"), "<memory>")
    cpu_model = _text(root, "cpu/model")
    cpu = root.find("cpu")
    cpu_mode = cpu.get("mode", "custom" if cpu_model else "") if cpu is not None else ""
    osinfo_id = _attr(root, f"metadata/{{{LIBOSINFO_NS}}}libosinfo/{{{LIBOSINFO_NS}}}os", "id")
    template = root.find(f"metadata/{{{VMGUI_NS}}}vmgui/{{{VMGUI_NS}}}template")
    balloon = root.find("devices/memballoon")

    return GuestDetails(
        name=name,
        uuid=uuid,
        title=_text(root, "title"),
        description=root.findtext("description") or "",
        domain_type=root.get("type", ""),
        os_type=_text(root, "os/type"),
        arch=_attr(root, "os/type", "arch"),
        machine=_attr(root, "os/type", "machine"),
        osinfo_id=osinfo_id,
        os_name=osinfo_display_name(osinfo_id),
        vcpus=_int(current, "<vcpu current>") if current else max_vcpus,
        max_vcpus=max_vcpus,
        cpu_mode=cpu_mode,
        cpu_model=cpu_model,
        memory_kib=_memory_kib(root.find("currentMemory"), "<currentMemory>") or max_memory_kib,
        max_memory_kib=max_memory_kib,
        disks=tuple(_parse_disk(d) for d in root.iterfind("devices/disk")),
        nics=tuple(_parse_nic(n) for n in root.iterfind("devices/interface")),
        graphics=tuple(g.get("type", "") for g in root.iterfind("devices/graphics")),
        has_balloon=balloon is not None and balloon.get("model", "") != "none",
        vmgui_template=template is not None,
    )


def owned_volumes(details: GuestDetails) -> tuple[str, ...]:
    """The storage a guest's deletion could offer to remove.

    Only writable, non-shareable disks of device "disk" with a file, block or volume
    source count; CD-ROMs, floppies, LUNs, read-only and shareable disks never do.
    Callers must still exclude paths other guests use (:func:`disk_paths_in_use`).

    Returns:
        File or device paths, and "pool/volume" for volume disks, without duplicates,
        in disk order.
    """
    keys = {
        disk.source_key: None
        for disk in details.disks
        if disk.device == "disk"
        and not (disk.readonly or disk.shareable)
        and disk.source_type in _SOURCE_TYPES_OWNED
        and disk.source_key
    }
    return tuple(keys)


def disk_paths_in_use(xml_documents: Iterable[str]) -> set[str]:
    """Every disk source and backing file that the given guests use.

    Pass the XML of every *other* guest on the host to learn which volumes a deletion
    must keep. Volume disks appear as "pool/volume" (as in :func:`owned_volumes`);
    backing chains are only known from live XML.

    Returns:
        Source paths (and "pool/volume" keys) plus backing chain paths.

    Raises:
        DomainXMLError: if a document cannot be read.
    """
    used: set[str] = set()
    for xml in xml_documents:
        for disk in parse_domain_xml(xml).disks:
            if disk.source_key:
                used.add(disk.source_key)
            used.update(disk.backing_paths)
    return used


# ----------------------------------------------------------------------------- edits


def _serialize(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def _child_indent(root: ET.Element) -> str:
    """The whitespace libvirt puts before a top-level child ("\\n  ")."""
    return root.text if root.text and not root.text.strip() else "\n  "


def _ensure_child(root: ET.Element, tag: str, after: tuple[str, ...]) -> ET.Element:
    """Return ``root``'s ``tag`` child, creating it after the last of ``after`` found."""
    element = root.find(tag)
    if element is not None:
        return element
    element = ET.Element(tag)
    children = list(root)
    index = 0
    for position, child in enumerate(children):
        if child.tag in after:
            index = position + 1
    indent = _child_indent(root)
    if index == 0:
        element.tail = root.text if children else "\n"
        root.text = indent
    else:
        previous = children[index - 1]
        element.tail = previous.tail
        previous.tail = indent
    root.insert(index, element)
    return element


def _remove_child(root: ET.Element, tag: str) -> None:
    element = root.find(tag)
    if element is None:
        return
    children = list(root)
    index = children.index(element)
    if index > 0:
        children[index - 1].tail = element.tail
    elif len(children) == 1:
        root.text = element.tail
    root.remove(element)


def set_vcpus_xml(xml: str, vcpus: int) -> str:
    """Give a guest ``vcpus`` virtual CPUs, current and maximum alike.

    Sets ``<vcpu>`` to ``vcpus`` and drops its ``current`` attribute. Parts that must
    match the vCPU count follow: an existing ``<cpu><topology>`` becomes one socket
    (keeping the thread count when it divides ``vcpus``), the per-vCPU ``<vcpus>``
    list is dropped (libvirt recreates it) and ``<vcpupin>`` entries for vCPUs that no
    longer exist are removed.

    Raises:
        ValueError: if ``vcpus`` is below 1.
    """
    if vcpus < 1:
        raise ValueError(f"A guest needs at least 1 vCPU (got {vcpus}).")
    root = _parse_root(xml)
    after = ("name", "uuid", "title", "description", "metadata", "maxMemory", "memory")
    vcpu = _ensure_child(root, "vcpu", (*after, "currentMemory"))
    vcpu.text = str(vcpus)
    vcpu.attrib.pop("current", None)
    _remove_child(root, "vcpus")
    topology = root.find("cpu/topology")
    if topology is not None:
        threads = _int(topology.get("threads", "1"), "<topology threads>")
        if threads < 1 or vcpus % threads:
            threads = 1
        for name in ("dies", "clusters"):
            if name in topology.attrib:
                topology.set(name, "1")
        topology.set("sockets", "1")
        topology.set("cores", str(vcpus // threads))
        topology.set("threads", str(threads))
    cputune = root.find("cputune")
    if cputune is not None:
        for pin in cputune.findall("vcpupin"):
            if _int(pin.get("vcpu", "0"), "<vcpupin vcpu>") >= vcpus:
                cputune.remove(pin)
    return _serialize(root)


def set_memory_xml(xml: str, memory_kib: int, max_memory_kib: int | None = None) -> str:
    """Set a guest's memory.

    ``<currentMemory>`` becomes ``memory_kib`` and ``<memory>`` becomes the larger of
    ``max_memory_kib`` (or ``memory_kib`` when not given) and ``memory_kib``, both in
    KiB. Other attributes (e.g. ``dumpCore``) and ``<maxMemory>`` are kept.

    Raises:
        ValueError: if a size is below 1 KiB.
    """
    if memory_kib < 1 or (max_memory_kib is not None and max_memory_kib < 1):
        raise ValueError(
            f"Memory must be at least 1 KiB (got {memory_kib}, maximum {max_memory_kib})."
        )
    maximum = max(max_memory_kib or memory_kib, memory_kib)
    root = _parse_root(xml)
    after = ("name", "uuid", "title", "description", "metadata", "maxMemory")
    memory = _ensure_child(root, "memory", after)
    memory.text = str(maximum)
    memory.set("unit", "KiB")
    current = _ensure_child(root, "currentMemory", ("memory",))
    current.text = str(memory_kib)
    current.set("unit", "KiB")
    return _serialize(root)


def _set_text_child(xml: str, tag: str, text: str, after: tuple[str, ...]) -> str:
    root = _parse_root(xml)
    if text:
        _ensure_child(root, tag, after).text = text
    else:
        _remove_child(root, tag)
    return _serialize(root)


def set_title_xml(xml: str, title: str) -> str:
    """Set a guest's title (its one-line short description); an empty title removes it.

    Raises:
        ValueError: if ``title`` holds a line break (libvirt refuses those).
    """
    if "\n" in title or "\r" in title:
        raise ValueError("A guest title must be a single line.")
    return _set_text_child(xml, "title", title.strip(), ("name", "uuid", "genid"))


def set_description_xml(xml: str, description: str) -> str:
    """Set a guest's description (may span lines); an empty description removes it."""
    after = ("name", "uuid", "genid", "title")
    return _set_text_child(xml, "description", description.strip(), after)
