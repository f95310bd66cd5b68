"""Snapshot rules, tree and XML (pure)."""

from __future__ import annotations

import pytest

from vmgui.core.snapshots import (
    SnapshotInfo,
    create_refusal,
    delete_refusal,
    descendants,
    revert_refusal,
    snapshot_disks,
    snapshot_info,
    snapshot_tree,
    validate_snapshot_name,
    version_text,
)
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.snapshot import (
    SnapshotDomainFacts,
    parse_snapshot_xml,
    snapshot_domain_facts,
    snapshot_xml,
)

V9 = 9_000_000

DOMAIN = """<domain type='qemu'><name>g</name><uuid>u</uuid>
  <os{fw}><type>hvm</type>{loader}</os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>
      <source file='/i/g.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='/i/g-seed.iso'/><target dev='vdb' bus='virtio'/><readonly/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
  </devices></domain>"""


def _facts(fmt: str = "qcow2", fw: str = "", loader: str = "") -> SnapshotDomainFacts:
    return snapshot_domain_facts(DOMAIN.format(fmt=fmt, fw=fw, loader=loader))


def _snap(name: str, parent: str = "", created: int = 0, external: bool = False) -> SnapshotInfo:
    return SnapshotInfo(name, parent, "", created, "running", True, external, False)


def test_read_only_disks_are_ignored_and_raw_writable_disks_refused() -> None:
    assert create_refusal(_facts(), active=True, disk_only=False, libvirt_version=V9) == ""
    assert create_refusal(_facts("raw"), active=False, disk_only=False, libvirt_version=V9) == (
        "Disk vda is raw: internal snapshots need every writable disk in qcow2 format."
    )
    # external disk-only of a running guest works with any format
    assert create_refusal(_facts("raw"), active=True, disk_only=True, libvirt_version=V9) == ""
    assert snapshot_disks(_facts().disks) == (("vda", True), ("vdb", False))


@pytest.mark.parametrize(
    ("fw", "loader"), [(" firmware='efi'", ""), ("", "<loader type='pflash'>/x</loader>")]
)
def test_running_uefi_guests_refuse_internal_snapshots(fw: str, loader: str) -> None:
    facts = _facts(fw=fw, loader=loader)
    assert facts.uefi
    assert "refuses internal snapshots of a running UEFI guest" in create_refusal(
        facts, active=True, disk_only=False, libvirt_version=V9
    )
    assert create_refusal(facts, active=False, disk_only=False, libvirt_version=V9) == ""
    assert create_refusal(facts, active=True, disk_only=True, libvirt_version=V9) == ""


def test_external_snapshots_revert_from_9_9_only() -> None:
    ext = _snap("e", external=True)
    assert revert_refusal(ext, V9) == (
        "e is an external snapshot: libvirt 9.0.0 cannot revert to it (that needs libvirt 9.9)."
    )
    assert revert_refusal(ext, 9_009_000) == ""
    assert revert_refusal(_snap("i"), V9) == ""
    assert version_text(10_002_003) == "10.2.3"


def test_delete_rules() -> None:
    snaps = [_snap("a"), _snap("b", "a", external=True), _snap("c", "b", external=True)]
    assert delete_refusal(snaps, "b", with_children=False).startswith("b is external and has child")
    assert delete_refusal(snaps, "c", with_children=False) == ""
    assert delete_refusal(snaps, "b", with_children=True) == (
        "b is external with an internal parent: libvirt cannot delete it."
    )
    assert delete_refusal(snaps, "a", with_children=False) == ""
    assert delete_refusal(snaps, "x", with_children=False) == "There is no snapshot 'x'."
    assert descendants(snaps, "a") == ("b", "c")


def test_tree_orders_by_creation_and_survives_orphans_and_loops() -> None:
    snaps = [_snap("z", "", 1), _snap("y", "z", 3), _snap("x", "z", 2), _snap("o", "gone", 0)]
    tree = snapshot_tree(snaps)
    assert [n.snapshot.name for n in tree] == ["o", "z"]
    assert [c.snapshot.name for c in tree[1].children] == ["x", "y"]
    loop = snapshot_tree([_snap("p", "q", 1), _snap("q", "p", 2)])
    assert loop == ()  # neither is a root: nothing is listed twice, nothing loops


def test_snapshot_xml_round_trip() -> None:
    xml = snapshot_xml(
        "s1", "a & b", memory=True, external=False, disks=[("vda", True), ("vdb", False)]
    )
    doc = parse_snapshot_xml(
        xml.replace(
            "</domainsnapshot>",
            "<parent><name>p</name></parent><creationTime>17</creationTime><state>running</state></domainsnapshot>",
        )
    )
    assert (doc.name, doc.description, doc.parent, doc.created, doc.memory) == (
        "s1",
        "a & b",
        "p",
        17,
        "internal",
    )
    assert doc.disk_modes == (("vda", "internal"), ("vdb", "no"))
    assert doc.has_memory and not doc.external
    info = snapshot_info(doc, True, V9)
    assert info.current and info.kind == "internal" and info.revert_refusal == ""
    ext = parse_snapshot_xml(
        snapshot_xml("e", "", memory=False, external=True, disks=[("vda", True)])
    )
    assert ext.external and not ext.has_memory
    with pytest.raises(DomainXMLError):
        parse_snapshot_xml("<domainsnapshot/>")


def test_snapshot_names() -> None:
    assert validate_snapshot_name("before-upgrade_1.2") == "before-upgrade_1.2"
    for bad in ("", "-x", "a/b", "a b", "x" * 65):
        with pytest.raises(ValueError, match="not a valid snapshot name"):
            validate_snapshot_name(bad)
