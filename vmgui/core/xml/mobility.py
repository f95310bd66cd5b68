"""Edits of domain XML for a guest's copies and moves: its own files, network mapping, and
what a copy on another host must not carry over.

Pure string -> string transforms (see :mod:`~vmgui.core.xml.edit` for the conventions).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vmgui.core.provisioning import USER_NETWORK
from vmgui.core.xml.base import (
    attr,
    parse_or_none,
    parse_root,
    remove_all,
    remove_child,
    serialize,
    text,
)
from vmgui.core.xml.edit import rename_file_chardevs


def rename_guest_files(xml: str, old_name: str, new_name: str, directory: str = "") -> str:
    """Point per-guest files at the copy's own (:func:`~vmgui.core.xml.edit.rename_file_chardevs`
    on a whole definition)."""
    root = parse_root(xml)
    devices = root.find("devices")
    if devices is None or not old_name:
        return xml
    rename_file_chardevs(devices, old_name, new_name, directory)
    return serialize(root)


def networks_of(xml: str) -> tuple[str, ...]:
    """The libvirt networks a guest's interfaces use (``type='network'``), without duplicates."""
    root = parse_root(xml)
    names = {
        attr(nic, "source", "network"): None
        for nic in root.iterfind("devices/interface")
        if nic.get("type") == "network"
    }
    return tuple(n for n in names if n)


def map_networks(xml: str, mapping: Mapping[str, str]) -> str:
    """Move interfaces from source networks to others; :data:`USER_NETWORK` means user-mode.

    Args:
        xml: a domain XML.
        mapping: source network name -> destination network name (or "user").
    """
    root = parse_root(xml)
    for nic in root.iterfind("devices/interface"):
        if nic.get("type") != "network":
            continue
        source = nic.find("source")
        old = source.get("network", "") if source is not None else ""
        if old not in mapping:
            continue
        new = mapping[old]
        if new == USER_NETWORK:
            nic.set("type", "user")
            remove_all(nic, "source")
        elif source is not None:
            source.set("network", new)
    return serialize(root)


def portable_xml(xml: str) -> str:
    """A definition to carry to another host: without host-side names libvirt makes anew
    (interface targets, aliases of live XML, the security labels' image labels)."""
    root = parse_root(xml)
    for nic in root.iterfind("devices/interface"):
        remove_all(nic, "target")
    for label in root.findall("seclabel"):
        if label.get("type") == "dynamic":
            for child in ("label", "imagelabel"):
                remove_all(label, child)
    return serialize(root)


def set_identity(xml: str, name: str, *, new_uuid: bool, new_macs: bool) -> str:
    """Rename a definition; drop its UUID and/or MAC addresses (libvirt makes new ones)."""
    root = parse_root(xml)
    name_el = root.find("name")
    if name_el is None:
        name_el = ET.SubElement(root, "name")
    name_el.text = name
    if new_uuid:
        remove_all(root, "uuid")
    if new_macs:
        for nic in root.iterfind("devices/interface"):
            remove_all(nic, "mac")
    return serialize(root)


def point_disks(xml: str, disks: Mapping[str, tuple[str, str]]) -> str:
    """Point disks at other files: target -> (path, format); a file disk without a chain."""
    root = parse_root(xml)
    for disk in root.iterfind("devices/disk"):
        target = attr(disk, "target", "dev")
        if target not in disks:
            continue
        path, fmt = disks[target]
        disk.set("type", "file")
        for tag in ("source", "backingStore"):
            remove_all(disk, tag)
        driver = disk.find("driver")
        if driver is None:
            driver = ET.Element("driver", name="qemu")
            disk.insert(0, driver)
        driver.set("type", fmt)
        disk.insert(list(disk).index(driver) + 1, ET.Element("source", file=path))
    return serialize(root)


def drop_disks(xml: str, targets: Iterable[str]) -> str:
    """Remove the disks with the given targets (left out of a copy)."""
    root = parse_root(xml)
    devices = root.find("devices")
    gone = set(targets)
    if devices is not None:
        for disk in devices.findall("disk"):
            if attr(disk, "target", "dev") in gone:
                remove_child(devices, disk)
    return serialize(root)


def eject_media(xml: str, targets: Iterable[str]) -> str:
    """Empty the CD-ROM drives with the given targets (the drives stay, without a medium)."""
    root = parse_root(xml)
    gone = set(targets)
    for disk in root.iterfind("devices/disk"):
        if disk.get("device") == "cdrom" and attr(disk, "target", "dev") in gone:
            for tag in ("source", "backingStore"):
                remove_all(disk, tag)
            disk.set("type", "file")
    return serialize(root)


def file_chardev_paths(xml: str) -> tuple[str, ...]:
    """The files a guest's serial, console, channel and parallel ports write (``type='file'``),
    without duplicates: the guest's host makes them when it starts."""
    root = parse_root(xml)
    paths: dict[str, None] = {}
    for tag in ("serial", "console", "channel", "parallel"):
        for chardev in root.iterfind(f"devices/{tag}"):
            if chardev.get("type") == "file":
                paths[attr(chardev, "source", "path")] = None
    return tuple(p for p in paths if p)


def disk_xml_of(xml: str, target: str) -> str:
    """The ``<disk>`` element of ``target`` alone (for a detach), or "" if there is none."""
    root = parse_root(xml)
    for disk in root.iterfind("devices/disk"):
        if attr(disk, "target", "dev") == target:
            disk.tail = None
            return serialize(disk)
    return ""


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What a host says about a volume's file, to tell whether a local file is that very file.

    Attributes:
        size: the file's size (``<physical>``), bytes.
        mtime_ns: its modification time, ns since the epoch.
        ctime_ns: its status-change time, ns since the epoch.
    """

    size: int
    mtime_ns: int
    ctime_ns: int


def volume_stamp(xml: str) -> FileStamp | None:
    """The :class:`FileStamp` of a volume document (``virStorageVol.XMLDesc()``), or None when
    it lacks the size or the times (not a file, or a driver that does not say)."""
    root = parse_or_none(xml, "volume")
    if root is None:
        return None
    try:
        size = int(text(root, "physical"))
        mtime = _nanoseconds(text(root, "target/timestamps/mtime"))
        ctime = _nanoseconds(text(root, "target/timestamps/ctime"))
    except ValueError:
        return None
    return FileStamp(size, mtime, ctime) if mtime and ctime else None


def _nanoseconds(stamp: str) -> int:
    seconds, _dot, fraction = stamp.strip().partition(".")
    return int(seconds) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))
