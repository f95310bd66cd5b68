"""The image catalog: shipped entries, user entries, checksum files, format detection."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from vmgui.core.catalog import (
    CatalogEntry,
    Checksum,
    ImageFormat,
    builtin_catalog_text,
    detect_format,
    find_entry,
    load_catalog,
    local_entry,
    parse_catalog,
    parse_checksum_file,
    qcow2_virtual_size,
    read_image_info,
)
from vmgui.core.errors import VmguiError

ROOT = Path(__file__).resolve().parents[2]
SHA256 = "a" * 64


def _qcow2_header(virtual_size: int, backing_offset: int = 0) -> bytes:
    header = bytearray(512)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 8, backing_offset)
    struct.pack_into(">Q", header, 24, virtual_size)
    return bytes(header)


def test_shipped_catalog_is_the_resource_file() -> None:
    assert builtin_catalog_text() == (ROOT / "resources" / "catalog.json").read_text()


def test_builtin_catalog_has_the_promised_images(tmp_path: Path) -> None:
    entries = load_catalog(tmp_path / "none.json")
    ids = {e.id for e in entries}
    assert {"debian-12", "debian-13", "ubuntu-24.04", "alpine-3.22"} <= ids
    assert any(i.startswith("fedora-") for i in ids)
    assert ids & {"almalinux-9", "rocky-9"}
    for entry in entries:
        assert entry.url.startswith("https://")
        assert entry.checksum is not None and entry.checksum.url.startswith("https://")
        assert entry.checksum.algorithm in ("sha256", "sha512")
        assert entry.osinfo.startswith("http://")
        assert entry.format is ImageFormat.QCOW2
        assert not entry.user


def test_user_entries_add_and_replace(tmp_path: Path) -> None:
    user = tmp_path / "catalog.json"
    user.write_text(
        json.dumps(
            {
                "version": 1,
                "images": [
                    {
                        "id": "debian-12",
                        "name": "My Debian mirror",
                        "url": "http://mirror.example/debian.qcow2",
                        "checksum": {"algorithm": "sha256", "value": SHA256},
                    },
                    {"id": "mine", "path": "/srv/images/mine.img", "format": "raw"},
                    {"id": "iso", "url": "file:///srv/iso/x.iso", "format": "iso"},
                ],
            }
        )
    )
    entries = {e.id: e for e in load_catalog(user)}
    assert entries["debian-12"].name == "My Debian mirror"
    assert entries["debian-12"].checksum == Checksum("sha256", SHA256, "")
    assert entries["debian-12"].user
    assert entries["mine"].path == "/srv/images/mine.img"
    assert entries["mine"].format is ImageFormat.RAW
    assert entries["iso"].path == "/srv/iso/x.iso"
    assert "debian-13" in entries


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"id": "Bad Id", "url": "https://x/y"}, "bad id"),
        ({"id": "x"}, "exactly one of 'url' and 'path'"),
        ({"id": "x", "url": "https://x/y"}, "needs a 'checksum'"),
        ({"id": "x", "url": "ftp://x/y", "checksum": {"value": SHA256}}, "http"),
        ({"id": "x", "url": "https://x/y", "checksum": {"algorithm": "md5", "value": "a"}}, "md5"),
        ({"id": "x", "url": "https://x/y", "checksum": {"value": "abc"}}, "64 hex"),
        ({"id": "x", "path": "/a", "format": "vmdk"}, "vmdk"),
        ({"id": "x", "path": "/a", "defaults": {"vcpus": 0}}, "defaults.vcpus"),
    ],
)
def test_bad_entries_name_the_entry(item: dict[str, object], message: str) -> None:
    text = json.dumps({"images": [item]})
    with pytest.raises(VmguiError) as info:
        parse_catalog(text, "test.json")
    assert "test.json" in info.value.summary
    assert message in str(info.value)


def test_malformed_catalog() -> None:
    with pytest.raises(VmguiError, match="malformed"):
        parse_catalog("{not json", "x")


def test_find_entry_lists_known_ids() -> None:
    entries = [CatalogEntry("a", "A", path="/a"), CatalogEntry("b", "B", path="/b")]
    assert find_entry(entries, "b").name == "B"
    with pytest.raises(VmguiError) as info:
        find_entry(entries, "c")
    assert "a, b" in info.value.details


def test_filename_from_url() -> None:
    entry = CatalogEntry("x", "X", url="https://h/p/debian%2012.qcow2?x=1")
    assert entry.filename == "debian 12.qcow2"


def test_checksum_file_formats() -> None:
    gnu = f"{'1' * 64}  other.img\n{'2' * 64} *ubuntu.img\n"
    assert parse_checksum_file(gnu, "ubuntu.img", "sha256") == "2" * 64
    bsd = f"# Fedora\nSHA256 (Fedora-Cloud.qcow2) = {'3' * 64}\nSHA256 (x) = {'4' * 64}\n"
    assert parse_checksum_file(bsd, "Fedora-Cloud.qcow2", "sha256") == "3" * 64
    assert parse_checksum_file(f"{'5' * 128}\n", "alpine.qcow2", "sha512") == "5" * 128
    sums = f"{'6' * 128}  ./images/debian.qcow2\n"
    assert parse_checksum_file(sums, "debian.qcow2", "sha512") == "6" * 128
    with pytest.raises(VmguiError, match="does not list"):
        parse_checksum_file(gnu, "missing.img", "sha256")


def test_qcow2_virtual_size() -> None:
    assert qcow2_virtual_size(_qcow2_header(10 << 30)) == 10 << 30
    with pytest.raises(ValueError, match="qcow2"):
        qcow2_virtual_size(b"\x00" * 64)


def test_detect_formats() -> None:
    assert detect_format(_qcow2_header(1), 512) is ImageFormat.QCOW2
    iso = bytearray(0x8010)
    iso[0x8001:0x8006] = b"CD001"
    assert detect_format(bytes(iso), 1 << 20) is ImageFormat.ISO
    mbr = bytearray(0x8010)
    mbr[510:512] = b"\x55\xaa"
    assert detect_format(bytes(mbr), 1 << 20) is ImageFormat.RAW


@pytest.mark.parametrize(
    ("data", "size", "what"),
    [
        (b"\xfd7zXZ\x00" + b"\x00" * 100, 1 << 20, "xz"),
        (b"\x1f\x8b\x08" + b"\x00" * 100, 1 << 20, "gzip"),
        (b"PK\x03\x04" + b"\x00" * 100, 1 << 20, "zip"),
        (b"KDMV" + b"\x00" * 100, 1 << 20, "VMDK"),
        (b"\x00" * 512, 1000, "sectors"),
        (b"hello, this is a text file\n" * 200, 1 << 20, "text"),
    ],
)
def test_not_disk_images(data: bytes, size: int, what: str) -> None:
    with pytest.raises(VmguiError) as info:
        detect_format(data, size)
    assert info.value.summary == "The file is not a disk image"
    assert what in info.value.details


def test_read_image_info(tmp_path: Path) -> None:
    qcow = tmp_path / "a.qcow2"
    qcow.write_bytes(_qcow2_header(3 << 30) + b"\x00" * 4096)
    info = read_image_info(qcow)
    assert (info.format, info.virtual_size, info.file_size) == (ImageFormat.QCOW2, 3 << 30, 4608)
    assert not info.backing_file
    chained = tmp_path / "b.qcow2"
    chained.write_bytes(_qcow2_header(1 << 30, backing_offset=512))
    assert read_image_info(chained).backing_file
    raw = tmp_path / "disk.img"
    with raw.open("wb") as handle:
        handle.write(b"\xeb\x3c\x90" + b"\x00" * 509)
        handle.truncate(8 << 20)
    info = read_image_info(raw)
    assert (info.format, info.virtual_size) == (ImageFormat.RAW, 8 << 20)
    entry = local_entry(raw, info)
    assert entry.path == str(raw) and entry.cloud_init and entry.disk_gib >= 1
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n" * 10000)
    with pytest.raises(VmguiError, match=r"notes\.txt is not a disk image"):
        read_image_info(text)
    with pytest.raises(VmguiError, match="Could not read"):
        read_image_info(tmp_path / "missing.qcow2")
