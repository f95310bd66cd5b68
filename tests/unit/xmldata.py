"""The libvirt documents the XML tests read, from ``tests/data`` (each file says where from)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def read(name: str) -> str:
    """The text of ``tests/data/<name>``."""
    return (DATA / name).read_text(encoding="utf-8")


QEMU_LIVE_XML = read("domain-qemu-live.xml")
TEST_DRIVER_XML = read("domain-test-driver.xml")
TEMPLATE_XML = read("domain-template.xml")
CLONE_TEMPLATE_XML = read("domain-clone-template.xml")
CAPABILITIES_XML = read("capabilities.xml")


def minimal(inner: str = "", domain_type: str = "qemu") -> str:
    """A small domain XML holding ``inner`` after name and uuid."""
    return (
        f"<domain type='{domain_type}'><name>g</name>"
        f"<uuid>11111111-2222-3333-4444-555555555555</uuid>{inner}</domain>"
    )


def tags(xml: str) -> list[str]:
    """The tags of the root's child elements, in order."""
    return [child.tag for child in ET.fromstring(xml)]


def devices(xml: str) -> str:
    """The canonical form of the ``<devices>`` element (whitespace included)."""
    element = ET.fromstring(xml).find("devices")
    assert element is not None
    return ET.canonicalize(ET.tostring(element, encoding="unicode"))
