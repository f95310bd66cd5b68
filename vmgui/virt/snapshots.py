"""Snapshots of a guest on its host: list (a tree), create, revert, delete.

Every operation reads what it needs first and checks :mod:`vmgui.core.snapshots`' rules in
the same worker call, so a refusal is raised, with its reason, before libvirt is asked to do
anything. Snapshots other tools made are listed too; those vmgui cannot revert say why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.snapshots import (
    SnapshotInfo,
    SnapshotNode,
    create_refusal,
    delete_refusal,
    descendants,
    snapshot_disks,
    snapshot_info,
    snapshot_tree,
    validate_snapshot_name,
)
from vmgui.core.xml.snapshot import parse_snapshot_xml, snapshot_domain_facts, snapshot_xml
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection


@dataclass(frozen=True, slots=True)
class SnapshotList:
    """A guest's snapshots and what may be done on its host now.

    Attributes:
        guest: the guest's name.
        active: the guest is running or paused.
        libvirt_version: the host's libvirt version number.
        snapshots: every snapshot (creation order).
        create_refusal: why the default snapshot (with memory when active) cannot be made.
        disk_only_refusal: why a disk-only snapshot cannot be made.
    """

    guest: str
    active: bool
    libvirt_version: int
    snapshots: tuple[SnapshotInfo, ...]
    create_refusal: str
    disk_only_refusal: str

    @property
    def tree(self) -> tuple[SnapshotNode, ...]:
        """The snapshots as parent/child trees."""
        return snapshot_tree(self.snapshots)

    def find(self, name: str) -> SnapshotInfo | None:
        """The snapshot called ``name``, or None."""
        return next((s for s in self.snapshots if s.name == name), None)


def default_snapshot_name(clock: float | None = None) -> str:
    """A name for a snapshot the user did not name: "snapshot-YYYYMMDD-HHMMSS" (local time)."""
    return time.strftime("snapshot-%Y%m%d-%H%M%S", time.localtime(clock))


async def list_snapshots(host: HostConnection, uuid: str) -> SnapshotList:
    """The snapshots of guest ``uuid``.

    Raises:
        VmguiError: the guest is gone or libvirt refused.
    """
    return await host.call(lambda c: _list_blocking(c, uuid), "Could not list the snapshots")


async def create_snapshot(
    host: HostConnection,
    uuid: str,
    name: str = "",
    description: str = "",
    *,
    disk_only: bool = False,
) -> SnapshotInfo:
    """Take a snapshot of guest ``uuid``.

    A running (or paused) guest gets an internal snapshot with its memory state, unless
    ``disk_only``: then an external disk-only one (which libvirt 9.0 cannot revert; the UI
    and CLI say so first). A shut-off guest gets an internal disk snapshot.

    Raises:
        VmguiError: refused (the details say why; nothing was done) or libvirt failed.
    """
    snap_name = name or default_snapshot_name()
    try:
        validate_snapshot_name(snap_name)
    except ValueError as exc:
        raise VmguiError("Could not create the snapshot", str(exc)) from None
    try:
        return await host.call(
            lambda c: _create_blocking(c, uuid, snap_name, description, disk_only),
            f"Could not create snapshot {snap_name}",
        )
    finally:
        host.request_refresh(uuid)


async def revert_snapshot(host: HostConnection, uuid: str, name: str) -> None:
    """Revert guest ``uuid`` to snapshot ``name`` (its current state is lost).

    Raises:
        VmguiError: refused (nothing was done) or libvirt failed.
    """
    try:
        await host.call(
            lambda c: _revert_blocking(c, uuid, name), f"Could not revert to snapshot {name}"
        )
    finally:
        host.request_refresh(uuid)


async def delete_snapshot(
    host: HostConnection, uuid: str, name: str, *, with_children: bool = False
) -> tuple[str, ...]:
    """Delete snapshot ``name`` of guest ``uuid`` (and its children if asked).

    Returns:
        The names deleted.

    Raises:
        VmguiError: refused (nothing was done) or libvirt failed.
    """
    return await host.call(
        lambda c: _delete_blocking(c, uuid, name, with_children),
        f"Could not delete snapshot {name}",
    )


# -- on the worker -------------------------------------------------------------------------------


def _list_blocking(conn: libvirt.virConnect, uuid: str) -> SnapshotList:
    dom = inspect.lookup(conn, uuid)
    return _listing(conn, dom)


def _listing(conn: libvirt.virConnect, dom: libvirt.virDomain) -> SnapshotList:
    version = int(conn.getLibVersion())
    active = bool(dom.isActive())
    current = ""
    if dom.hasCurrentSnapshot(0):
        current = str(dom.snapshotCurrent(0).getName())
    snaps = []
    for snap in dom.listAllSnapshots(0):
        doc = parse_snapshot_xml(snap.getXMLDesc(0))
        snaps.append(snapshot_info(doc, doc.name == current, version))
    snaps.sort(key=lambda s: (s.created, s.name))
    facts = snapshot_domain_facts(dom.XMLDesc(0))
    return SnapshotList(
        guest=str(dom.name()),
        active=active,
        libvirt_version=version,
        snapshots=tuple(snaps),
        create_refusal=create_refusal(
            facts, active=active, disk_only=False, libvirt_version=version
        ),
        disk_only_refusal=create_refusal(
            facts, active=active, disk_only=True, libvirt_version=version
        ),
    )


def _create_blocking(
    conn: libvirt.virConnect, uuid: str, name: str, description: str, disk_only: bool
) -> SnapshotInfo:
    dom = inspect.lookup(conn, uuid)
    listing = _listing(conn, dom)
    refusal = listing.disk_only_refusal if disk_only else listing.create_refusal
    if refusal:
        raise VmguiError(f"Cannot snapshot {listing.guest}", refusal)
    if listing.find(name) is not None:
        raise VmguiError(
            f"{listing.guest} already has a snapshot named {name}", hint="Choose another name."
        )
    facts = snapshot_domain_facts(dom.XMLDesc(0))
    external = disk_only and listing.active
    xml = snapshot_xml(
        name,
        description,
        memory=listing.active and not disk_only,
        external=external,
        disks=snapshot_disks(facts.disks),
    )
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
    if external:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    snap = dom.snapshotCreateXML(xml, flags)
    doc = parse_snapshot_xml(snap.getXMLDesc(0))
    return snapshot_info(doc, True, listing.libvirt_version)


def _revert_blocking(conn: libvirt.virConnect, uuid: str, name: str) -> None:
    dom = inspect.lookup(conn, uuid)
    listing = _listing(conn, dom)
    snap = listing.find(name)
    if snap is None:
        raise VmguiError(f"{listing.guest} has no snapshot named {name}")
    if snap.revert_refusal:
        raise VmguiError(f"Cannot revert {listing.guest} to {name}", snap.revert_refusal)
    dom.revertToSnapshot(dom.snapshotLookupByName(name, 0), 0)


def _delete_blocking(
    conn: libvirt.virConnect, uuid: str, name: str, with_children: bool
) -> tuple[str, ...]:
    dom = inspect.lookup(conn, uuid)
    listing = _listing(conn, dom)
    refusal = delete_refusal(listing.snapshots, name, with_children=with_children)
    if refusal:
        raise VmguiError(f"Cannot delete snapshot {name} of {listing.guest}", refusal)
    gone = (name, *descendants(listing.snapshots, name)) if with_children else (name,)
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if with_children else 0
    dom.snapshotLookupByName(name, 0).delete(flags)
    return gone
