"""XML that provisioning writes: storage pools, volumes, new domains, templates and clones.

Pure builders (no libvirt calls). Every value from a user is escaped by ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vmgui.core.domxml import LIBOSINFO_NS, VMGUI_NS, DomainXMLError

# Registers the namespace prefixes (done by domxml on import).
_ = LIBOSINFO_NS


def _tostring(root: ET.Element) -> str:
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def dir_pool_xml(name: str, path: str) -> str:
    """A directory storage pool at ``path`` (mode 0755 so qemu can reach its volumes)."""
    root = ET.Element("pool", type="dir")
    _sub(root, "name", name)
    target = _sub(root, "target")
    _sub(target, "path", path)
    perms = _sub(target, "permissions")
    _sub(perms, "mode", "0755")
    return _tostring(root)


def volume_xml(
    name: str,
    capacity: int,
    fmt: str,
    *,
    backing_path: str = "",
    backing_format: str = "",
) -> str:
    """A volume of ``capacity`` bytes; with ``backing_path`` a copy-on-write overlay on it.

    The allocation is 0: nothing is preallocated, so creation is O(1) in the size.
    """
    root = ET.Element("volume")
    _sub(root, "name", name)
    _sub(root, "capacity", str(capacity), unit="bytes")
    _sub(root, "allocation", "0", unit="bytes")
    target = _sub(root, "target")
    _sub(target, "format", type=fmt)
    perms = _sub(target, "permissions")
    _sub(perms, "mode", "0644")
    if backing_path:
        store = _sub(root, "backingStore")
        _sub(store, "path", backing_path)
        _sub(store, "format", type=backing_format or "qcow2")
    return _tostring(root)


@dataclass(frozen=True, slots=True)
class DiskSpec:
    """One disk of a new domain.

    Attributes:
        path: the volume's path on the host.
        fmt: "qcow2" or "raw".
        device: "disk" or "cdrom".
        target: e.g. "vda", "sda".
        bus: "virtio" or "sata".
        readonly: attach read-only.
        boot_order: 1, 2, ... or 0 for none.
    """

    path: str
    fmt: str
    device: str = "disk"
    target: str = "vda"
    bus: str = "virtio"
    readonly: bool = False
    boot_order: int = 0


@dataclass(frozen=True, slots=True)
class DomainSpec:
    """A new guest, as :func:`domain_xml` writes it.

    Attributes:
        name: the domain name.
        virt_type: "kvm" or "qemu".
        vcpus: virtual CPUs.
        memory_mib: memory.
        disks: the disks in order.
        network: a libvirt network name, or "user" for user-mode networking.
        osinfo: the libosinfo id, or "".
        arch: e.g. "x86_64".
        serial_log: a host file recording the serial console, or "".
        graphics: add VNC (on localhost) and a video card.
        description: the domain description.
    """

    name: str
    virt_type: str
    vcpus: int
    memory_mib: int
    disks: tuple[DiskSpec, ...]
    network: str = "default"
    osinfo: str = ""
    arch: str = "x86_64"
    serial_log: str = ""
    graphics: bool = True
    description: str = ""


def domain_xml(spec: DomainSpec) -> str:
    """The persistent definition of a new guest.

    virtio disks and NIC, a serial console (also logged to ``serial_log``), a virtio balloon
    with 2 s statistics, a virtio RNG, the guest-agent channel, ACPI, and libosinfo
    metadata. libvirt picks the machine type and fills in addresses, MACs and the UUID.
    """
    root = ET.Element("domain", type=spec.virt_type)
    _sub(root, "name", spec.name)
    if spec.description:
        _sub(root, "description", spec.description)
    if spec.osinfo:
        metadata = _sub(root, "metadata")
        info = _sub(metadata, f"{{{LIBOSINFO_NS}}}libosinfo")
        _sub(info, f"{{{LIBOSINFO_NS}}}os", id=spec.osinfo)
    _sub(root, "memory", str(spec.memory_mib), unit="MiB")
    _sub(root, "currentMemory", str(spec.memory_mib), unit="MiB")
    _sub(root, "vcpu", str(spec.vcpus), placement="static")
    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch=spec.arch)
    features = _sub(root, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if spec.virt_type == "kvm":
        _sub(root, "cpu", mode="host-passthrough", check="none", migratable="on")
    _sub(root, "clock", offset="utc")
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")
    devices = _sub(root, "devices")
    for disk in spec.disks:
        _disk(devices, disk)
    if spec.network == "user":
        nic = _sub(devices, "interface", type="user")
    else:
        nic = _sub(devices, "interface", type="network")
        _sub(nic, "source", network=spec.network)
    _sub(nic, "model", type="virtio")
    serial = _sub(devices, "serial", type="pty")
    if spec.serial_log:
        _sub(serial, "log", file=spec.serial_log, append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    channel = _sub(devices, "channel", type="unix")
    _sub(channel, "target", type="virtio", name="org.qemu.guest_agent.0")
    if spec.graphics:
        _sub(devices, "graphics", type="vnc", port="-1", autoport="yes", listen="127.0.0.1")
        video = _sub(devices, "video")
        _sub(video, "model", type="virtio")
    balloon = _sub(devices, "memballoon", model="virtio")
    _sub(balloon, "stats", period="2")
    rng = _sub(devices, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")
    return _tostring(root)


def _disk(devices: ET.Element, disk: DiskSpec) -> None:
    element = _sub(devices, "disk", type="file", device=disk.device)
    _sub(element, "driver", name="qemu", type=disk.fmt)
    _sub(element, "source", file=disk.path)
    _sub(element, "target", dev=disk.target, bus=disk.bus)
    if disk.readonly:
        _sub(element, "readonly")
    if disk.boot_order:
        _sub(element, "boot", order=str(disk.boot_order))


# ----------------------------------------------------------------------------- templates

TEMPLATE_METADATA_KEY = "vmgui"


def template_metadata(existing: str | None, template: bool) -> str | None:
    """vmgui's metadata element with the template mark set or cleared.

    libvirt stores the element given to ``virDomain.setMetadata(ELEMENT, xml, "vmgui",
    VMGUI_NS)`` under vmgui's namespace, children included, and ``virDomain.metadata``
    returns it without namespaces: ``<vmgui><template/></vmgui>``. The domain XML then holds
    ``<vmgui:vmgui><vmgui:template/></vmgui:vmgui>`` (what :mod:`vmgui.core.domxml` reads).

    Args:
        existing: the current element (``virDomain.metadata``), or None.
        template: mark (True) or unmark (False).

    Returns:
        The element to store, or None to remove vmgui's metadata (nothing else was in it).
        Other children are kept.
    """
    root = ET.Element("vmgui")
    if existing:
        try:
            parsed = ET.fromstring(existing)
        except ET.ParseError as exc:
            raise DomainXMLError(f"vmgui's metadata is malformed: {exc}") from None
        for element in parsed.iter():
            element.tag = element.tag.rsplit("}", 1)[-1]
        if parsed.tag == "vmgui":
            root = parsed
    for old in root.findall("template"):
        root.remove(old)
    if template:
        ET.SubElement(root, "template")
    if len(root) == 0:
        return None
    for element in root.iter():
        element.text = element.text.strip() if element.text else element.text
        element.tail = None
    return ET.tostring(root, encoding="unicode")


@dataclass(frozen=True, slots=True)
class CloneDisk:
    """A writable disk of a template that a linked clone gets an overlay of.

    Attributes:
        target: the device name, e.g. "vda".
        path: the template disk's source path ("" for a volume disk).
        fmt: its format ("qcow2", "raw").
        pool: the pool of a type="volume" disk, else "".
        volume: the volume of a type="volume" disk, else "".
    """

    target: str
    path: str
    fmt: str
    pool: str = ""
    volume: str = ""


def clone_disks(template_xml: str) -> tuple[CloneDisk, ...]:
    """The template's writable file/block disks (each gets a copy-on-write overlay)."""
    root = _parse(template_xml)
    disks = []
    for disk in root.iterfind("devices/disk"):
        if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
            continue
        if disk.find("shareable") is not None:
            continue
        source = disk.find("source")
        driver = disk.find("driver")
        target = disk.find("target")
        if source is None or target is None:
            continue
        path = source.get("file") or source.get("dev") or ""
        pool, volume = source.get("pool", ""), source.get("volume", "")
        if not path and not (pool and volume):
            continue
        fmt = driver.get("type", "raw") if driver is not None else "raw"
        disks.append(CloneDisk(target.get("dev", ""), path, fmt, pool, volume))
    return tuple(disks)


