"""Tests for vmgui.core.xml.host: capabilities, pool, volume and network readers."""

from __future__ import annotations

import pytest

from tests.unit.xmldata import CAPABILITIES_XML as CAPS
from vmgui.core.xml.host import (
    Capabilities,
    NetworkDoc,
    PoolDoc,
    VolumeDoc,
    read_capabilities,
    read_network,
    read_pool,
    read_volume,
)


def test_capabilities_virt_types_and_arch() -> None:
    caps = read_capabilities(CAPS)
    assert caps.virt_types("x86_64") == ("qemu", "kvm")
    assert caps.virt_types("i686") == ("qemu",)
    assert caps.virt_types("aarch64") == ()
    assert read_capabilities("<broken").virt_types("x86_64") == ()
    assert caps.arch == "x86_64"


@pytest.mark.parametrize(
    ("cpu", "model"),
    [
        ("<vendor>Intel</vendor><model>Skylake-Client-IBRS</model>", "Intel Skylake-Client-IBRS"),
        ("<model> qemu64 </model>", "qemu64"),
        ("<vendor>AMD</vendor>", "unknown"),
        ("", "unknown"),
    ],
)
def test_capabilities_cpu_model(cpu: str, model: str) -> None:
    caps = read_capabilities(f"<capabilities><host><cpu>{cpu}</cpu></host></capabilities>")
    assert caps.cpu_model == model


def test_unreadable_capabilities_read_as_empty() -> None:
    for xml in ("<broken", "<host/>", ""):
        assert read_capabilities(xml) == Capabilities()
    assert read_capabilities(CAPS).cpu_model == "unknown"


def test_capabilities_skip_other_os_types_and_merge_an_arch() -> None:
    caps = read_capabilities(
        "<capabilities>"
        "<guest><os_type>xen</os_type><arch name='x86_64'><domain type='xen'/></arch></guest>"
        "<guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/></arch></guest>"
        "<guest><os_type>hvm</os_type><arch name='x86_64'><domain type='kvm'/>"
        "<domain type='qemu'/></arch></guest>"
        "</capabilities>"
    )
    assert caps.virt_types("x86_64") == ("qemu", "kvm")


def test_read_pool() -> None:
    xml = "<pool type='dir'><name>p</name><target><path> /var/lib/p </path></target></pool>"
    assert read_pool(xml) == PoolDoc("/var/lib/p")
    assert read_pool("<pool type='rbd'><name>p</name></pool>") == PoolDoc("")
    assert read_pool("<volume/>") == read_pool("<broken") == PoolDoc()


def test_read_volume() -> None:
    xml = (
        "<volume><name>g.qcow2</name><capacity unit='bytes'>10737418240</capacity>"
        "<target><format type='qcow2'/></target>"
        "<backingStore><path>/p/base.qcow2</path><format type='raw'/></backingStore></volume>"
    )
    assert read_volume(xml) == VolumeDoc("qcow2", "/p/base.qcow2", 10 << 30)
    assert read_volume("<volume><capacity unit='G'>2</capacity></volume>").capacity == 2 << 30
    assert read_volume("<volume><capacity>x</capacity></volume>") == VolumeDoc()
    assert read_volume("<pool/>") == read_volume("<broken") == VolumeDoc()


def test_read_network() -> None:
    nat = "<network><name>default</name><forward/><bridge name='virbr0'/></network>"
    assert read_network(nat) == NetworkDoc("nat", "virbr0")
    routed = "<network><forward mode='route'/></network>"
    assert read_network(routed) == NetworkDoc("route", "")
    assert read_network("<network><bridge name='virbr9'/></network>") == NetworkDoc("", "virbr9")
    assert read_network("<pool/>") == read_network("<broken") == NetworkDoc()
