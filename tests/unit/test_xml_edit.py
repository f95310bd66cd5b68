"""Tests for vmgui.core.xml.edit: edits of persistent definitions, templates, clones."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.unit.xmldata import (
    CLONE_TEMPLATE_XML,
    QEMU_LIVE_XML,
    TEMPLATE_XML,
    TEST_DRIVER_XML,
    devices,
    minimal,
    tags,
)
from vmgui.core.xml.base import VMGUI_NS, DomainXMLError
from vmgui.core.xml.domain import GuestDetails, parse_domain_xml
from vmgui.core.xml.edit import (
    clone_disks,
    clone_xml,
    set_memory_xml,
    set_title_xml,
    set_vcpus_xml,
    template_metadata,
    without_seed_disks,
)
from vmgui.core.xml.metadata import read_tags

# ------------------------------------------------------------------------------ set_*


def test_set_vcpus_sets_current_and_max_and_keeps_the_rest() -> None:
    edited = set_vcpus_xml(QEMU_LIVE_XML, 4)
    before, after = parse_domain_xml(QEMU_LIVE_XML), parse_domain_xml(edited)

    assert (after.vcpus, after.max_vcpus) == (4, 4)
    assert "current=" not in edited
    assert after.disks == before.disks
    assert after.nics == before.nics
    assert after.osinfo_id == "http://debian.org/debian/12"
    assert devices(edited) == devices(QEMU_LIVE_XML)
    assert tags(edited) == tags(QEMU_LIVE_XML)
    assert 'xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"' in edited
    assert '<libosinfo:os id="http://debian.org/debian/12"' in edited
    topology = ET.fromstring(edited).find("cpu/topology")
    assert topology is not None
    assert topology.attrib == {"sockets": "1", "dies": "1", "cores": "2", "threads": "2"}


def test_set_vcpus_fixes_topology_vcpus_list_and_pins() -> None:
    edited = set_vcpus_xml(TEMPLATE_XML, 1)
    root = ET.fromstring(edited)

    assert parse_domain_xml(edited).max_vcpus == 1
    topology = root.find("cpu/topology")
    assert topology is not None
    assert topology.attrib == {"sockets": "1", "cores": "1", "threads": "1"}
    assert root.find("vcpus") is None
    assert [p.get("vcpu") for p in root.iterfind("cputune/vcpupin")] == ["0"]
    assert "<!-- sized for the smallest hosts -->" in edited


def test_set_vcpus_odd_count_drops_threads() -> None:
    topology = ET.fromstring(set_vcpus_xml(QEMU_LIVE_XML, 3)).find("cpu/topology")

    assert topology is not None
    assert (topology.get("cores"), topology.get("threads")) == ("3", "1")


def test_set_vcpus_creates_missing_element_and_rejects_zero() -> None:
    edited = set_vcpus_xml(minimal("<memory>1024</memory><os><type>hvm</type></os>"), 2)

    assert tags(edited) == ["name", "uuid", "memory", "vcpu", "os"]
    assert parse_domain_xml(edited).vcpus == 2
    with pytest.raises(ValueError, match="at least 1 vCPU"):
        set_vcpus_xml(TEST_DRIVER_XML, 0)


def test_set_memory_sets_current_and_raises_max() -> None:
    edited = set_memory_xml(TEMPLATE_XML, 2 * 1024 * 1024)
    details = parse_domain_xml(edited)

    assert (details.memory_kib, details.max_memory_kib) == (2097152, 2097152)
    memory = ET.fromstring(edited).find("memory")
    assert memory is not None
    assert memory.attrib == {"unit": "KiB", "dumpCore": "off"}
    assert details.vmgui_template is True
    assert "<vmgui:template />" in edited
    assert devices(edited) == devices(TEMPLATE_XML)


@pytest.mark.parametrize(
    ("memory", "maximum", "expected"),
    [
        (1048576, 4194304, (1048576, 4194304)),
        (1048576, 524288, (1048576, 1048576)),
        (524288, None, (524288, 524288)),
    ],
)
def test_set_memory_maximum(memory: int, maximum: int | None, expected: tuple[int, int]) -> None:
    details = parse_domain_xml(set_memory_xml(TEST_DRIVER_XML, memory, maximum))

    assert (details.memory_kib, details.max_memory_kib) == expected


def test_set_memory_creates_missing_elements_and_rejects_zero() -> None:
    edited = set_memory_xml(minimal("<vcpu>1</vcpu>"), 65536)

    assert tags(edited) == ["name", "uuid", "memory", "currentMemory", "vcpu"]
    with pytest.raises(ValueError, match="at least 1 KiB"):
        set_memory_xml(TEST_DRIVER_XML, 0)


def test_set_title_adds_replaces_and_removes() -> None:
    added = set_title_xml(TEST_DRIVER_XML, "  Test guest ")
    assert parse_domain_xml(added).title == "Test guest"
    assert tags(added)[:4] == ["name", "uuid", "title", "memory"]
    assert "  <title>Test guest</title>\n  <memory" in added

    replaced = set_title_xml(QEMU_LIVE_XML, "Web server (old)")
    assert parse_domain_xml(replaced).title == "Web server (old)"
    assert tags(replaced) == tags(QEMU_LIVE_XML)

    removed = set_title_xml(QEMU_LIVE_XML, "")
    assert parse_domain_xml(removed).title == ""
    assert "title" not in tags(removed)
    assert "</uuid>\n  <description>" in removed
    assert devices(removed) == devices(QEMU_LIVE_XML)


def test_set_title_rejects_line_breaks() -> None:
    with pytest.raises(ValueError, match="single line"):
        set_title_xml(TEST_DRIVER_XML, "two\nlines")


def test_edits_reject_malformed_xml() -> None:
    with pytest.raises(DomainXMLError, match="malformed"):
        set_title_xml("<domain>", "x")


# ------------------------------------------------------------------- templates and clones


def _parse(xml: str) -> object:
    """parse_domain_xml needs a UUID (libvirt adds one on define)."""
    return parse_domain_xml(xml.replace("</name>", "</name><uuid>0-0</uuid>", 1))


def test_template_metadata_round_trip() -> None:
    marked = template_metadata(None, True)
    assert marked == "<vmgui><template /></vmgui>"
    assert template_metadata(marked, True) == marked
    assert template_metadata(marked, False) is None
    other = "<vmgui>\n  <note>x</note>\n</vmgui>"
    both = template_metadata(other, True)
    assert both == "<vmgui><note>x</note><template /></vmgui>"
    assert template_metadata(both, False) == "<vmgui><note>x</note></vmgui>"


def test_clone_disks_and_xml() -> None:
    disks = clone_disks(CLONE_TEMPLATE_XML)
    assert [(d.target, d.path, d.fmt, d.pool, d.volume) for d in disks] == [
        ("vda", "/p/tpl.qcow2", "qcow2", "", ""),
        ("vdc", "", "raw", "data", "tpl-data.img"),
    ]
    xml = clone_xml(CLONE_TEMPLATE_XML, "c1", {"vda": "/p/c1-vda.qcow2", "vdc": "/d/c1-vdc.qcow2"})
    details = _parse(xml)
    assert isinstance(details, GuestDetails)
    assert details.name == "c1"
    assert not details.vmgui_template
    root = ET.fromstring(xml)
    assert root.find("uuid") is None
    assert root.find("devices/interface/mac") is None
    assert root.find("devices/serial/log") is None
    sources = [
        (d.findtext("target") or "", d.find("source").attrib, d.find("driver").get("type"))  # type: ignore[union-attr]
        for d in root.iterfind("devices/disk")
    ]
    assert sources[0][1] == {"file": "/p/c1-vda.qcow2"} and sources[0][2] == "qcow2"
    assert sources[1][1] == {"file": "/d/c1-vdc.qcow2"} and sources[1][2] == "qcow2"
    assert sources[2][1] == {"file": "/p/tpl-seed.iso"}
    seeded = ET.fromstring(clone_xml(CLONE_TEMPLATE_XML, "c2", {}, seed_path="/p/c2-seed.iso"))
    files = [d.find("source").get("file") for d in seeded.iterfind("devices/disk")]  # type: ignore[union-attr]
    assert "/p/c2-seed.iso" in files and "/p/tpl-seed.iso" not in files


def test_clone_adds_a_seed_when_the_template_has_none() -> None:
    plain = CLONE_TEMPLATE_XML.replace("tpl-seed.iso", "other.iso")
    root = ET.fromstring(clone_xml(plain, "c3", {}, seed_path="/p/c3-seed.iso"))
    added = [
        d
        for d in root.iterfind("devices/disk")
        if d.find("source[@file='/p/c3-seed.iso']") is not None
    ]
    assert len(added) == 1
    assert added[0].find("target").get("dev") == "vdd"  # type: ignore[union-attr]
    assert added[0].find("readonly") is not None


def test_clone_xml_adds_the_seed_disk_in_the_documents_layout() -> None:
    plain = CLONE_TEMPLATE_XML.replace("tpl-seed.iso", "other.iso")
    xml = clone_xml(plain, "c4", {}, seed_path="/p/c4-seed.iso")
    assert (
        "    </disk>\n"
        '    <disk type="file" device="disk">\n'
        '      <driver name="qemu" type="raw" />\n'
        '      <source file="/p/c4-seed.iso" />\n'
        '      <target dev="vdd" bus="virtio" />\n'
        "      <readonly />\n"
        "    </disk>\n"
        "    <interface"
    ) in xml
    assert "<mac" not in xml and "</name>\n  <metadata>" in xml


def test_without_seed_disks_removes_only_the_seed() -> None:
    stripped, paths = without_seed_disks(QEMU_LIVE_XML)
    assert paths == ("/var/lib/libvirt/images/debian12-web-seed.iso",)
    before, after = parse_domain_xml(QEMU_LIVE_XML), parse_domain_xml(stripped)
    assert after.disks == tuple(d for d in before.disks if d.target != "sda")
    assert "    </disk>\n    <disk type='block'" not in stripped  # ElementTree writes "
    assert '    </disk>\n    <disk type="block" device="disk">' in stripped
    assert without_seed_disks(TEST_DRIVER_XML)[1] == ()
    with pytest.raises(DomainXMLError, match="malformed"):
        without_seed_disks("<domain>")


def test_template_metadata_keeps_other_children_and_refuses_malformed() -> None:
    assert template_metadata("<other><x/></other>", True) == "<vmgui><template /></vmgui>"
    kept = template_metadata("<vmgui><!-- mine --><note/></vmgui>", False)
    assert kept == "<vmgui><!-- mine --><note /></vmgui>"
    assert template_metadata("<vmgui><!-- only --><template/></vmgui>", False) is None
    with pytest.raises(DomainXMLError, match="vmgui's metadata is malformed"):
        template_metadata("<vmgui>", True)


def test_clone_xml_gives_the_clone_its_own_file_chardevs() -> None:
    """A template written by provisioning logs its serial port to a file named after it: a
    linked clone (template or any guest) must not write into the same file."""
    template = CLONE_TEMPLATE_XML.replace(
        "<serial type='pty'><log file='/p/tpl.log'/><target port='0'/></serial>",
        "<serial type='file'><source path='/var/log/vm/tpl-serial.log'/>"
        "<target port='0'/></serial>"
        "<console type='file'><source path='/var/log/shared/console.log'/></console>",
    )
    root = ET.fromstring(clone_xml(template, "c9", {}))
    devices = root.find("devices")
    assert devices is not None
    paths = [s.get("path") for s in devices.iterfind("*/source") if s.get("path")]
    assert "/var/log/vm/c9-serial.log" in paths
    assert "/var/log/vm/tpl-serial.log" not in paths
    assert "/var/log/shared/console.log" in paths, "a path without the guest's name stays"


def test_a_clone_keeps_the_templates_tags_but_not_its_mark() -> None:
    mark = "<vmgui:template/>"
    assert mark in CLONE_TEMPLATE_XML
    tagged = CLONE_TEMPLATE_XML.replace(
        mark,
        mark + "<vmgui:tags><vmgui:tag>web</vmgui:tag><vmgui:tag>prod</vmgui:tag></vmgui:tags>",
    )
    clone = clone_xml(tagged, "c3", {})
    details = _parse(clone)
    assert isinstance(details, GuestDetails) and not details.vmgui_template
    mine = ET.fromstring(clone).find(f"metadata/{{{VMGUI_NS}}}vmgui")
    assert mine is not None
    assert read_tags(ET.tostring(mine, encoding="unicode")) == ("web", "prod")
    # Without tags the clone has no vmgui element at all.
    plain = ET.fromstring(clone_xml(CLONE_TEMPLATE_XML, "c4", {}))
    assert plain.find(f"metadata/{{{VMGUI_NS}}}vmgui") is None
