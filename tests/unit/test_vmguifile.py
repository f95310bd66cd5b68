"""The .vmgui layout: streamed members read back by tarfile, manifest checks, truncation."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from vmgui.core.diskhash import SHA256, digest_of
from vmgui.core.vmguifile import (
    DOMAIN_XML,
    END_OF_ARCHIVE,
    MANIFEST,
    DiskEntry,
    Manifest,
    VmguiFileError,
    check_layout,
    disk_member,
    manifest_json,
    member_header,
    member_padding,
    parse_manifest,
    read_index,
)


def _file(disk: bytes = b"QFI\xfb" + bytes(5000)) -> tuple[bytes, Manifest]:
    entry = DiskEntry(
        "vda", disk_member("vda", "qcow2"), "qcow2", 1 << 30, len(disk), digest_of(disk)
    )
    manifest = Manifest("web1", "qemu:///system", 17, (entry,), ("default",), ("sda: x.iso",))
    out = io.BytesIO()
    for name, data in ((DOMAIN_XML, b"<domain/>"), (entry.member, disk)):
        out.write(member_header(name, len(data), 17) + data + member_padding(len(data)))
    blob = manifest_json(manifest)
    out.write(member_header(MANIFEST, len(blob), 17) + blob + member_padding(len(blob)))
    out.write(END_OF_ARCHIVE)
    return out.getvalue(), manifest


def test_streamed_layout_is_a_tar_that_reads_back() -> None:
    data, manifest = _file()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == [DOMAIN_XML, "disks/vda.qcow2", MANIFEST]
    index = read_index(io.BytesIO(data), len(data))
    vda = index["disks/vda.qcow2"]
    assert data[vda.offset : vda.offset + 4] == b"QFI\xfb" and vda.size == 5004
    assert parse_manifest(manifest_json(manifest)) == manifest
    check_layout(manifest, index)


def test_truncated_files_are_refused() -> None:
    data, _ = _file()
    for cut in (len(data) - 2048, len(data) // 2, 700, 10):
        with pytest.raises(VmguiFileError):
            read_index(io.BytesIO(data[:cut]), cut)


def test_manifest_refusals() -> None:
    data, manifest = _file()
    with pytest.raises(VmguiFileError, match="format version 3; this vmgui reads versions 1 and 2"):
        parse_manifest(manifest_json(manifest).replace(b'"version": 2', b'"version": 3'))
    with pytest.raises(VmguiFileError, match="format version '2'"):
        parse_manifest(manifest_json(manifest).replace(b'"version": 2', b'"version": "2"'))
    with pytest.raises(VmguiFileError, match="is not 64 hex digits"):
        parse_manifest(manifest_json(manifest).replace(manifest.disks[0].checksum.encode(), b"ab"))
    with pytest.raises(VmguiFileError, match="not JSON"):
        parse_manifest(b"{")
    with pytest.raises(VmguiFileError, match="not a vmgui"):
        parse_manifest(b"{}")
    with pytest.raises(VmguiFileError, match="lacks or garbles"):
        parse_manifest(b'{"format": "vmgui-guest", "version": 1}')
    # a version 1 manifest's disks carry "sha256", a version 2 one's "blake3": not the other
    with pytest.raises(VmguiFileError, match="lacks or garbles a field \\('blake3'\\)"):
        parse_manifest(manifest_json(manifest).replace(b'"blake3"', b'"sha256"'))
    index = read_index(io.BytesIO(data), len(data))
    other = Manifest("w", "", 0, (DiskEntry("vda", "disks/vda.qcow2", "qcow2", 1, 9, "0" * 64),))
    with pytest.raises(VmguiFileError, match="has 5004 bytes, the manifest says 9"):
        check_layout(other, index)


def test_new_files_carry_blake3_and_version_1_files_still_read() -> None:
    _data, manifest = _file()
    doc = json.loads(manifest_json(manifest))
    assert doc["version"] == 2 and doc["disks"][0]["blake3"] == digest_of(b"QFI\xfb" + bytes(5000))
    assert "sha256" not in doc["disks"][0]
    disk = b"QFI\xfb" + bytes(100)
    entry = DiskEntry(
        "vda", "disks/vda.qcow2", "qcow2", 1, len(disk), digest_of(disk, SHA256), algorithm=SHA256
    )
    old = Manifest("w", "", 0, (entry,), version=1)
    blob = manifest_json(old)
    assert json.loads(blob)["disks"][0]["sha256"] == hashlib.sha256(disk).hexdigest()
    assert parse_manifest(blob) == old and parse_manifest(blob).disks[0].algorithm == "sha256"
    with pytest.raises(ValueError, match="a version 2 file carries blake3, not sha256"):
        manifest_json(Manifest("w", "", 0, (entry,)))
