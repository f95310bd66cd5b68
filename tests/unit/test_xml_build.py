"""Tests for vmgui.core.xml.build: the volumes, pools and domains provisioning writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vmgui.core.xml.build import DiskSpec, DomainSpec, dir_pool_xml, domain_xml, volume_xml
from vmgui.core.xml.domain import GuestDetails, parse_domain_xml


def _parse(xml: str) -> object:
    """parse_domain_xml needs a UUID (libvirt adds one on define)."""
    return parse_domain_xml(xml.replace("</name>", "</name><uuid>0-0</uuid>", 1))


def test_volume_xml_overlay() -> None:
    root = ET.fromstring(volume_xml("g.qcow2", 10 << 30, "qcow2", backing_path="/p/base.qcow2"))
    assert root.findtext("name") == "g.qcow2"
    assert root.findtext("capacity") == str(10 << 30)
    assert root.findtext("allocation") == "0"
    assert root.find("target/format").get("type") == "qcow2"  # type: ignore[union-attr]
    assert root.findtext("backingStore/path") == "/p/base.qcow2"
    assert root.find("backingStore/format").get("type") == "qcow2"  # type: ignore[union-attr]
    plain = ET.fromstring(volume_xml("s.iso", 100, "raw"))
    assert plain.find("backingStore") is None


def test_dir_pool_xml() -> None:
    root = ET.fromstring(dir_pool_xml("p<&>", "/var/x"))
    assert root.findtext("name") == "p<&>"
    assert root.findtext("target/path") == "/var/x"


def _spec(**kwargs: object) -> DomainSpec:
    values: dict[str, object] = {
        "name": "web1",
        "virt_type": "qemu",
        "vcpus": 2,
        "memory_mib": 512,
        "disks": (
            DiskSpec("/p/web1.qcow2", "qcow2", boot_order=1),
            DiskSpec("/p/web1-seed.iso", "raw", "disk", "vdb", "virtio", True),
        ),
        "osinfo": "http://debian.org/debian/12",
        "serial_log": "/p/web1.log",
    }
    values.update(kwargs)
    return DomainSpec(**values)  # type: ignore[arg-type]


def test_domain_xml_parses_back() -> None:
    xml = domain_xml(_spec())
    details = _parse(xml)
    assert isinstance(details, GuestDetails)
    assert (details.name, details.domain_type, details.vcpus) == ("web1", "qemu", 2)
    assert details.memory_kib == 512 * 1024
    assert details.osinfo_id == "http://debian.org/debian/12"
    assert details.os_name == "Debian 12"
    assert [(d.target, d.bus, d.readonly) for d in details.disks] == [
        ("vda", "virtio", False),
        ("vdb", "virtio", True),
    ]
    assert details.nics[0].type == "network" and details.nics[0].source == "default"
    assert details.nics[0].model == "virtio"
    assert details.has_balloon
    root = ET.fromstring(xml)
    assert root.find("devices/memballoon/stats").get("period") == "2"  # type: ignore[union-attr]
    assert root.find("devices/serial/log").get("file") == "/p/web1.log"  # type: ignore[union-attr]
    assert root.find("cpu") is None
    assert details.graphics == ("vnc",)


def test_domain_xml_kvm_user_network_no_graphics() -> None:
    xml = domain_xml(_spec(virt_type="kvm", network="user", graphics=None, osinfo=""))
    details = _parse(xml)
    assert isinstance(details, GuestDetails)
    assert details.domain_type == "kvm" and details.cpu_mode == "host-passthrough"
    assert details.nics[0].type == "user"
    assert details.graphics == ()
    assert details.osinfo_id == ""
