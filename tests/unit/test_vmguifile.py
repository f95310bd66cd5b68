"""The .vmgui layout: streamed members read back by tarfile, manifest checks, truncation."""

from __future__ import annotations

import io
import tarfile

import pytest

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
    entry = DiskEntry("vda", disk_member("vda", "qcow2"), "qcow2", 1 << 30, len(disk), "ab")
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
    with pytest.raises(VmguiFileError, match="format version 2"):
        parse_manifest(manifest_json(manifest).replace(b'"version": 1', b'"version": 2'))
    with pytest.raises(VmguiFileError, match="not JSON"):
        parse_manifest(b"{")
    with pytest.raises(VmguiFileError, match="not a vmgui"):
        parse_manifest(b"{}")
    with pytest.raises(VmguiFileError, match="lacks or garbles"):
        parse_manifest(b'{"format": "vmgui-guest", "version": 1}')
    index = read_index(io.BytesIO(data), len(data))
    other = Manifest("w", "", 0, (DiskEntry("vda", "disks/vda.qcow2", "qcow2", 1, 9, "x"),))
    with pytest.raises(VmguiFileError, match="has 5004 bytes, the manifest says 9"):
        check_layout(other, index)
