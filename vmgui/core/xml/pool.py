"""Readers for storage pool and volume documents beyond :mod:`vmgui.core.xml.host`'s.

Lenient like those: libvirt writes these documents, so an unreadable one reads as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmgui.core.xml.base import attr, parse_or_none, text


@dataclass(frozen=True, slots=True)
class PoolDescription:
    """What a pool's XML says (``virStoragePool.XMLDesc()``).

    Attributes:
        type: the pool type ("dir", "logical", "netfs", ...), or "".
        target_path: its directory or device on the host, or "".
    """

    type: str = ""
    target_path: str = ""


def read_pool_description(xml: str) -> PoolDescription:
    """Read a storage pool document."""
    root = parse_or_none(xml, "pool")
    if root is None:
        return PoolDescription()
    return PoolDescription(root.get("type", ""), text(root, "target/path"))


@dataclass(frozen=True, slots=True)
class VolumeBacking:
    """A volume's format and what backs it (``virStorageVol.XMLDesc()``).

    Attributes:
        format: the image format ("qcow2", "raw", ...), or "".
        backing_path: the file backing it (one level), or "".
        backing_format: that file's format, or "".
    """

    format: str = ""
    backing_path: str = ""
    backing_format: str = ""


def read_volume_backing(xml: str) -> VolumeBacking:
    """Read a volume document's format and backing store."""
    root = parse_or_none(xml, "volume")
    if root is None:
        return VolumeBacking()
    return VolumeBacking(
        format=attr(root, "target/format", "type"),
        backing_path=text(root, "backingStore/path"),
        backing_format=attr(root, "backingStore/format", "type"),
    )
