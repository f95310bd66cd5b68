"""XML written by provisioning: volumes, new domains, templates, linked clones."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vmgui.core.domxml import GuestDetails, parse_domain_xml
from vmgui.core.guestxml import (
    DiskSpec,
    DomainSpec,
    clone_disks,
    clone_xml,
    dir_pool_xml,
    domain_xml,
    host_arch,
    host_virt_types,
    template_metadata,
    volume_xml,
)
from vmgui.core.provisioning import TransferMeter

CAPS = """<capabilities><host><cpu><arch>x86_64</arch></cpu></host>
<guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch>
</guest><guest><os_type>hvm</os_type><arch name='i686'><domain type='qemu'/></arch></guest>
</capabilities>"""


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
    xml = domain_xml(_spec(virt_type="kvm", network="user", graphics=False, osinfo=""))
    details = _parse(xml)
    assert isinstance(details, GuestDetails)
    assert details.domain_type == "kvm" and details.cpu_mode == "host-passthrough"
    assert details.nics[0].type == "user"
    assert details.graphics == ()
    assert details.osinfo_id == ""


def test_template_metadata_round_trip() -> None:
    marked = template_metadata(None, True)
    assert marked == "<vmgui><template /></vmgui>"
    assert template_metadata(marked, True) == marked
    assert template_metadata(marked, False) is None
    other = "<vmgui>\n  <note>x</note>\n</vmgui>"
    both = template_metadata(other, True)
    assert both == "<vmgui><note>x</note><template /></vmgui>"
    assert template_metadata(both, False) == "<vmgui><note>x</note></vmgui>"


TEMPLATE = """<domain type='qemu'>
  <name>tpl</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <metadata>
    <vmgui:vmgui xmlns:vmgui="https://vmgui.dev/xmlns/vmgui/1.0"><vmgui:template/></vmgui:vmgui>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/p/tpl.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='raw'/>
      <source pool='data' volume='tpl-data.img'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/p/tpl-seed.iso'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><log file='/p/tpl.log'/><target port='0'/></serial>
  </devices>
</domain>"""


def test_clone_disks_and_xml() -> None:
    disks = clone_disks(TEMPLATE)
    assert [(d.target, d.path, d.fmt, d.pool, d.volume) for d in disks] == [
        ("vda", "/p/tpl.qcow2", "qcow2", "", ""),
        ("vdc", "", "raw", "data", "tpl-data.img"),
    ]
    xml = clone_xml(TEMPLATE, "c1", {"vda": "/p/c1-vda.qcow2", "vdc": "/d/c1-vdc.qcow2"})
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
    seeded = ET.fromstring(clone_xml(TEMPLATE, "c2", {}, seed_path="/p/c2-seed.iso"))
    files = [d.find("source").get("file") for d in seeded.iterfind("devices/disk")]  # type: ignore[union-attr]
    assert "/p/c2-seed.iso" in files and "/p/tpl-seed.iso" not in files


def test_clone_adds_a_seed_when_the_template_has_none() -> None:
    plain = TEMPLATE.replace("tpl-seed.iso", "other.iso")
    root = ET.fromstring(clone_xml(plain, "c3", {}, seed_path="/p/c3-seed.iso"))
    added = [
        d
        for d in root.iterfind("devices/disk")
        if d.find("source[@file='/p/c3-seed.iso']") is not None
    ]
    assert len(added) == 1
    assert added[0].find("target").get("dev") == "vdd"  # type: ignore[union-attr]
    assert added[0].find("readonly") is not None


def test_host_virt_types() -> None:
    assert host_virt_types(CAPS, "x86_64") == ("qemu", "kvm")
    assert host_virt_types(CAPS, "i686") == ("qemu",)
    assert host_virt_types(CAPS, "aarch64") == ()
    assert host_virt_types("<broken", "x86_64") == ()
    assert host_arch(CAPS) == "x86_64"


def test_transfer_meter() -> None:
    now = [0.0]
    meter = TransferMeter(1000, lambda: now[0])
    assert meter.update(0) == (None, None)
    now[0] = 1.0
    speed, eta = meter.update(100)
    assert speed == 100.0 and eta == 9.0
    now[0] = 2.0
    assert meter.update(300) == (150.0, 700 / 150)
