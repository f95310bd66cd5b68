"""Pure parts of clones and moves: seed re-hosting and the XML edits of core.xml.mobility."""

from __future__ import annotations

import json

import pytest

from vmgui.core.cloudinit import CloudInitConfig, build_seed_iso, seed_files
from vmgui.core.seedclone import SeedReadError, read_seed_iso, rehost_seed
from vmgui.core.validation import ValidationError
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.core.xml.mobility import (
    eject_media,
    file_chardev_paths,
    map_networks,
    networks_of,
    portable_xml,
    rename_guest_files,
    set_identity,
)

XML = """<domain type='qemu'><name>web1</name><uuid>1234</uuid>
  <devices>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/>
      <target dev='vnet3'/></interface>
    <interface type='network'><source network='lab'/></interface>
    <interface type='user'/>
    <serial type='file'><source path='/var/log/web1.log'/><target port='0'/></serial>
    <console type='file'><source path='/web1/console.log'/></console>
  </devices></domain>"""


def test_seed_round_trip_and_rehost() -> None:
    files = seed_files(CloudInitConfig(hostname="web1", user="bob"))
    assert read_seed_iso(build_seed_iso(files)) == files
    new = rehost_seed(files, "web2.example.org")
    meta = json.loads(new["meta-data"])
    assert meta == {"instance-id": "iid-web2-example-org", "local-hostname": "web2"}
    user = json.loads(new["user-data"].decode().split("\n", 1)[1])
    assert user["hostname"] == "web2" and user["users"][1]["name"] == "bob"
    assert new["user-data"].startswith(b"#cloud-config\n")


def test_rehost_other_tools_yaml() -> None:
    files = {
        "meta-data": b"instance-id: old\n",
        "user-data": b"#cloud-config\nhostname: a\nfqdn: a.b\n",
    }
    new = rehost_seed(files, "c.d")
    assert new["meta-data"] == b'instance-id: "iid-c-d"\nlocal-hostname: "c"\n'
    assert new["user-data"] == b'#cloud-config\nhostname: "c"\nfqdn: "c.d"\n'
    with pytest.raises(ValidationError):
        rehost_seed(files, "not a host")


def test_unreadable_seeds() -> None:
    with pytest.raises(SeedReadError, match="not an ISO 9660 image"):
        read_seed_iso(b"\0" * 65536)
    with pytest.raises(SeedReadError, match="no meta-data"):
        read_seed_iso(build_seed_iso({"user-data": b"x"}))


def test_rename_guest_files_only_touches_the_guests_own_names() -> None:
    out = rename_guest_files(XML, "web1", "web1-copy")
    assert "/var/log/web1-copy.log" in out
    assert "/web1/console.log" in out  # the folder is not the guest's own file name


def test_networks_and_mapping() -> None:
    assert networks_of(XML) == ("default", "lab")
    out = map_networks(XML, {"default": "user", "lab": "isolated"})
    nics = parse_domain_xml(out).nics
    assert [(n.type, n.source) for n in nics] == [
        ("user", ""),
        ("network", "isolated"),
        ("user", ""),
    ]
    assert nics[0].mac == "52:54:00:00:00:01"


def test_portable_xml_and_identity() -> None:
    assert "vnet3" not in portable_xml(XML)
    renamed = parse_domain_xml(set_identity(XML, "web9", new_uuid=False, new_macs=True))
    assert renamed.name == "web9" and renamed.uuid == "1234"
    assert all(not n.mac for n in renamed.nics)
    fresh = set_identity(XML, "web9", new_uuid=True, new_macs=False)
    assert "<uuid>" not in fresh and "52:54:00:00:00:01" in fresh


def test_eject_media_keeps_the_drive_and_other_disks() -> None:
    xml = """<domain><name>g</name><uuid>1</uuid><devices>
      <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
        <source file='/iso/debian.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
      <disk type='file' device='disk'><source file='/img/seed.iso'/>
        <target dev='vdb' bus='virtio'/><readonly/></disk>
    </devices></domain>"""
    disks = {d.target: d for d in parse_domain_xml(eject_media(xml, ["hdc", "vdb"])).disks}
    assert disks["hdc"].device == "cdrom" and disks["hdc"].path == "" and disks["hdc"].readonly
    assert disks["vdb"].path == "/img/seed.iso"  # not a CD-ROM: untouched


def test_file_chardev_paths() -> None:
    assert file_chardev_paths(XML) == ("/var/log/web1.log", "/web1/console.log")
