"""The documents provisioning writes: storage pools, volumes and new domains.

Pure builders (no libvirt calls). Every value from a user is escaped by ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vmgui.core.xml.base import LIBOSINFO_NS, serialize
from vmgui.core.xml.display import VncListen, vnc_graphics


def _tostring(root: ET.Element) -> str:
    ET.indent(root)
    return serialize(root)


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
        graphics: where the VNC display listens (:func:`~vmgui.core.xml.display.vnc_listen_for`
            the host: no TCP port on a local host, 127.0.0.1 on a remote one), or None for
            no display and no video card.
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
    graphics: VncListen | None = VncListen.NONE
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
    if spec.graphics is not None:
        devices.append(vnc_graphics(spec.graphics))
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