def clone_xml(template_xml: str, name: str, overlays: dict[str, str], seed_path: str = "") -> str:
    """The definition of a linked clone of a template.

    Args:
        template_xml: the template's inactive XML.
        name: the clone's name.
        overlays: target device → the overlay's path (qcow2) for each :func:`clone_disks`.
        seed_path: a new cloud-init seed (raw ISO volume) replacing the template's seed
            (a read-only disk whose file ends in "-seed.iso"), or added as a read-only
            virtio disk; "" keeps the template's.

    Returns:
        The template's XML with a new name, no UUID, no MAC addresses (libvirt makes new
        ones), the disks replaced by the overlays, no template mark and no serial logs or
        other per-guest files.
    """
    root = _parse(template_xml)
    _set_text(root, "name", name)
    for tag in ("uuid", "genid"):
        for element in root.findall(tag):
            root.remove(element)
    metadata = root.find("metadata")
    if metadata is not None:
        for element in metadata.findall(f"{{{VMGUI_NS}}}vmgui"):
            metadata.remove(element)
    devices = root.find("devices")
    if devices is not None:
        for nic in devices.findall("interface"):
            for mac in nic.findall("mac"):
                nic.remove(mac)
            for nic_target in nic.findall("target"):
                nic.remove(nic_target)
        for disk in devices.findall("disk"):
            disk_target = disk.find("target")
            dev = disk_target.get("dev", "") if disk_target is not None else ""
            if dev in overlays:
                _point_disk_at(disk, overlays[dev])
        if seed_path:
            _replace_seed(devices, seed_path)
        for chardev in [*devices.findall("serial"), *devices.findall("console")]:
            for log in chardev.findall("log"):
                chardev.remove(log)
        for graphics in devices.findall("graphics"):
            if graphics.get("autoport") == "no":
                graphics.set("autoport", "yes")
                graphics.attrib.pop("port", None)
    return ET.tostring(root, encoding="unicode")


