"""Tests for vmgui.core.xml.display: the VNC display a host's guests get, SPICE → VNC."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.unit.xmldata import QEMU_LIVE_XML, minimal, read
from vmgui.core.provisioning import (
    DomainFacts,
    GuestPaths,
    LocalImage,
    ProvisionPlan,
    domain_spec_for,
)
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.build import DomainSpec, domain_xml
from vmgui.core.xml.display import (
    VncListen,
    is_local_uri,
    switch_to_vnc_xml,
    vnc_graphics,
    vnc_listen_for,
)
from vmgui.core.xml.domain import parse_domain_xml

SPICE_XML = read("domain-spice-inactive.xml")


@pytest.mark.parametrize(
    "uri",
    ["qemu:///system", "qemu:///session", "qemu+unix:///system", "test:///default", "lxc:///"],
)
def test_local_uris(uri: str) -> None:
    assert is_local_uri(uri)
    assert vnc_listen_for(uri) is VncListen.NONE


@pytest.mark.parametrize(
    "uri",
    [
        "qemu+ssh://root@server/system",
        "qemu+ssh:///system",
        "qemu+libssh2://server/system",
        "qemu+tcp://127.0.0.1:16519/system",
        "qemu+tls://host.example/system",
        "qemu+tcp:///system",
        "qemu://server/system",
        "not a uri",
    ],
)
def test_remote_uris(uri: str) -> None:
    assert not is_local_uri(uri)
    assert vnc_listen_for(uri) is VncListen.LOCALHOST


def _xml(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


def test_vnc_graphics() -> None:
    assert (
        _xml(vnc_graphics(VncListen.NONE))
        == '<graphics type="vnc"><listen type="none" /></graphics>'
    )
    assert _xml(vnc_graphics(VncListen.LOCALHOST)) == (
        '<graphics type="vnc" port="-1" autoport="yes" listen="127.0.0.1" />'
    )


def _devices(xml: str) -> ET.Element:
    devices = ET.fromstring(xml).find("devices")
    assert devices is not None
    return devices


def test_switch_local_replaces_spice_and_what_needs_it() -> None:
    assert parse_domain_xml(SPICE_XML).graphics == ("spice",)
    out = switch_to_vnc_xml(SPICE_XML, VncListen.NONE)
    devices = _devices(out)
    (graphics,) = devices.findall("graphics")
    assert graphics.attrib == {"type": "vnc"}
    assert [child.attrib for child in graphics] == [{"type": "none"}]
    assert devices.findall("redirdev") == []
    assert [c.get("type") for c in devices.findall("channel")] == ["unix"], "agent channel kept"
    assert [a.attrib for a in devices.findall("audio")] == [{"id": "1", "type": "none"}]
    assert devices.find("sound") is not None, "the sound card stays"
    assert [m.get("type") for m in devices.findall("video/model")] == ["qxl"]
    details = parse_domain_xml(out)
    assert details.graphics == ("vnc",)
    assert "<!-- the vdagent channel" in out, "comments survive"


def test_switch_keeps_everything_else_and_its_layout() -> None:
    out = switch_to_vnc_xml(SPICE_XML, VncListen.NONE)
    expected = SPICE_XML[SPICE_XML.index("<domain") :]  # (the comment before the root goes)
    for block in (
        """    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
      <address type='virtio-serial' controller='0' bus='0' port='2'/>
    </channel>
""",
        """    <redirdev bus='usb' type='spicevmc'>
      <address type='usb' bus='0' port='2'/>
    </redirdev>
""",
        """    <redirdev bus='usb' type='spicevmc'>
      <address type='usb' bus='0' port='3'/>
    </redirdev>
""",
    ):
        assert block in expected
        expected = expected.replace(block, "")
    spice = """    <graphics type='spice' autoport='yes'>
      <listen type='address'/>
      <image compression='off'/>
    </graphics>
