"""Snapshots: the read model (a tree) and the rules that decide, before anything is done,
whether a snapshot may be created, reverted or deleted on a host.

The rules follow libvirt 9.0 (``RECIPES.md`` §4): internal snapshots need every writable disk
in qcow2 (read-only disks, such as the cloud-init seed, are skipped); external snapshots cannot
be reverted before libvirt 9.9; a running UEFI guest cannot take an internal snapshot; an
external snapshot cannot be deleted while it has children or an internal parent. Each rule
returns the reason it refuses ("" when it allows), for the UI to disable a button with and
for the service to raise before it acts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vmgui.core.xml.domain import DiskInfo
from vmgui.core.xml.snapshot import SnapshotDoc, SnapshotDomainFacts

#: The first libvirt version (major * 1_000_000 + minor * 1000 + micro) that reverts external
#: snapshots.
EXTERNAL_REVERT_VERSION = 9_009_000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")

DISK_ONLY_WARNING = (
    "A disk-only snapshot of a running guest is external: libvirt {version} cannot revert "
    "to it (reverting external snapshots needs libvirt 9.9), and it holds no memory state."
)


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot of a guest, as listed.

    Attributes:
        name: the snapshot's name.
        parent: its parent's name, "" for a root.
        description: the description ("" for none).
        created: creation time, seconds since the epoch.
        state: the guest state it holds ("running", "shutoff", "disk-snapshot", ...).
        has_memory: whether it holds memory state (a revert resumes the guest).
        external: whether it is external (disk overlays or an external memory file).
        current: whether it is the guest's current snapshot.
        revert_refusal: why it cannot be reverted on this host ("" if it can).
    """

    name: str
    parent: str
    description: str
    created: int
    state: str
    has_memory: bool
    external: bool
    current: bool
    revert_refusal: str = ""

    @property
    def kind(self) -> str:
        """ "internal" or "external", for people."""
        return "external" if self.external else "internal"


@dataclass(frozen=True, slots=True)
class SnapshotNode:
    """A snapshot and its children (oldest first)."""

    snapshot: SnapshotInfo
    children: tuple[SnapshotNode, ...]


def version_text(version: int) -> str:
    """libvirt's version number as "9.0.0"."""
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"


def snapshot_info(doc: SnapshotDoc, current: bool, libvirt_version: int) -> SnapshotInfo:
    """The listed form of a snapshot's XML, with its revert refusal for this host."""
    info = SnapshotInfo(
        name=doc.name,
        parent=doc.parent,
        description=doc.description,
        created=doc.created,
        state=doc.state,
        has_memory=doc.has_memory,
        external=doc.external,
        current=current,
    )
    return dataclasses.replace(info, revert_refusal=revert_refusal(info, libvirt_version))


def snapshot_tree(snapshots: Iterable[SnapshotInfo]) -> tuple[SnapshotNode, ...]:
    """The snapshots as a forest: roots and children each ordered by creation time, then name.

    A snapshot whose parent is not in the list is a root.
    """
    items = sorted(snapshots, key=lambda s: (s.created, s.name))
    names = {s.name for s in items}
    children: dict[str, list[SnapshotInfo]] = {}
    roots: list[SnapshotInfo] = []
    for snap in items:
        if snap.parent and snap.parent in names and snap.parent != snap.name:
            children.setdefault(snap.parent, []).append(snap)
        else:
            roots.append(snap)

    def node(snap: SnapshotInfo, seen: frozenset[str]) -> SnapshotNode:
        kids = tuple(
            node(c, seen | {c.name}) for c in children.get(snap.name, ()) if c.name not in seen
        )
        return SnapshotNode(snap, kids)

    return tuple(node(r, frozenset({r.name})) for r in roots)


def descendants(snapshots: Sequence[SnapshotInfo], name: str) -> tuple[str, ...]:
    """The names of every snapshot below ``name`` (children, their children, ...)."""
    found: list[str] = []
    frontier = [name]
    while frontier:
        parent = frontier.pop()
        for snap in snapshots:
            if snap.parent == parent and snap.name not in found and snap.name != name:
                found.append(snap.name)
                frontier.append(snap.name)
    return tuple(found)


# -- rules ---------------------------------------------------------------------------------------


def validate_snapshot_name(name: str) -> str:
    """The name if it is a valid snapshot name, else raise ``ValueError`` saying why."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid snapshot name: use 1-64 letters, digits, '.', '_', '+' "
            "or '-', starting with a letter or digit."
        )
    return name


def snapshot_disks(disks: Iterable[DiskInfo]) -> tuple[tuple[str, bool], ...]:
    """(target, snapshot it) for every disk with storage: read-only disks are left out."""
    return tuple(
        (d.target, not d.readonly)
        for d in disks
        if d.target and d.source_key and d.device != "cdrom"
    )


def create_refusal(
    facts: SnapshotDomainFacts, *, active: bool, disk_only: bool, libvirt_version: int
) -> str:
    """Why a snapshot cannot be created ("" if it can).

    Args:
        facts: the guest's disks and firmware.
        active: the guest is running or paused.
        disk_only: a disk-only snapshot was asked for (external when ``active``).
        libvirt_version: the host's libvirt version (``getLibVersion``).
    """
    if disk_only and active:
        return ""  # external: any writable disk format works; read-only disks are left out
    for disk in facts.disks:
        if disk.readonly or not disk.source_key or disk.device == "cdrom":
            continue
        fmt = disk.driver_type or "raw"
        if fmt != "qcow2":
            return (
                f"Disk {disk.target} is {fmt}: internal snapshots need every writable disk "
                "in qcow2 format."
            )
    if active and facts.uefi:
        return (
            f"libvirt {version_text(libvirt_version)} refuses internal snapshots of a running "
            "UEFI guest: shut it down first, or take a disk-only snapshot."
        )
    return ""


def revert_refusal(snapshot: SnapshotInfo, libvirt_version: int) -> str:
    """Why the guest cannot be reverted to ``snapshot`` ("" if it can)."""
    if snapshot.external and libvirt_version < EXTERNAL_REVERT_VERSION:
        return (
            f"{snapshot.name} is an external snapshot: libvirt {version_text(libvirt_version)} "
            "cannot revert to it (that needs libvirt 9.9)."
        )
    return ""


def delete_refusal(snapshots: Sequence[SnapshotInfo], name: str, *, with_children: bool) -> str:
    """Why snapshot ``name`` (with or without its children) cannot be deleted ("" if it can)."""
    by_name = {s.name: s for s in snapshots}
    snap = by_name.get(name)
    if snap is None:
        return f"There is no snapshot {name!r}."
    below = descendants(snapshots, name)
    doomed = [snap, *(by_name[n] for n in below)] if with_children else [snap]
    for item in doomed:
        if not item.external:
            continue
        if not with_children and below:
            return (
                f"{item.name} is external and has child snapshots: libvirt cannot delete it "
                "alone (delete it with its children)."
            )
        parent = by_name.get(item.parent)
        if parent is not None and not parent.external:
            return f"{item.name} is external with an internal parent: libvirt cannot delete it."
    return ""