def _replace_seed(devices: ET.Element, seed_path: str) -> None:
    for disk in devices.findall("disk"):
        source = disk.find("source")
        file = source.get("file", "") if source is not None else ""
        if disk.find("readonly") is not None and file.endswith("-seed.iso"):
            assert source is not None
            source.set("file", seed_path)
            return
    used = {t.get("dev", "") for t in devices.iterfind("disk/target")}
    target = next(f"vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"vd{c}" not in used)
    disk = ET.Element("disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw")
    ET.SubElement(disk, "source", file=seed_path)
    ET.SubElement(disk, "target", dev=target, bus="virtio")
    ET.SubElement(disk, "readonly")
    index = max((i + 1 for i, e in enumerate(devices) if e.tag == "disk"), default=0)
    devices.insert(index, disk)


def _point_disk_at(disk: ET.Element, path: str) -> None:
    disk.set("type", "file")
    for child in disk.findall("source") + disk.findall("backingStore"):
        disk.remove(child)
    driver = disk.find("driver")
    if driver is None:
        driver = ET.Element("driver", name="qemu")
        disk.insert(0, driver)
    driver.set("type", "qcow2")
    index = list(disk).index(driver) + 1
    disk.insert(index, ET.Element("source", file=path))


def _parse(xml: str) -> ET.Element:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise DomainXMLError(f"The domain XML is malformed: {exc}") from None
    if root.tag != "domain":
        raise DomainXMLError(f"The XML is not a domain: its root element is <{root.tag}>.")
    return root


def _set_text(root: ET.Element, tag: str, text: str) -> None:
    element = root.find(tag)
    if element is None:
        element = ET.SubElement(root, tag)
    element.text = text


def host_virt_types(capabilities_xml: str, arch: str) -> tuple[str, ...]:
    """The domain types a host offers for ``arch`` ("kvm", "qemu"), from its capabilities.

    Returns:
        Types in the capabilities' order; empty if ``arch`` is not offered or the XML
        cannot be read.
    """
    try:
        root = ET.fromstring(capabilities_xml)
    except ET.ParseError:
        return ()
    types: list[str] = []
    for guest in root.iterfind("guest"):
        if (guest.findtext("os_type") or "").strip() != "hvm":
            continue
        arch_el = guest.find("arch")
        if arch_el is None or arch_el.get("name") != arch:
            continue
        for domain in arch_el.iterfind("domain"):
            kind = domain.get("type", "")
            if kind and kind not in types:
                types.append(kind)
    return tuple(types)


def host_arch(capabilities_xml: str) -> str:
    """The host's CPU architecture from its capabilities ("" if unknown)."""
    try:
        root = ET.fromstring(capabilities_xml)
    except ET.ParseError:
        return ""
    return (root.findtext("host/cpu/arch") or "").strip()


SEED_SUFFIX = "-seed.iso"


def without_seed_disks(domain_xml: str) -> tuple[str, tuple[str, ...]]:
    """A domain XML without its cloud-init seed disks, and the seeds' paths.

    A seed disk is one provisioning attached: read-only, its file ending in ``-seed.iso``
    (as a virtio disk or a CD-ROM). Everything else in the document is kept.
    """
    root = _parse(domain_xml)
    devices = root.find("devices")
    paths: list[str] = []
    if devices is not None:
        for disk in list(devices.iterfind("disk")):
            source = disk.find("source")
            path = (source.get("file") or "") if source is not None else ""
            if disk.find("readonly") is not None and path.endswith(SEED_SUFFIX):
                devices.remove(disk)
                paths.append(path)
    return ET.tostring(root, encoding="unicode"), tuple(paths)
