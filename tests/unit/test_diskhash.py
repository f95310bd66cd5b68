"""Disk checksums: both algorithms, and a .vmgui file checked with the one its version names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import blake3
import pytest

from vmgui.core.diskhash import BLAKE3, SHA256, digest_of, label, new_hasher
from vmgui.core.errors import VmguiError
from vmgui.core.vmguifile import (
    DOMAIN_XML,
    END_OF_ARCHIVE,
    MANIFEST,
    DiskEntry,
    Manifest,
    manifest_json,
    member_header,
    member_padding,
)
from vmgui.virt.importer import check_file

DISK = b"QFI\xfb" + bytes(range(256)) * 4096  # 1 MiB and 4 bytes
XML = (
    b"<domain type='qemu'><name>w</name><uuid>5b3c6f63-93c4-4b8e-9a3e-4a1f3c0e6d11</uuid>"
    b"<memory>65536</memory></domain>"
)


def test_hashers_are_the_real_algorithms() -> None:
    assert digest_of(DISK) == blake3.blake3(DISK).hexdigest()
    assert digest_of(DISK, SHA256) == hashlib.sha256(DISK).hexdigest()
    hasher = new_hasher()
    hasher.update(DISK[:1000])
    hasher.update(memoryview(DISK)[1000:])
    assert hasher.hexdigest() == digest_of(DISK, BLAKE3)
    assert (label(BLAKE3), label(SHA256)) == ("BLAKE3", "SHA-256")
    with pytest.raises(ValueError, match="unknown disk checksum 'md5'"):
        new_hasher("md5")


def _write(path: Path, algorithm: str, version: int, disk: bytes = DISK) -> Path:
    entry = DiskEntry(
        "vda",
        "disks/vda.qcow2",
        "qcow2",
        1 << 30,
        len(disk),
        digest_of(DISK, algorithm),
        algorithm=algorithm,
    )
    blob = manifest_json(Manifest("w", "qemu:///system", 1, (entry,), version=version))
    with path.open("wb") as out:
        for name, data in ((DOMAIN_XML, XML), (entry.member, disk), (MANIFEST, blob)):
            out.write(member_header(name, len(data), 1) + data + member_padding(len(data)))
        out.write(END_OF_ARCHIVE)
    return path


@pytest.mark.parametrize(("algorithm", "version"), [(BLAKE3, 2), (SHA256, 1)])
def test_check_file_uses_the_versions_algorithm(
    tmp_path: Path, algorithm: str, version: int
) -> None:
    seen: list[tuple[int, int]] = []
    checked = check_file(
        _write(tmp_path / "ok.vmgui", algorithm, version), lambda d, t: seen.append((d, t))
    )
    assert checked.manifest.version == version
    assert checked.manifest.disks[0].algorithm == algorithm
    assert seen[-1] == (len(DISK), len(DISK))


@pytest.mark.parametrize(("algorithm", "version"), [(BLAKE3, 2), (SHA256, 1)])
def test_check_file_refuses_a_changed_byte(tmp_path: Path, algorithm: str, version: int) -> None:
    damaged = bytearray(DISK)
    damaged[500_000] ^= 1
    path = _write(tmp_path / "bad.vmgui", algorithm, version, bytes(damaged))
    with pytest.raises(VmguiError) as caught:
        check_file(path)
    assert f"disks/vda.qcow2 is corrupt: its {label(algorithm)} is" in str(caught.value)
