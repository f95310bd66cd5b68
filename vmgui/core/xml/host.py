"""Small readers for a host's other libvirt documents: capabilities, pools, volumes, networks.

Each takes the XML string virt got from libvirt and returns a frozen snapshot. They are
lenient: libvirt writes these documents, so an unreadable one (or one with the wrong root)
reads as empty rather than failing the listing it is part of.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmgui.core.validation import unit_factor
from vmgui.core.xml.base import attr, parse_or_none, text


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a host's capabilities document says (``virConnect.getCapabilities()``).

    Attributes:
        arch: the host's CPU architecture, or "".
        cpu_model: the host CPU as "vendor model" (the model alone without a vendor,
            "unknown" without a model), or "" for an unreadable document.
        guest_types: for each architecture the host runs hvm guests of, the domain types it
            offers ("kvm", "qemu"), in the document's order.
    """

    arch: str = ""
    cpu_model: str = ""
    guest_types: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def virt_types(self, arch: str) -> tuple[str, ...]:
        """The domain types offered for ``arch`` (empty if it is not offered)."""
        return next((types for name, types in self.guest_types if name == arch), ())


def read_capabilities(xml: str) -> Capabilities:
    """Read a capabilities document."""
    root = parse_or_none(xml, "capabilities")
    if root is None:
        return Capabilities()
    by_arch: dict[str, list[str]] = {}
    for guest in root.iterfind("guest"):
        arch_el = guest.find("arch")
        if text(guest, "os_type") != "hvm" or arch_el is None:
            continue
        types = by_arch.setdefault(arch_el.get("name", ""), [])
        for domain in arch_el.iterfind("domain"):
            kind = domain.get("type", "")
            if kind and kind not in types:
                types.append(kind)
    model, vendor = text(root, "host/cpu/model"), text(root, "host/cpu/vendor")
    return Capabilities(
        arch=text(root, "host/cpu/arch"),
        cpu_model=(f"{vendor} {model}" if vendor else model) if model else "unknown",
        guest_types=tuple((arch, tuple(types)) for arch, types in by_arch.items()),
    )


@dataclass(frozen=True, slots=True)
class PoolDoc:
    """What a storage pool's XML says.

    Attributes:
        target_path: the pool's directory (or device) on the host, or "".
    """

    target_path: str = ""


def read_pool(xml: str) -> PoolDoc:
    """Read a storage pool document (``virStoragePool.XMLDesc()``)."""
    root = parse_or_none(xml, "pool")
    return PoolDoc(text(root, "target/path")) if root is not None else PoolDoc()


@dataclass(frozen=True, slots=True)
class VolumeDoc:
    """What a storage volume's XML says.

    Attributes:
        format: the image format ("qcow2", "raw", "iso", ...), or "".
        backing_path: the file backing a copy-on-write volume, or "".
        capacity: the virtual size in bytes (0 if not given).
    """

    format: str = ""
    backing_path: str = ""
    capacity: int = 0


def read_volume(xml: str) -> VolumeDoc:
    """Read a storage volume document (``virStorageVol.XMLDesc()``)."""
    root = parse_or_none(xml, "volume")
    if root is None:
        return VolumeDoc()
    capacity = 0
    element = root.find("capacity")
    if element is not None:
        try:
            capacity = int((element.text or "").strip()) * unit_factor(element.get("unit", "bytes"))
        except ValueError:
            capacity = 0
    return VolumeDoc(
        format=attr(root, "target/format", "type"),
        backing_path=text(root, "backingStore/path"),
        capacity=capacity,
    )


@dataclass(frozen=True, slots=True)
class NetworkDoc:
    """What a virtual network's XML says.

    Attributes:
        forward_mode: how traffic leaves the network ("nat", "route", "bridge", ...), or ""
            for an isolated network (no ``<forward>``).
        bridge: the host bridge device, e.g. "virbr0", or "".
    """

    forward_mode: str = ""
    bridge: str = ""


def read_network(xml: str) -> NetworkDoc:
    """Read a virtual network document (``virNetwork.XMLDesc()``)."""
    root = parse_or_none(xml, "network")
    if root is None:
        return NetworkDoc()
    forward = root.find("forward")
    mode = forward.get("mode", "nat") if forward is not None else ""
    return NetworkDoc(forward_mode=mode, bridge=attr(root, "bridge", "name"))
