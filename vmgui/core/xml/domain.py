"""The domain read model (:class:`GuestDetails`) and the storage rules built on it.

One rule each: :func:`is_seed_disk` (the cloud-init seed provisioning attached),
:func:`is_writable_disk` (a disk whose storage belongs to the guest), and
:func:`volume_key` (how a pool volume is named where a path would be).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from vmgui.core.osinfo import osinfo_display_name
from vmgui.core.validation import unit_factor
from vmgui.core.xml.base import (
    LIBOSINFO_NS,
    VMGUI_NS,
    DomainXMLError,
    attr,
    parse_or_none,
    parse_root,
    text,
)

SEED_SUFFIX = "-seed.iso"
_SOURCE_TYPES_OWNED = frozenset({"file", "block", "volume"})


def seed_volume_name(guest_name: str) -> str:
    """The name of the cloud-init seed volume provisioning makes for ``guest_name``."""
    return f"{guest_name}{SEED_SUFFIX}"


def volume_key(pool: str, volume: str) -> str:
    """A pool volume as one string, "pool/volume" (where a disk would have a path)."""
    return f"{pool}/{volume}"


def parse_volume_key(key: str) -> tuple[str, str] | None:
    """The (pool, volume) of a :func:`volume_key`, or None for a path (or a bare name)."""
    if key.startswith("/") or "/" not in key:
        return None
    pool, volume = key.split("/", 1)
    return pool, volume


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
        """The source as one string: the path, or :func:`volume_key`, or ""."""
        if self.source_type == "volume" and self.pool and self.volume:
            return volume_key(self.pool, self.volume)
        return self.path


def is_seed_disk(disk: DiskInfo) -> bool:
    """Whether ``disk`` is a cloud-init seed provisioning attached.

    That is a read-only file whose name ends in :data:`SEED_SUFFIX` (a virtio disk or a
    CD-ROM alike).
    """
    return disk.readonly and disk.source_type == "file" and disk.path.endswith(SEED_SUFFIX)


def is_writable_disk(disk: DiskInfo) -> bool:
    """Whether ``disk``'s storage belongs to the guest: what a deletion may offer to remove
    and what a linked clone gets an overlay of.

    That is a writable, non-shareable disk of device "disk" with a file, block or volume
    source; CD-ROMs, floppies, LUNs, read-only, shareable and network disks never are.
    """
    return (
        disk.device == "disk"
        and not (disk.readonly or disk.shareable)
        and disk.source_type in _SOURCE_TYPES_OWNED
        and bool(disk.source_key)
    )


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


def xml_int(value: str, what: str) -> int:
    """``value`` as an integer.

    Raises:
        DomainXMLError: naming ``what`` if it is not one.
    """
    try:
        return int(value.strip())
    except ValueError:
        raise DomainXMLError(f"The domain XML has a bad {what}: {value!r}.") from None


def _memory_kib(element: ET.Element | None, what: str) -> int:
    """A libvirt scaled memory element in KiB (rounded up, as libvirt does)."""
    if element is None:
        return 0
    value = xml_int(element.text or "", what)
    unit = element.get("unit", "KiB")
    try:
        factor = unit_factor(unit)
    except ValueError:
        raise DomainXMLError(f"The domain XML has an unknown unit {unit!r} in {what}.") from None
    return math.ceil(value * factor / 1024)


def _backing_paths(disk: ET.Element) -> tuple[str, ...]:
    paths: list[str] = []
    store = disk.find("backingStore")
    while store is not None:
        if path := attr(store, "source", "file") or attr(store, "source", "dev"):
            paths.append(path)
        store = store.find("backingStore")
    return tuple(paths)


def read_disk(disk: ET.Element) -> DiskInfo:
    """What one ``<disk>`` element says (the edits apply the predicates above to it)."""
    file, dev = attr(disk, "source", "file"), attr(disk, "source", "dev")
    source_type = disk.get("type") or ("file" if file else "block" if dev else "")
    is_volume = source_type == "volume"
    return DiskInfo(
        device=disk.get("device", "disk"),
        target=attr(disk, "target", "dev"),
        bus=attr(disk, "target", "bus"),
        source_type=source_type,
        path=file or dev,
        pool=attr(disk, "source", "pool") if is_volume else "",
        volume=attr(disk, "source", "volume") if is_volume else "",
        driver_type=attr(disk, "driver", "type"),
        readonly=disk.find("readonly") is not None,
        shareable=disk.find("shareable") is not None,
        backing_paths=_backing_paths(disk),
    )


_NIC_SOURCE_ATTR = {"network": "network", "bridge": "bridge", "direct": "dev"}


def _read_nic(nic: ET.Element) -> NicInfo:
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
        mac=attr(nic, "mac", "address"),
        model=attr(nic, "model", "type"),
        target_dev=attr(nic, "target", "dev"),
    )


def parse_domain_xml(xml: str) -> GuestDetails:
    """Read a domain XML document (``virDomain.XMLDesc()``, live or inactive).

    Raises:
        DomainXMLError: if the XML is malformed, is not a ``<domain>``, lacks a name or
            uuid, or has unreadable numbers.
    """
    root = parse_root(xml)
    name = text(root, "name")
    uuid = text(root, "uuid")
    if not name:
        raise DomainXMLError("The domain XML has no <name>.")
    if not uuid:
        raise DomainXMLError(f"The domain XML of {name!r} has no <uuid>.")

    max_vcpus = xml_int(root.findtext("vcpu") or "1", "<vcpu>")
    current = attr(root, "vcpu", "current")
    max_memory_kib = _memory_kib(root.find("memory"), "<memory>")
    cpu_model = text(root, "cpu/model")
    cpu = root.find("cpu")
    cpu_mode = cpu.get("mode", "custom" if cpu_model else "") if cpu is not None else ""
    osinfo_id = attr(root, f"metadata/{{{LIBOSINFO_NS}}}libosinfo/{{{LIBOSINFO_NS}}}os", "id")
    template = root.find(f"metadata/{{{VMGUI_NS}}}vmgui/{{{VMGUI_NS}}}template")
    balloon = root.find("devices/memballoon")

    return GuestDetails(
        name=name,
        uuid=uuid,
        title=text(root, "title"),
        description=root.findtext("description") or "",
        domain_type=root.get("type", ""),
        os_type=text(root, "os/type"),
        arch=attr(root, "os/type", "arch"),
        machine=attr(root, "os/type", "machine"),
        osinfo_id=osinfo_id,
        os_name=osinfo_display_name(osinfo_id),
        vcpus=xml_int(current, "<vcpu current>") if current else max_vcpus,
        max_vcpus=max_vcpus,
        cpu_mode=cpu_mode,
        cpu_model=cpu_model,
        memory_kib=_memory_kib(root.find("currentMemory"), "<currentMemory>") or max_memory_kib,
        max_memory_kib=max_memory_kib,
        disks=tuple(read_disk(d) for d in root.iterfind("devices/disk")),
        nics=tuple(_read_nic(n) for n in root.iterfind("devices/interface")),
        graphics=tuple(g.get("type", "") for g in root.iterfind("devices/graphics")),
        has_balloon=balloon is not None and balloon.get("model", "") != "none",
        vmgui_template=template is not None,
    )


def owned_volumes(details: GuestDetails) -> tuple[str, ...]:
    """The storage a guest's deletion could offer to remove: its :func:`is_writable_disk` disks.

    Callers must still exclude paths other guests use (:func:`disk_paths_in_use`).

    Returns:
        File or device paths, and :func:`volume_key` for volume disks, without duplicates,
        in disk order.
    """
    keys = {disk.source_key: None for disk in details.disks if is_writable_disk(disk)}
    return tuple(keys)


def disk_paths_in_use(xml_documents: Iterable[str]) -> set[str]:
    """Every disk source and backing file that the given guests use.

    Pass the XML of every *other* guest on the host to learn which volumes a deletion
    must keep. Volume disks appear as :func:`volume_key` (as in :func:`owned_volumes`);
    backing chains are only known from live XML.

    Returns:
        Source paths (and volume keys) plus backing chain paths.

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


def device_names(domain_xml: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The target names of a domain's disks (not empty CD-ROMs) and interfaces.

    What the per-guest stats fallback asks ``blockStats``/``interfaceStats`` about; an
    unreadable document has none.
    """
    root = parse_or_none(domain_xml, "domain")
    if root is None:
        return (), ()
    disks = tuple(
        dev
        for disk in root.iterfind("devices/disk")
        if (dev := attr(disk, "target", "dev")) and disk.find("source") is not None
    )
    nics = tuple(
        dev for nic in root.iterfind("devices/interface") if (dev := attr(nic, "target", "dev"))
    )
    return disks, nics


def balloon_needs_period(domain_xml: str) -> bool:
    """Whether the domain has a balloon device whose statistics are not collected.

    False for an unreadable document.
    """
    root = parse_or_none(domain_xml, "domain")
    balloon = root.find("devices/memballoon") if root is not None else None
    if balloon is None or balloon.get("model", "none") == "none":
        return False
    stats = balloon.find("stats")
    if stats is None:
        return True
    try:
        return int(stats.get("period", "0")) <= 0
    except ValueError:
        return True
