"""Tests for vmgui.core.domxml: parsing libvirt domain XML and editing it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vmgui.core.domxml import (
    DiskInfo,
    DomainXMLError,
    GuestDetails,
    NicInfo,
    disk_paths_in_use,
    osinfo_display_name,
    owned_volumes,
    parse_domain_xml,
    set_description_xml,
    set_memory_xml,
    set_title_xml,
    set_vcpus_xml,
)

# `virsh dumpxml` of a running Debian 12 guest on qemu:///system (libvirt 9.0, qemu 7.2):
# a qcow2 overlay on a cached cloud image, a cloud-init seed CD-ROM, a shared LVM volume,
# a pool volume, three kinds of interfaces, SPICE and VNC, a virtio balloon.
QEMU_LIVE_XML = """\
<domain type='kvm' id='3'>
  <name>debian12-web</name>
  <uuid>4b7c1f9e-2d3a-4e5f-9a8b-0c1d2e3f4a5b</uuid>
  <title>Web server</title>
  <description>Front-end nginx
behind the load balancer</description>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmport state='off'/>
  </features>
  <cpu mode='host-passthrough' check='none' migratable='on'>
    <topology sockets='1' dies='1' cores='2' threads='2'/>
  </cpu>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/libvirt/images/debian12-web.qcow2' index='3'/>
      <backingStore type='file' index='4'>
        <format type='qcow2'/>
        <source file='/var/lib/vmgui/cache/debian-12-genericcloud-amd64.qcow2'/>
        <backingStore type='file' index='5'>
          <format type='raw'/>
          <source file='/var/lib/vmgui/cache/debian-12-base.raw'/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/debian12-web-seed.iso' index='2'/>
      <backingStore/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <alias name='sata0-0-0'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source dev='/dev/vg0/shared-data' index='1'/>
      <backingStore/>
      <target dev='vdb' bus='virtio'/>
      <shareable/>
      <alias name='virtio-disk1'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </disk>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='default' volume='debian12-web-data.qcow2'/>
      <target dev='vdc' bus='virtio'/>
      <alias name='virtio-disk2'/>
      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci' ports='15'>
      <alias name='usb'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </controller>
    <controller type='sata' index='0'>
      <alias name='ide'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pcie-root'>
      <alias name='pcie.0'/>
    </controller>
    <interface type='network'>
      <mac address='52:54:00:6b:3c:58'/>
      <source network='default' portid='0f5c2b1e-8c3d-4f7a-9b6e-1a2b3c4d5e6f' bridge='virbr0'/>
      <target dev='vnet2'/>
      <model type='virtio'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:a1:b2:c3'/>
      <source bridge='br0'/>
      <target dev='vnet3'/>
      <model type='e1000e'/>
      <alias name='net1'/>
      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:0d:0e:0f'/>
      <model type='virtio'/>
      <alias name='net2'/>
      <address type='pci' domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>
    </interface>
    <serial type='pty'>
      <source path='/dev/pts/3'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <console type='pty' tty='/dev/pts/3'>
      <source path='/dev/pts/3'/>
      <target type='serial' port='0'/>
      <alias name='serial0'/>
    </console>
    <channel type='unix'>
      <source mode='bind' path='/run/libvirt/qemu/channel/3-debian12-web/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
      <alias name='channel0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
    <input type='tablet' bus='usb'>
      <alias name='input0'/>
      <address type='usb' bus='0' port='1'/>
    </input>
    <input type='mouse' bus='ps2'>
      <alias name='input1'/>
    </input>
    <input type='keyboard' bus='ps2'>
      <alias name='input2'/>
    </input>
    <graphics type='spice' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
      <image compression='off'/>
    </graphics>
    <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video>
      <model type='virtio' heads='1' primary='yes'/>
      <alias name='video0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </video>
    <memballoon model='virtio'>
      <stats period='5'/>
      <alias name='balloon0'/>
      <address type='pci' domain='0x0000' bus='0x09' slot='0x00' function='0x0'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <alias name='rng0'/>
      <address type='pci' domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/>
    </rng>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'>
    <label>+64055:+64055</label>
    <imagelabel>+64055:+64055</imagelabel>
  </seclabel>
