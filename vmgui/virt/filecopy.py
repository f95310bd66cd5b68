"""An export's fast path on this machine: a volume's file read directly instead of through
libvirt's stream.

libvirt's sparse download of a volume costs about twice a plain file copy here (its I/O
helper, the daemon and the RPC socket each handle every byte), before the export hashes a
byte. When the host is this machine and the volume's file can be read, the export copies it
in the kernel (``copy_file_range``: holes stay holes in the ``.vmgui`` file) while the
checksum (:mod:`~vmgui.core.diskhash`) is computed from the same file on this thread. The bytes are
the ones the stream would send: the file, not its chain.

A file is used only when it is the very file the host describes: same size, modification
and status-change times to the nanosecond (:class:`~vmgui.core.xml.mobility.FileStamp`).
A daemon in another mount namespace, a path that names another file here, a file this user
cannot read, or anything that is not a regular file: the export streams as over a remote
connection.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from typing import IO

from vmgui.core.diskhash import DISK_ALGORITHM, new_hasher
from vmgui.core.validation import ValidationError, parse_uri
from vmgui.core.xml.mobility import FileStamp
from vmgui.virt.volstream import Control, TransferCancelledError

#: Bytes hashed (and reported) at a time.
PIECE = 1 << 20
_FALLBACK = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}


def is_local_uri(uri: str) -> bool:
    """Whether ``uri`` names a host on this machine (no host part: ``qemu:///system``)."""
    try:
        return not parse_uri(uri).host
    except ValidationError:
        return False


def open_if_same(path: str, stamp: FileStamp | None) -> int | None:
    """A read-only descriptor on ``path`` when it is the file ``stamp`` describes, else None.

    The caller closes it.
    """
    if stamp is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    info = os.fstat(fd)
    same = (
        stat.S_ISREG(info.st_mode)
        and info.st_size == stamp.size
        and info.st_mtime_ns == stamp.mtime_ns
        and info.st_ctime_ns == stamp.ctime_ns
    )
    if not same:
        os.close(fd)
        return None
    return fd


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` runs of ``fd`` that hold data (``SEEK_DATA``/``SEEK_HOLE``; the
    whole file on a file system that cannot tell)."""
    runs: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            return [(0, size)]
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        runs.append((start, end))
        pos = end
    return runs


def copy_file_blocking(
    src: int, size: int, out: IO[bytes], control: Control, algorithm: str = DISK_ALGORITHM
) -> str:
    """Copy the ``size`` bytes of ``src`` to ``out`` at its position, holes left as holes.

    ``out`` is left positioned after the copy. The copy runs on a thread of its own while this
    one reads the file again (from the page cache) to hash it and report progress; a cancel
    stops both at their next piece.

    Returns:
        The ``algorithm`` digest (hex) of the bytes.

    Raises:
        TransferCancelledError: cancelled.
        OSError: reading or writing failed (the file shrank, the disk is full, ...).
    """
    out.flush()
    base = out.tell()
    copier = _Copier(src, out.fileno(), base, size)
    copier.start()
    digest = new_hasher(algorithm)
    buffer = bytearray(PIECE)
    view = memoryview(buffer)
    try:
        for at in range(0, size, PIECE):
            count = os.preadv(src, [view[: min(PIECE, size - at)]], at)
            if count <= 0:
                raise OSError(errno.EIO, f"the file ended at {at} of {size} bytes")
            digest.update(view[:count])
            control.advance(count)
            if count < min(PIECE, size - at):
                raise OSError(errno.EIO, f"the file ended at {at + count} of {size} bytes")
    except BaseException:
        copier.stop.set()
        raise
    finally:
        copier.join()
    if copier.error is not None:
        raise copier.error
    out.seek(base + size)
    control.advance(0, final=True)
    return digest.hexdigest()


class _Copier(threading.Thread):
    """Copies the data runs of one file into another at an offset (in the kernel when it can)."""

    def __init__(self, src: int, dst: int, base: int, size: int) -> None:
        super().__init__(name="vmgui-export-copy", daemon=True)
        self.src = src
        self.dst = dst
        self.base = base
        self.size = size
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            in_kernel = True
            for start, end in data_extents(self.src, self.size):
                pos = start
                while pos < end:
                    if self.stop.is_set():
                        raise TransferCancelledError
                    count = min(end - pos, PIECE)
                    if in_kernel:
                        try:
                            moved = os.copy_file_range(
                                self.src, self.dst, count, pos, self.base + pos
                            )
                        except OSError as exc:
                            if exc.errno not in _FALLBACK:
                                raise
                            in_kernel = False
                            continue
                    else:
                        moved = _copy_in_user_space(self.src, self.dst, count, pos, self.base)
                    if moved <= 0:
                        raise OSError(errno.EIO, f"the file ended at {pos} of {self.size} bytes")
                    pos += moved
        except BaseException as exc:  # handed to the hashing thread, which re-raises it
            self.error = exc


def _copy_in_user_space(src: int, dst: int, count: int, pos: int, base: int) -> int:
    data = memoryview(os.pread(src, count, pos))
    done = 0
    while done < len(data):
        done += os.pwrite(dst, data[done:], base + pos + done)
    return done