"""
    vnc = """    <graphics type='vnc'>
      <listen type='none'/>
    </graphics>
"""
    expected = expected.replace(spice, vnc).replace("type='spice'", "type='none'")
    assert ET.canonicalize(out, with_comments=True) == ET.canonicalize(expected, with_comments=True)


def test_switch_remote_listens_on_localhost() -> None:
    out = switch_to_vnc_xml(SPICE_XML, VncListen.LOCALHOST)
    (graphics,) = _devices(out).findall("graphics")
    assert graphics.attrib == {
        "type": "vnc",
        "port": "-1",
        "autoport": "yes",
        "listen": "127.0.0.1",
    }


def test_switch_keeps_an_existing_vnc_display() -> None:
    assert parse_domain_xml(QEMU_LIVE_XML).graphics == ("spice", "vnc")
    out = switch_to_vnc_xml(QEMU_LIVE_XML, VncListen.NONE)
    (graphics,) = _devices(out).findall("graphics")
    before = [g for g in _devices(QEMU_LIVE_XML).findall("graphics") if g.get("type") == "vnc"]
    assert graphics.attrib == before[0].attrib


def test_switch_removes_every_spice_chardev() -> None:
    xml = minimal(
        "<devices><graphics type='spice'/><smartcard mode='passthrough' type='spicevmc'/>"
        "<channel type='spiceport'><source channel='org.qemu.console.serial.0'/>"
        "<target type='virtio' name='org.qemu.console.serial.0'/></channel>"
        "<redirdev bus='usb' type='tcp'><source mode='connect' host='h' service='4000'/>"
        "</redirdev><redirfilter><usbdev allow='yes'/></redirfilter></devices>"
    )
    out = switch_to_vnc_xml(xml, VncListen.NONE)
    assert [c.tag for c in _devices(out)] == ["graphics"]


def test_switch_refuses_a_guest_without_spice() -> None:
    with pytest.raises(DomainXMLError, match="no SPICE display"):
        switch_to_vnc_xml(minimal("<devices><graphics type='vnc'/></devices>"), VncListen.NONE)
    with pytest.raises(DomainXMLError, match="no SPICE display"):
        switch_to_vnc_xml(minimal(), VncListen.NONE)


# ------------------------------------------------------------------ what provisioning writes


def _provisioned(plan_graphics: bool, listen: VncListen) -> ET.Element:
    plan = ProvisionPlan("g", LocalImage(Path("/i/tiny.qcow2")), graphics=plan_graphics)
    facts = DomainFacts("qemu", "x86_64", "qcow2", vnc_listen=listen)
    spec = domain_spec_for(plan, facts, GuestPaths("/p/g.qcow2", "/p/base.qcow2"))
    return _devices(domain_xml(spec))


def test_provisioned_on_a_local_host_vnc_has_no_tcp_port() -> None:
    devices = _provisioned(True, VncListen.NONE)
    (graphics,) = devices.findall("graphics")
    assert graphics.attrib == {"type": "vnc"}
    assert [x.attrib for x in graphics] == [{"type": "none"}]
    assert [m.get("type") for m in devices.findall("video/model")] == ["virtio"]


def test_provisioned_on_a_remote_host_vnc_listens_on_localhost() -> None:
    (graphics,) = _provisioned(True, VncListen.LOCALHOST).findall("graphics")
    expected = {"type": "vnc", "port": "-1", "autoport": "yes", "listen": "127.0.0.1"}
    assert graphics.attrib == expected


def test_provisioned_without_graphics_has_no_display() -> None:
    devices = _provisioned(False, VncListen.NONE)
    assert devices.findall("graphics") == [] and devices.findall("video") == []


def test_domain_spec_default_is_vnc_without_tcp() -> None:
    assert DomainSpec("g", "qemu", 1, 256, ()).graphics is VncListen.NONE
    assert DomainFacts("qemu", "", "qcow2").vnc_listen is VncListen.NONE