</domain>
"""

# The test driver's style (test:///default, `virsh dumpxml test`), no metadata at all.
TEST_DRIVER_XML = """\
<domain type='test' id='1'>
  <name>test</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>8388608</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""

# A persistent (inactive) definition as vmgui writes it for a template guest.
TEMPLATE_XML = """\
<domain type='qemu'>
  <name>alpine-template</name>
  <uuid>0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d</uuid>
  <metadata>
    <vmgui:vmgui xmlns:vmgui="https://vmgui.dev/xmlns/vmgui/1.0">
      <vmgui:template/>
    </vmgui:vmgui>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://alpinelinux.org/alpinelinux/3.19"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='GiB' dumpCore='off'>1</memory>
  <currentMemory unit='MiB'>512</currentMemory>
  <!-- sized for the smallest hosts -->
  <vcpu placement='static'>2</vcpu>
  <vcpus>
    <vcpu id='0' enabled='yes' hotpluggable='no'/>
    <vcpu id='1' enabled='yes' hotpluggable='yes'/>
  </vcpus>
  <cputune>
    <vcpupin vcpu='0' cpuset='0'/>
    <vcpupin vcpu='1' cpuset='1'/>
  </cputune>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
  </os>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
    <topology sockets='2' cores='1' threads='1'/>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/alpine-template.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='direct'>
      <mac address='52:54:00:11:22:33'/>
      <source dev='eth0' mode='bridge'/>
      <model type='virtio'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def _minimal(inner: str = "", domain_type: str = "qemu") -> str:
    """A small domain XML holding ``inner`` after name and uuid."""
    return (
        f"<domain type='{domain_type}'><name>g</name>"
        f"<uuid>11111111-2222-3333-4444-555555555555</uuid>{inner}</domain>"
    )


def _tags(xml: str) -> list[str]:
    return [child.tag for child in ET.fromstring(xml)]


def _devices(xml: str) -> str:
    devices = ET.fromstring(xml).find("devices")
    assert devices is not None
    return ET.canonicalize(ET.tostring(devices, encoding="unicode"))


# ------------------------------------------------------------------------------ parsing


def test_parse_qemu_guest_identity_os_and_sizes() -> None:
    details = parse_domain_xml(QEMU_LIVE_XML)

    assert details.name == "debian12-web"
    assert details.uuid == "4b7c1f9e-2d3a-4e5f-9a8b-0c1d2e3f4a5b"
    assert details.title == "Web server"
    assert details.description == "Front-end nginx\nbehind the load balancer"
    assert details.domain_type == "kvm"
    assert (details.os_type, details.arch, details.machine) == ("hvm", "x86_64", "pc-q35-7.2")
    assert details.osinfo_id == "http://debian.org/debian/12"
    assert details.os_name == "Debian 12"
    assert (details.vcpus, details.max_vcpus) == (2, 4)
    assert (details.cpu_mode, details.cpu_model) == ("host-passthrough", "")
    assert (details.memory_kib, details.max_memory_kib) == (2097152, 4194304)
    assert details.graphics == ("spice", "vnc")
    assert details.has_balloon is True
    assert details.vmgui_template is False


def test_parse_qemu_guest_disks() -> None:
    disks = parse_domain_xml(QEMU_LIVE_XML).disks

    assert disks == (
        DiskInfo(
            device="disk",
            target="vda",
            bus="virtio",
            source_type="file",
            path="/var/lib/libvirt/images/debian12-web.qcow2",
            driver_type="qcow2",
            backing_paths=(
                "/var/lib/vmgui/cache/debian-12-genericcloud-amd64.qcow2",
                "/var/lib/vmgui/cache/debian-12-base.raw",
            ),
        ),
        DiskInfo(
            device="cdrom",
            target="sda",
            bus="sata",
            source_type="file",
            path="/var/lib/libvirt/images/debian12-web-seed.iso",
            driver_type="raw",
            readonly=True,
        ),
        DiskInfo(
            device="disk",
            target="vdb",
            bus="virtio",
            source_type="block",
            path="/dev/vg0/shared-data",
            driver_type="raw",
            shareable=True,
        ),
        DiskInfo(
            device="disk",
            target="vdc",
            bus="virtio",
            source_type="volume",
            path="",
            pool="default",
            volume="debian12-web-data.qcow2",
            driver_type="qcow2",
        ),
    )
    assert disks[3].source_key == "default/debian12-web-data.qcow2"
    assert disks[0].source_key == "/var/lib/libvirt/images/debian12-web.qcow2"


def test_parse_qemu_guest_nics() -> None:
    assert parse_domain_xml(QEMU_LIVE_XML).nics == (
        NicInfo("network", "default", "52:54:00:6b:3c:58", "virtio", "vnet2"),
        NicInfo("bridge", "br0", "52:54:00:a1:b2:c3", "e1000e", "vnet3"),
        NicInfo("user", "", "52:54:00:0d:0e:0f", "virtio", ""),
    )


def test_parse_test_driver_guest() -> None:
    details = parse_domain_xml(TEST_DRIVER_XML)

    assert details == GuestDetails(
        name="test",
        uuid="6695eb01-f6a4-8304-79aa-97f2502e193f",
        domain_type="test",
        os_type="hvm",
        arch="i686",
        vcpus=2,
        max_vcpus=2,
        memory_kib=2097152,
        max_memory_kib=8388608,
        disks=(DiskInfo("disk", "vda", "virtio", "file", "/guest/diskimage1"),),
        nics=(NicInfo("network", "default", "aa:bb:cc:dd:ee:ff", "", "testnet0"),),
        has_balloon=True,
    )


def test_parse_template_metadata_units_cpu_and_direct_nic() -> None:
    details = parse_domain_xml(TEMPLATE_XML)

    assert details.vmgui_template is True
    assert details.os_name == "Alpine Linux 3.19"
    assert (details.memory_kib, details.max_memory_kib) == (524288, 1048576)
    assert (details.cpu_mode, details.cpu_model) == ("custom", "qemu64")
    assert details.has_balloon is False
    assert details.nics == (NicInfo("direct", "eth0", "52:54:00:11:22:33", "virtio", ""),)
    assert details.graphics == ()


@pytest.mark.parametrize(
    ("unit", "value", "kib"),
    [
        (None, "2048", 2048),
        ("KiB", "2048", 2048),
        ("k", "2048", 2048),
        ("b", "1048576", 1024),
        ("bytes", "1000", 1),
        ("M", "512", 524288),
        ("MiB", "512", 524288),
        ("G", "2", 2097152),
        ("GiB", "2", 2097152),
        ("T", "1", 1073741824),
        ("TiB", "1", 1073741824),
        ("KB", "1024", 1000),
        ("MB", "1", 977),
        ("GB", "1", 976563),
    ],
)
def test_memory_units(unit: str | None, value: str, kib: int) -> None:
    attr = f" unit='{unit}'" if unit else ""
    details = parse_domain_xml(_minimal(f"<memory{attr}>{value}</memory>"))

    assert details.max_memory_kib == kib
    assert details.memory_kib == kib  # no <currentMemory>: current is the maximum


def test_missing_elements_give_defaults() -> None:
    details = parse_domain_xml(_minimal())

    assert details == GuestDetails(
        name="g", uuid="11111111-2222-3333-4444-555555555555", domain_type="qemu"
    )


def test_cpu_without_mode_but_model_is_custom() -> None:
    assert parse_domain_xml(_minimal("<cpu><model>Haswell</model></cpu>")).cpu_mode == "custom"
    assert parse_domain_xml(_minimal("<cpu><topology sockets='1'/></cpu>")).cpu_mode == ""


def test_empty_cdrom_and_disk_without_type() -> None:
    inner = (
        "<devices><disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/>"
        "</disk><disk device='disk'><source dev='/dev/sdb'/><target dev='vdb'/></disk>"
        "<disk type='network' device='disk'><source protocol='rbd' name='rbd/img'/>"
        "<target dev='vdc' bus='virtio'/></disk></devices>"
    )
    disks = parse_domain_xml(_minimal(inner)).disks

    assert disks[0] == DiskInfo("cdrom", "hdc", "ide", "file", "", readonly=True)
    assert (disks[1].source_type, disks[1].path, disks[1].bus) == ("block", "/dev/sdb", "")
    assert (disks[2].source_type, disks[2].path, disks[2].source_key) == ("network", "", "")


@pytest.mark.parametrize(
    ("osinfo_id", "name"),
    [
        ("http://debian.org/debian/12", "Debian 12"),
        ("http://debian.org/debian/testing", "Debian testing"),
        ("http://ubuntu.com/ubuntu/24.04", "Ubuntu 24.04"),
        ("http://fedoraproject.org/fedora/40", "Fedora 40"),
        ("http://fedoraproject.org/fedora/rawhide", "Fedora rawhide"),
        ("http://microsoft.com/win/11", "Windows 11"),
        ("http://microsoft.com/win/2k22", "Windows Server 2022"),
        ("http://redhat.com/rhel/9.4", "Red Hat Enterprise Linux 9.4"),
        ("http://centos.org/centos-stream/9", "CentOS Stream 9"),
        ("http://centos.org/centos/7.0", "CentOS 7.0"),
        ("http://libosinfo.org/linux/2022", "Linux 2022"),
        ("http://example.org/myos/1.0", "Myos 1.0"),
        ("http://example.org/a/b/c/7", "C 7"),
        ("http://example.org/solo", "Solo"),
        ("", ""),
        ("not-a-url", "not-a-url"),
    ],
)
def test_osinfo_display_name(osinfo_id: str, name: str) -> None:
    assert osinfo_display_name(osinfo_id) == name


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<domain><name>x</name>", "malformed"),
        ("", "malformed"),
        ("<network><name>default</name></network>", "not a domain"),
        ("<domain><uuid>1</uuid></domain>", "no <name>"),
        ("<domain><name>web</name></domain>", "no <uuid>"),
        (_minimal("<vcpu>four</vcpu>"), "bad <vcpu>"),
        (_minimal("<memory unit='parsecs'>1</memory>"), "unknown unit"),
    ],
)
def test_unreadable_xml_raises(xml: str, message: str) -> None:
    with pytest.raises(DomainXMLError, match=message):
        parse_domain_xml(xml)


def test_domain_xml_error_is_value_error() -> None:
    assert issubclass(DomainXMLError, ValueError)


# ------------------------------------------------------------------------------ storage


def test_owned_volumes_skip_cdrom_shareable_and_readonly() -> None:
    assert owned_volumes(parse_domain_xml(QEMU_LIVE_XML)) == (
        "/var/lib/libvirt/images/debian12-web.qcow2",
        "default/debian12-web-data.qcow2",
    )


def test_owned_volumes_skip_network_floppy_readonly_and_duplicates() -> None:
    inner = (
        "<devices>"
        "<disk type='file' device='disk'><source file='/img/a.qcow2'/><target dev='vda'/></disk>"
        "<disk type='file' device='disk'><source file='/img/a.qcow2'/><target dev='vdb'/></disk>"
        "<disk type='file' device='disk'><source file='/img/ro.raw'/><target dev='vdc'/>"
        "<readonly/></disk>"
        "<disk type='file' device='floppy'><source file='/img/f.img'/><target dev='fda'/></disk>"
        "<disk type='network' device='disk'><source protocol='nbd' name='x'/>"
        "<target dev='vdd'/></disk>"
        "<disk type='block' device='lun'><source dev='/dev/sdz'/><target dev='sdz'/></disk>"
        "</devices>"
    )
    assert owned_volumes(parse_domain_xml(_minimal(inner))) == ("/img/a.qcow2",)


def test_disk_paths_in_use_include_backing_chains() -> None:
    used = disk_paths_in_use([QEMU_LIVE_XML, TEST_DRIVER_XML])

    assert used == {
        "/var/lib/libvirt/images/debian12-web.qcow2",
        "/var/lib/vmgui/cache/debian-12-genericcloud-amd64.qcow2",
        "/var/lib/vmgui/cache/debian-12-base.raw",
        "/var/lib/libvirt/images/debian12-web-seed.iso",
        "/dev/vg0/shared-data",
        "default/debian12-web-data.qcow2",
        "/guest/diskimage1",
    }
    assert disk_paths_in_use([]) == set()


def test_disk_paths_in_use_rejects_bad_documents() -> None:
    with pytest.raises(DomainXMLError):
        disk_paths_in_use([TEST_DRIVER_XML, "<domain>"])


# ------------------------------------------------------------------------------ edits


def test_set_vcpus_sets_current_and_max_and_keeps_the_rest() -> None:
    edited = set_vcpus_xml(QEMU_LIVE_XML, 4)
    before, after = parse_domain_xml(QEMU_LIVE_XML), parse_domain_xml(edited)

    assert (after.vcpus, after.max_vcpus) == (4, 4)
    assert "current=" not in edited
    assert after.disks == before.disks
    assert after.nics == before.nics
    assert after.osinfo_id == "http://debian.org/debian/12"
    assert _devices(edited) == _devices(QEMU_LIVE_XML)
    assert _tags(edited) == _tags(QEMU_LIVE_XML)
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
    edited = set_vcpus_xml(_minimal("<memory>1024</memory><os><type>hvm</type></os>"), 2)

    assert _tags(edited) == ["name", "uuid", "memory", "vcpu", "os"]
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
    assert _devices(edited) == _devices(TEMPLATE_XML)


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
    edited = set_memory_xml(_minimal("<vcpu>1</vcpu>"), 65536)

    assert _tags(edited) == ["name", "uuid", "memory", "currentMemory", "vcpu"]
    with pytest.raises(ValueError, match="at least 1 KiB"):
        set_memory_xml(TEST_DRIVER_XML, 0)


def test_set_title_adds_replaces_and_removes() -> None:
    added = set_title_xml(TEST_DRIVER_XML, "  Test guest ")
    assert parse_domain_xml(added).title == "Test guest"
    assert _tags(added)[:4] == ["name", "uuid", "title", "memory"]
    assert "  <title>Test guest</title>\n  <memory" in added

    replaced = set_title_xml(QEMU_LIVE_XML, "Web server (old)")
    assert parse_domain_xml(replaced).title == "Web server (old)"
    assert _tags(replaced) == _tags(QEMU_LIVE_XML)

    removed = set_title_xml(QEMU_LIVE_XML, "")
    assert parse_domain_xml(removed).title == ""
    assert "title" not in _tags(removed)
    assert "</uuid>\n  <description>" in removed
    assert _devices(removed) == _devices(QEMU_LIVE_XML)


def test_set_title_rejects_line_breaks() -> None:
    with pytest.raises(ValueError, match="single line"):
        set_title_xml(TEST_DRIVER_XML, "two\nlines")


def test_set_description_adds_and_removes() -> None:
    added = set_description_xml(TEMPLATE_XML, "Alpine base\nfor CI runners")
    assert parse_domain_xml(added).description == "Alpine base\nfor CI runners"
    assert _tags(added)[:4] == ["name", "uuid", "description", "metadata"]

    removed = set_description_xml(QEMU_LIVE_XML, "   ")
    assert parse_domain_xml(removed).description == ""
    assert parse_domain_xml(removed).title == "Web server"
    assert "description" not in _tags(removed)


def test_edits_reject_malformed_xml() -> None:
    with pytest.raises(DomainXMLError, match="malformed"):
        set_title_xml("<domain>", "x")
