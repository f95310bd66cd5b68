"""Snapshot XML: the ``<domainsnapshot>`` documents vmgui writes and reads, and the domain
facts snapshot rules need (which disks, UEFI firmware).

Pure: no libvirt calls. Reading is lenient about what other tools wrote (a snapshot made by
virsh or virt-manager is listed whatever it holds).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from vmgui.core.xml.base import DomainXMLError, attr, parse_root, serialize, text
from vmgui.core.xml.domain import DiskInfo, read_disk


@dataclass(frozen=True, slots=True)
class SnapshotDoc:
    """What one snapshot's XML (``virDomainSnapshot.getXMLDesc()``) says.

    Attributes:
        name: the snapshot's name.
        parent: its parent's name, or "" for a root.
        description: the description, or "".
        created: creation time, seconds since the epoch (0 if not given).
        state: the guest's state it holds: "running", "paused", "shutoff", "disk-snapshot"...
        memory: the memory location: "internal", "external" or "no" ("" if not given).
        disk_modes: (disk target, "internal"/"external"/"no"/"manual"/"") per disk listed.
    """

    name: str
    parent: str
    description: str
    created: int
    state: str
    memory: str
    disk_modes: tuple[tuple[str, str], ...]

    @property
    def external(self) -> bool:
        """Whether memory or any disk is external (or a disk-only snapshot)."""
        return (
            self.memory == "external"
            or self.state == "disk-snapshot"
            or any(mode == "external" for _, mode in self.disk_modes)
        )

    @property
    def has_memory(self) -> bool:
        """Whether the snapshot holds the guest's memory state (revert resumes it running)."""
        return self.memory in ("internal", "external") or (
            not self.memory and self.state in ("running", "paused")
        )


def parse_snapshot_xml(xml: str) -> SnapshotDoc:
    """Read a ``<domainsnapshot>`` document.

    Raises:
        DomainXMLError: if it is malformed, not a snapshot or has no name.
    """
    root = parse_root(xml, "domainsnapshot", "The snapshot XML")
    name = text(root, "name")
    if not name:
        raise DomainXMLError("The snapshot XML has no <name>.")
    created_text = text(root, "creationTime")
    try:
        created = int(created_text) if created_text else 0
    except ValueError:
        created = 0
    modes = tuple(
        (disk.get("name", ""), disk.get("snapshot", "")) for disk in root.iterfind("disks/disk")
    )
    return SnapshotDoc(
        name=name,
        parent=text(root, "parent/name"),
        description=root.findtext("description") or "",
        created=created,
        state=text(root, "state"),
        memory=attr(root, "memory", "snapshot"),
        disk_modes=modes,
    )


def snapshot_xml(
    name: str,
    description: str,
    *,
    memory: bool,
    external: bool,
    disks: Sequence[tuple[str, bool]],
) -> str:
    """A ``<domainsnapshot>`` to create.

    Args:
        name: the snapshot's name.
        description: its description ("" for none).
        memory: with the guest's memory state (internal; running guests only).
        external: disk-only external snapshot (new overlay files made by libvirt).
        disks: (target, snapshot it) per disk; read-only disks get ``snapshot='no'``.
    """
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = name
    if description:
        ET.SubElement(root, "description").text = description
    ET.SubElement(root, "memory", snapshot="internal" if memory else "no")
    if disks:
        element = ET.SubElement(root, "disks")
        mode = "external" if external else "internal"
        for target, include in disks:
            ET.SubElement(element, "disk", name=target, snapshot=mode if include else "no")
    ET.indent(root)
    return serialize(root)


@dataclass(frozen=True, slots=True)
class SnapshotDomainFacts:
    """What a guest's domain XML says that snapshot rules need.

    Attributes:
        disks: every disk.
        uefi: the guest boots UEFI firmware (``firmware='efi'`` or a pflash loader).
    """

    disks: tuple[DiskInfo, ...]
    uefi: bool


def snapshot_domain_facts(domain_xml: str) -> SnapshotDomainFacts:
    """The :class:`SnapshotDomainFacts` of a domain XML.

    Raises:
        DomainXMLError: if the XML cannot be read.
    """
    root = parse_root(domain_xml)
    disks = tuple(read_disk(d) for d in root.iterfind("devices/disk"))
    os_element = root.find("os")
    uefi = False
    if os_element is not None:
        loader = attr(os_element, "loader", "type")
        uefi = os_element.get("firmware", "") == "efi" or loader == "pflash"
    return SnapshotDomainFacts(disks, uefi)
