"""Tests for vmgui.core.xml.domain: the domain read model and the storage rules."""

from __future__ import annotations

import pytest

from tests.unit.xmldata import QEMU_LIVE_XML, TEMPLATE_XML, TEST_DRIVER_XML, minimal
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.domain import (
    SEED_SUFFIX,
    DiskInfo,
    GuestDetails,
    NicInfo,
    balloon_needs_period,
    device_names,
    disk_paths_in_use,
    is_seed_disk,
    is_writable_disk,
    owned_volumes,
    parse_domain_xml,
    parse_volume_key,
    seed_volume_name,
    volume_key,
)

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
    details = parse_domain_xml(minimal(f"<memory{attr}>{value}</memory>"))

    assert details.max_memory_kib == kib
    assert details.memory_kib == kib  # no <currentMemory>: current is the maximum


def test_missing_elements_give_defaults() -> None:
    details = parse_domain_xml(minimal())

    assert details == GuestDetails(
        name="g", uuid="11111111-2222-3333-4444-555555555555", domain_type="qemu"
    )


def test_cpu_without_mode_but_model_is_custom() -> None:
    assert parse_domain_xml(minimal("<cpu><model>Haswell</model></cpu>")).cpu_mode == "custom"
    assert parse_domain_xml(minimal("<cpu><topology sockets='1'/></cpu>")).cpu_mode == ""


def test_empty_cdrom_and_disk_without_type() -> None:
    inner = (
        "<devices><disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/>"
        "</disk><disk device='disk'><source dev='/dev/sdb'/><target dev='vdb'/></disk>"
        "<disk type='network' device='disk'><source protocol='rbd' name='rbd/img'/>"
        "<target dev='vdc' bus='virtio'/></disk></devices>"
    )
    disks = parse_domain_xml(minimal(inner)).disks

    assert disks[0] == DiskInfo("cdrom", "hdc", "ide", "file", "", readonly=True)
    assert (disks[1].source_type, disks[1].path, disks[1].bus) == ("block", "/dev/sdb", "")
    assert (disks[2].source_type, disks[2].path, disks[2].source_key) == ("network", "", "")


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<domain><name>x</name>", "malformed"),
        ("", "malformed"),
        ("<network><name>default</name></network>", "not a domain"),
        ("<domain><uuid>1</uuid></domain>", "no <name>"),
        ("<domain><name>web</name></domain>", "no <uuid>"),
        (minimal("<vcpu>four</vcpu>"), "bad <vcpu>"),
        (minimal("<memory unit='parsecs'>1</memory>"), "unknown unit"),
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
    assert owned_volumes(parse_domain_xml(minimal(inner))) == ("/img/a.qcow2",)


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


# ------------------------------------------------------------------------------ the rules


def _disk(**kwargs: object) -> DiskInfo:
    values: dict[str, object] = {
        "device": "disk",
        "target": "vda",
        "bus": "virtio",
        "source_type": "file",
        "path": "/p/web-seed.iso",
        "readonly": True,
    }
    values.update(kwargs)
    return DiskInfo(**values)  # type: ignore[arg-type]


def test_is_seed_disk() -> None:
    assert is_seed_disk(_disk())
    assert is_seed_disk(_disk(device="cdrom", target="sda", bus="sata"))
    assert not is_seed_disk(_disk(readonly=False))
    assert not is_seed_disk(_disk(path="/p/web.iso"))
    assert not is_seed_disk(_disk(source_type="block", path="/dev/web-seed.iso"))
    seeds = [d.target for d in parse_domain_xml(QEMU_LIVE_XML).disks if is_seed_disk(d)]
    assert seeds == ["sda"]


def test_is_writable_disk() -> None:
    writable = _disk(readonly=False, path="/p/web.qcow2")
    assert is_writable_disk(writable)
    assert is_writable_disk(_disk(readonly=False, source_type="block", path="/dev/sdb"))
    assert is_writable_disk(
        _disk(readonly=False, source_type="volume", path="", pool="p", volume="v")
    )
    assert not is_writable_disk(_disk(readonly=False, source_type="volume", path="", pool="p"))
    assert not is_writable_disk(_disk(path="/p/web.qcow2"))
    assert not is_writable_disk(_disk(readonly=False, shareable=True, path="/p/s.raw"))
    assert not is_writable_disk(_disk(readonly=False, device="cdrom"))
    assert not is_writable_disk(_disk(readonly=False, source_type="network", path=""))
    assert not is_writable_disk(_disk(readonly=False, source_type="dir", path="/srv"))
    assert not is_writable_disk(_disk(readonly=False, path=""))


def test_volume_key_round_trip() -> None:
    assert volume_key("default", "web.qcow2") == "default/web.qcow2"
    assert parse_volume_key(volume_key("default", "a/b")) == ("default", "a/b")
    assert parse_volume_key("/var/lib/libvirt/images/web.qcow2") is None
    assert parse_volume_key("web.qcow2") is None
    disk = parse_domain_xml(QEMU_LIVE_XML).disks[3]
    assert disk.source_key == volume_key(disk.pool, disk.volume)


def test_seed_volume_name() -> None:
    assert seed_volume_name("web-01") == "web-01" + SEED_SUFFIX == "web-01-seed.iso"
    assert is_seed_disk(_disk(path=f"/p/{seed_volume_name('web-01')}"))


def test_device_names_and_balloon_period_of_real_documents() -> None:
    assert device_names(QEMU_LIVE_XML) == (("vda", "sda", "vdb", "vdc"), ("vnet2", "vnet3"))
    assert device_names(TEST_DRIVER_XML) == (("vda",), ("testnet0",))
    assert device_names("<network/>") == ((), ())
    assert not balloon_needs_period(QEMU_LIVE_XML)  # period 5
    assert balloon_needs_period(TEST_DRIVER_XML)  # no <stats>
    assert not balloon_needs_period(TEMPLATE_XML)  # model none
    assert not balloon_needs_period("<broken")
