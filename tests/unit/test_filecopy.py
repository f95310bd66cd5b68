"""The export's local fast path: a volume's file copied with its holes, hashed on the way, and
used only when it is the very file the host describes."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmgui.core.diskhash import digest_of
from vmgui.core.xml.mobility import FileStamp, volume_stamp
from vmgui.virt.filecopy import copy_file_blocking, data_extents, is_local_uri, open_if_same
from vmgui.virt.volstream import Control, TransferCancelledError

MIB = 1 << 20
HEADER = b"H" * 1536  # what precedes a member in the .vmgui file


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    the_loop = asyncio.new_event_loop()
    yield the_loop
    the_loop.close()


def _sparse(path: Path) -> bytes:
    """A 9 MiB file: data, a 4 MiB hole, data, and a trailing 2 MiB hole."""
    with path.open("wb") as out:
        out.write(b"\x11" * (MIB + 123))
        out.seek(4 * MIB, os.SEEK_CUR)
        out.write(os.urandom(2 * MIB))
        out.truncate(9 * MIB)
    return path.read_bytes()


def _stamp(path: Path) -> FileStamp:
    info = path.stat()
    return FileStamp(info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _copy(src: Path, out_path: Path, control: Control) -> str:
    fd = os.open(src, os.O_RDONLY)
    try:
        with out_path.open("xb") as out:
            out.write(HEADER)
            digest = copy_file_blocking(fd, src.stat().st_size, out, control)
            assert out.tell() == len(HEADER) + src.stat().st_size
            out.write(b"T")  # the next member follows at the right place
        return digest
    finally:
        os.close(fd)


def test_copy_keeps_bytes_and_holes_and_hashes_them(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    data = _sparse(tmp_path / "disk")
    out = tmp_path / "out"
    digest = _copy(tmp_path / "disk", out, Control(loop, None, len(data)))
    assert digest == digest_of(data)
    assert out.read_bytes() == HEADER + data + b"T"
    # the holes were not written: about the 3 MiB of data are allocated, not 9
    assert out.stat().st_blocks * 512 < 5 * MIB


def test_extents_name_the_data(tmp_path: Path) -> None:
    _sparse(tmp_path / "disk")
    fd = os.open(tmp_path / "disk", os.O_RDONLY)
    try:
        runs = data_extents(fd, 9 * MIB)
    finally:
        os.close(fd)
    covered = sum(end - start for start, end in runs)
    assert runs[0][0] == 0 and 3 * MIB <= covered < 5 * MIB
    assert runs[-1][1] < 8 * MIB  # the trailing 2 MiB hole is not data


def test_copy_without_kernel_copy_falls_back(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    data = _sparse(tmp_path / "disk")
    out = tmp_path / "out"
    assert _copy(tmp_path / "disk", out, Control(loop, None, None)) == (digest_of(data))
    assert out.read_bytes() == HEADER + data + b"T"


def test_cancel_stops_the_copy(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    _sparse(tmp_path / "disk")
    control = Control(loop, None, None)
    control.cancelled.set()
    with pytest.raises(TransferCancelledError):
        _copy(tmp_path / "disk", tmp_path / "out", control)


def test_only_the_file_the_host_describes_is_opened(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _sparse(disk)
    stamp = _stamp(disk)
    fd = open_if_same(str(disk), stamp)
    assert fd is not None
    os.close(fd)
    assert open_if_same(str(disk), None) is None
    assert open_if_same(str(tmp_path / "missing"), stamp) is None
    assert open_if_same(str(tmp_path), _stamp(tmp_path)) is None  # a folder, not a file
    other = tmp_path / "other"  # same size, another file (another namespace's volume)
    other.write_bytes(disk.read_bytes())
    assert open_if_same(str(other), stamp) is None
    os.utime(disk, ns=(stamp.mtime_ns, stamp.mtime_ns + 1))  # changed since the host looked
    assert open_if_same(str(disk), stamp) is None


def test_local_uris() -> None:
    assert is_local_uri("qemu:///system") and is_local_uri("qemu:///session")
    assert not is_local_uri("qemu+tcp://127.0.0.1:16519/system")
    assert not is_local_uri("qemu+ssh://root@server/system")
    assert not is_local_uri("not a uri")


VOLUME = """<volume type='file'>
  <name>d.qcow2</name>
  <capacity unit='bytes'>1073741824</capacity>
  <allocation unit='bytes'>105189376</allocation>
  <physical unit='bytes'>105250816</physical>
  <target>
    <path>/var/lib/libvirt/images/d.qcow2</path>
    <format type='qcow2'/>
    <timestamps>
      <atime>1796130738.742901110</atime>
      <mtime>1796130738.738903357</mtime>
      <ctime>1796130738.7389</ctime>
      <btime>0</btime>
    </timestamps>
  </target>
</volume>"""


def test_volume_stamp() -> None:
    assert volume_stamp(VOLUME) == FileStamp(105250816, 1796130738738903357, 1796130738738900000)
    assert (
        volume_stamp(VOLUME.replace("<timestamps>", "<x>").replace("</timestamps>", "</x>")) is None
    )
    assert volume_stamp("<pool/>") is None
