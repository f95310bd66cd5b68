"""Edits of domain XML: the ``set_*_xml`` changes, templates and linked clones.

Each edit is a pure string → string transform of a persistent definition
(``virDomain.XMLDesc(VIR_DOMAIN_XML_INACTIVE)``): it changes one thing, keeps every other
element, attribute and comment (:mod:`~vmgui.core.xml.base`'s one comment policy), returns
the edited XML and raises :class:`~vmgui.core.xml.base.DomainXMLError` if the XML cannot be
read. New elements follow the document's indentation.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vmgui.core.validation import validate_title
from vmgui.core.xml.base import (
    VMGUI_NS,
    attr,
    ensure_child,
    insert_child,
    is_element,
    parse_root,
    remove_all,
    remove_child,
    serialize,
)
from vmgui.core.xml.domain import is_seed_disk, is_writable_disk, read_disk, xml_int
from vmgui.core.xml.metadata import METADATA_KEY, close_vmgui_metadata, open_vmgui_metadata

TEMPLATE_METADATA_KEY = METADATA_KEY


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
    root = parse_root(xml)
    after = ("name", "uuid", "title", "description", "metadata", "maxMemory", "memory")
    vcpu = ensure_child(root, "vcpu", (*after, "currentMemory"))
    vcpu.text = str(vcpus)
    vcpu.attrib.pop("current", None)
    remove_all(root, "vcpus")
    topology = root.find("cpu/topology")
    if topology is not None:
        threads = xml_int(topology.get("threads", "1"), "<topology threads>")
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
            if xml_int(pin.get("vcpu", "0"), "<vcpupin vcpu>") >= vcpus:
                remove_child(cputune, pin)
    return serialize(root)


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
    root = parse_root(xml)
    after = ("name", "uuid", "title", "description", "metadata", "maxMemory")
    memory = ensure_child(root, "memory", after)
    memory.text = str(maximum)
    memory.set("unit", "KiB")
    current = ensure_child(root, "currentMemory", ("memory",))
    current.text = str(memory_kib)
    current.set("unit", "KiB")
    return serialize(root)


def set_title_xml(xml: str, title: str) -> str:
    """Set a guest's title (its one-line short description); an empty title removes it.

    Raises:
        ValidationError: if ``title`` breaks :func:`~vmgui.core.validation.validate_title`.
    """
    title = validate_title(title)
    root = parse_root(xml)
    if title:
        ensure_child(root, "title", ("name", "uuid", "genid")).text = title
    else:
        remove_all(root, "title")
    return serialize(root)


# ----------------------------------------------------------------------------- templates


def template_metadata(existing: str | None, template: bool) -> str | None:
    """vmgui's metadata element with the template mark set or cleared.

    libvirt stores the element given to ``virDomain.setMetadata(ELEMENT, xml, "vmgui",
    VMGUI_NS)`` under vmgui's namespace, children included, and ``virDomain.metadata``
    returns it without namespaces: ``<vmgui><template/></vmgui>``. The domain XML then holds
    ``<vmgui:vmgui><vmgui:template/></vmgui:vmgui>`` (what
    :func:`~vmgui.core.xml.domain.parse_domain_xml` reads).

    Args:
        existing: the current element (``virDomain.metadata``), or None.
        template: mark (True) or unmark (False).

    Returns:
        The element to store, or None to remove vmgui's metadata (no other element was in
        it). Other children are kept.

    Raises:
        DomainXMLError: if ``existing`` is malformed.
    """
    root = open_vmgui_metadata(existing)
    for old in root.findall("template"):
        root.remove(old)
    if template:
        ET.SubElement(root, "template")
    return close_vmgui_metadata(root)


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
    """The template's :func:`~vmgui.core.xml.domain.is_writable_disk` disks (each gets a
    copy-on-write overlay).

    Raises:
        DomainXMLError: if the XML cannot be read.
    """
    root = parse_root(template_xml)
    disks = (read_disk(element) for element in root.iterfind("devices/disk"))
    return tuple(
        CloneDisk(disk.target, disk.path, disk.driver_type or "raw", disk.pool, disk.volume)
        for disk in disks
        if is_writable_disk(disk)
    )


def rename_file_chardevs(
    devices: ET.Element, old_name: str, new_name: str, directory: str = ""
) -> None:
    """Point per-guest files (a serial, console, channel or parallel port written to a file)
    at a copy's own, in place.

    A ``type='file'`` chardev whose source file name holds ``old_name`` gets that name replaced
    by ``new_name``, so that two guests never write one file; other paths are left alone. With
    ``directory`` (a copy on another host, where the source's folders may not exist) every such
    file moves into it.
    """
    if not old_name:
        return
    for tag in ("serial", "console", "channel", "parallel"):
        for chardev in devices.findall(tag):
            source = chardev.find("source")
            if chardev.get("type") != "file" or source is None:
                continue
            head, sep, tail = source.get("path", "").rpartition("/")
            if directory:
                head, sep = directory.rstrip("/"), "/"
            if old_name in tail or directory:
                source.set("path", f"{head}{sep}{tail.replace(old_name, new_name)}")


def clone_xml(template_xml: str, name: str, overlays: dict[str, str], seed_path: str = "") -> str:
    """The definition of a linked clone of a template.

    Args:
        template_xml: the template's inactive XML.
        name: the clone's name.
        overlays: target device → the overlay's path (qcow2) for each :func:`clone_disks`.
        seed_path: a new cloud-init seed (raw ISO volume) replacing the template's seed
            (:func:`~vmgui.core.xml.domain.is_seed_disk`), or added as a read-only virtio
            disk; "" keeps the template's.

    Returns:
        The template's XML with a new name, no UUID, no MAC addresses (libvirt makes new
        ones), the disks replaced by the overlays, no template mark (its tags kept), no serial
        logs, and
        file chardevs named after the clone (:func:`rename_file_chardevs`).

    Raises:
        DomainXMLError: if the XML cannot be read.
    """
    root = parse_root(template_xml)
    source_name = (root.findtext("name") or "").strip()
    ensure_child(root, "name", ()).text = name
    for tag in ("uuid", "genid"):
        remove_all(root, tag)
    metadata = root.find("metadata")
    if metadata is not None:  # the clone is no template; its tags it keeps
        for mine in metadata.findall(f"{{{VMGUI_NS}}}vmgui"):
            remove_all(mine, f"{{{VMGUI_NS}}}template")
            if not any(is_element(child) for child in mine):
                metadata.remove(mine)
    devices = root.find("devices")
    if devices is not None:
        for nic in devices.findall("interface"):
            remove_all(nic, "mac")
            remove_all(nic, "target")
        for disk in devices.findall("disk"):
            dev = attr(disk, "target", "dev")
            if dev in overlays:
                _point_disk_at(disk, overlays[dev])
        if seed_path:
            _replace_seed(devices, seed_path)
        for chardev in [*devices.findall("serial"), *devices.findall("console")]:
            remove_all(chardev, "log")
        rename_file_chardevs(devices, source_name, name)
        for graphics in devices.findall("graphics"):
            if graphics.get("autoport") == "no":
                graphics.set("autoport", "yes")
                graphics.attrib.pop("port", None)
    return serialize(root)


def _replace_seed(devices: ET.Element, seed_path: str) -> None:
    for disk in devices.findall("disk"):
        source = disk.find("source")
        if source is not None and is_seed_disk(read_disk(disk)):
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
    insert_child(devices, index, disk)


def _point_disk_at(disk: ET.Element, path: str) -> None:
    disk.set("type", "file")
    remove_all(disk, "source")
    remove_all(disk, "backingStore")
    driver = disk.find("driver")
    if driver is None:
        driver = insert_child(disk, 0, ET.Element("driver", name="qemu"))
    driver.set("type", "qcow2")
    insert_child(disk, list(disk).index(driver) + 1, ET.Element("source", file=path))


def without_seed_disks(domain_xml: str) -> tuple[str, tuple[str, ...]]:
    """A domain XML without its cloud-init seed disks, and the seeds' paths.

    A seed disk is one :func:`~vmgui.core.xml.domain.is_seed_disk` names. Everything else in
    the document is kept.

    Raises:
        DomainXMLError: if the XML cannot be read.
    """
    root = parse_root(domain_xml)
    devices = root.find("devices")
    paths: list[str] = []
    if devices is not None:
        for disk in devices.findall("disk"):
            info = read_disk(disk)
            if is_seed_disk(info):
                remove_child(devices, disk)
                paths.append(info.path)
    return serialize(root), tuple(paths)
