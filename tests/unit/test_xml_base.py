"""Tests for vmgui.core.xml.base: the one root parser, layout-aware children, namespaces."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.unit.xmldata import TEMPLATE_XML
from vmgui.core.xml.base import (
    LIBOSINFO_NS,
    DomainXMLError,
    ensure_child,
    insert_child,
    parse_root,
    remove_child,
    serialize,
)
from vmgui.core.xml.edit import clone_xml, set_title_xml


@pytest.mark.parametrize(
    ("xml", "tag", "message"),
    [
        ("<domain>", "domain", "The domain XML is malformed"),
        ("<pool/>", "domain", "not a domain: its root element is <pool>"),
        ("<domain/>", "pool", "not a pool"),
    ],
)
def test_parse_root_refuses_malformed_and_foreign_documents(
    xml: str, tag: str, message: str
) -> None:
    with pytest.raises(DomainXMLError, match=message):
        parse_root(xml, tag)


def test_parse_root_without_a_tag_takes_any_root() -> None:
    assert parse_root("<vmgui><template/></vmgui>", None).tag == "vmgui"


def test_one_comment_policy_for_edits_and_clones() -> None:
    comment = "<!-- sized for the smallest hosts -->"
    assert comment in TEMPLATE_XML
    assert comment in set_title_xml(TEMPLATE_XML, "A title")
    assert comment in clone_xml(TEMPLATE_XML, "c1", {})
    root = parse_root(f"<domain><name>x</name>{comment}<?pi data?></domain>")
    assert "<!--" in serialize(root) and "<?pi data?>" in serialize(root)


def test_insert_child_follows_the_indentation_at_any_depth() -> None:
    root = parse_root("<domain>\n  <devices>\n    <disk/>\n  </devices>\n</domain>")
    devices = root.find("devices")
    assert devices is not None
    disk = ET.Element("disk", type="file")
    ET.SubElement(disk, "source", file="/p/x.iso")
    ET.SubElement(disk, "readonly")
    insert_child(devices, 1, disk)
    assert serialize(root) == (
        "<domain>\n  <devices>\n    <disk />\n"
        '    <disk type="file">\n      <source file="/p/x.iso" />\n      <readonly />\n'
        "    </disk>\n  </devices>\n</domain>"
    )


def test_insert_child_first_and_into_an_empty_parent() -> None:
    root = parse_root("<domain>\n  <name>x</name>\n  <devices>\n  </devices>\n</domain>")
    insert_child(root, 0, ET.Element("first"))
    devices = root.find("devices")
    assert devices is not None
    insert_child(devices, len(devices), ET.Element("disk"))
    assert serialize(root) == (
        "<domain>\n  <first />\n  <name>x</name>\n  <devices>\n    <disk />\n  </devices>\n"
        "</domain>"
    )


def test_a_document_without_layout_stays_without() -> None:
    root = parse_root("<domain><name>x</name><os/></domain>")
    ensure_child(root, "uuid", ("name",))
    ensure_child(root, "name", ()).text = "y"
    os_el = root.find("os")
    assert os_el is not None
    child = ET.Element("type")
    ET.SubElement(child, "inner")
    insert_child(os_el, 0, child)
    assert (
        serialize(root) == "<domain><name>y</name><uuid /><os><type><inner /></type></os></domain>"
    )


def test_remove_child_keeps_the_others_indented() -> None:
    root = parse_root("<domain>\n  <a/>\n  <b/>\n  <c/>\n</domain>")
    for tag in ("b", "c", "a"):
        element = root.find(tag)
        assert element is not None
        remove_child(root, element)
        if tag == "b":
            assert serialize(root) == "<domain>\n  <a />\n  <c />\n</domain>"
        if tag == "c":
            assert serialize(root) == "<domain>\n  <a />\n</domain>"
    assert serialize(root) == "<domain>\n</domain>"


def test_serialize_writes_known_prefixes() -> None:
    root = ET.Element("domain")
    ET.SubElement(root, f"{{{LIBOSINFO_NS}}}os", id="x")
    assert serialize(root) == (
        f'<domain xmlns:libosinfo="{LIBOSINFO_NS}"><libosinfo:os id="x" /></domain>'
    )


def test_importing_the_xml_layer_registers_no_namespace() -> None:
    code = (
        "import xml.etree.ElementTree as ET\n"
        "import vmgui.core.xml.build, vmgui.core.xml.edit, vmgui.core.xml.host\n"
        "from vmgui.core.xml.base import VMGUI_NS\n"
        "print(ET.tostring(ET.Element('{%s}x' % VMGUI_NS), encoding='unicode'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("<ns0:x ")
