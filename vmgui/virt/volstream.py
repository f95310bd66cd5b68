"""Sparse volume streams: a volume's bytes out (holes not sent) and into a volume, with
progress and cancel (used by export, import and offline moves).

Each transfer is one blocking call on the host's second thread (``HostConnection.call(...,
slow=True)``): libvirt's ``sparseRecvAll`` refuses non-blocking streams, and the host's first
thread stays free for the guest list and stats meanwhile. Progress and the cancel flag cross
threads through :class:`Control`; a cancelled transfer aborts its stream and raises
:class:`TransferCancelledError` on the worker, which :func:`run_transfer` turns back into the
task's ``CancelledError`` once the worker has let go of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import libvirt

from vmgui.core.diskhash import DISK_ALGORITHM, MOVE_ALGORITHM, new_hasher
from vmgui.core.provisioning import TransferMeter
from vmgui.core.units import format_bytes
from vmgui.virt.connection import HostConnection

_T = TypeVar("_T")

CHUNK = 1 << 20
_ZERO = bytes(CHUNK)

#: (bytes done, bytes in all or None, speed or None, ETA or None), on the loop's thread.
TransferReport = Callable[[int, int | None, float | None, float | None], None]


class StepReport(Protocol):
    """Where a step's progress goes (:meth:`~vmgui.virt.transaction.Transaction.report`)."""

    def __call__(
        self,
        message: str,
        fraction: float | None = None,
        transfer: tuple[int, int | None, float | None, float | None] | None = None,
    ) -> None:
        """Report ``message``, the step's ``fraction`` done and the transfer's figures."""
        ...


def disk_reporter(step: StepReport, target: str, start: int, total: int) -> TransferReport:
    """The progress of disk ``target`` as part of ``total`` bytes of several disks, of which
    ``start`` were moved before it ("vda: 12 MiB of 40 MiB")."""

    def report(done: int, _all: int | None, speed: float | None, eta: float | None) -> None:
        moved = start + done
        step(
            f"{target}: {format_bytes(moved)} of {format_bytes(total)}",
            moved / total if total else None,
            (moved, total, speed, eta),
        )

    return report


class ByteSource(Protocol):
    """What an upload reads from: a file, or a pipe from another host."""

    def seek(self, offset: int, /) -> object:
        """Go to ``offset``."""
        ...

    def read(self, count: int, /) -> bytes:
        """Up to ``count`` bytes (``b""`` at the end)."""
        ...


class TransferCancelledError(Exception):
    """Raised on the worker when the awaiting task was cancelled."""


class Control:
    """The cancel flag and progress of one transfer, shared by the loop and the worker.

    Args:
        loop: the asyncio loop progress goes to.
        report: gets the progress on the loop's thread (or None).
        total: bytes expected, or None.
        interval: seconds between reports.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        report: TransferReport | None,
        total: int | None,
        interval: float = 0.2,
    ) -> None:
        self.cancelled = threading.Event()
        self._loop = loop
        self._report = report
        self._meter = TransferMeter(total, time.monotonic)
        self._interval = interval
        self._last = 0.0
        self.total = total
        self.done = 0

    def advance(self, count: int, *, final: bool = False) -> None:
        """Count ``count`` more bytes (worker thread); raise if the task was cancelled."""
        if self.cancelled.is_set():
            raise TransferCancelledError
        self.done += count
        now = time.monotonic()
        if self._report is None or (not final and now - self._last < self._interval):
            return
        self._last = now
        speed, eta = self._meter.update(self.done)
        report, done, total = self._report, self.done, self.total
        with contextlib.suppress(RuntimeError):  # the loop closed
            self._loop.call_soon_threadsafe(report, done, total, speed, eta)


async def run_transfer(
    host: HostConnection,
    fn: Callable[[libvirt.virConnect, Control], _T],
    summary: str,
    report: TransferReport | None = None,
    total: int | None = None,
) -> _T:
    """Run a blocking transfer ``fn(conn, control)`` on the host's second thread.

    Cancelling the awaiting task sets the flag; the transfer stops at its next chunk, and
    the cancellation propagates after the worker is done.
    """
    return await run_controlled(
        lambda control: host.call(lambda c: fn(c, control), summary, slow=True), report, total
    )


async def run_controlled(
    start: Callable[[Control], Awaitable[_T]],
    report: TransferReport | None = None,
    total: int | None = None,
) -> _T:
    """Await ``start(control)``, a transfer on some worker, with one :class:`Control`.

    Cancelling the awaiting task sets the control's flag and waits for the worker to stop.
    """
    control = Control(asyncio.get_running_loop(), report, total)
    future = asyncio.ensure_future(start(control))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        control.cancelled.set()
        with contextlib.suppress(Exception):
            await future
        raise


def download_blocking(
    conn: libvirt.virConnect,
    path: str,
    write: Callable[[bytes], None],
    control: Control,
    skip: Callable[[int], None] | None = None,
    algorithm: str = DISK_ALGORITHM,
) -> str:
    """Stream the volume at ``path`` out sparse: data to ``write``, holes to ``skip`` (their
    length), or as zeros to ``write`` without one.

    Returns:
        The ``algorithm`` digest (hex) of the bytes written (:mod:`~vmgui.core.diskhash`).
    """
    digest = new_hasher(algorithm)
    vol = conn.storageVolLookupByPath(path)
    stream = conn.newStream(0)

    def on_data(_st: libvirt.virStream, data: bytes, _opaque: object) -> int:
        digest.update(data)
        write(data)
        control.advance(len(data))
        return 0

    def on_hole(_st: libvirt.virStream, length: int, _opaque: object) -> int:
        if skip is not None:
            skip(length)
        while length > 0:
            n = min(length, CHUNK)
            digest.update(_ZERO[:n])
            if skip is None:
                write(_ZERO[:n])
            control.advance(n)
            length -= n
        return 0

    try:
        vol.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        stream.sparseRecvAll(on_data, on_hole, None)
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    control.advance(0, final=True)
    return digest.hexdigest()


def volume_digest_blocking(
    conn: libvirt.virConnect, path: str, control: Control, algorithm: str = DISK_ALGORITHM
) -> str:
    """The ``algorithm`` digest of a volume's bytes, read through a sparse stream."""
    return download_blocking(conn, path, lambda _data: None, control, algorithm=algorithm)


def upload_blocking(
    conn: libvirt.virConnect,
    path: str,
    source: ByteSource,
    offset: int,
    size: int,
    control: Control,
    algorithm: str = DISK_ALGORITHM,
) -> str:
    """Stream ``size`` bytes of ``source`` from ``offset`` into the volume at ``path``, sparse
    (runs of zeros are sent as holes).

    Returns:
        The ``algorithm`` digest (hex) of the bytes sent.
    """
    digest = new_hasher(algorithm)
    vol = conn.storageVolLookupByPath(path)
    stream = conn.newStream(0)
    try:
        vol.upload(stream, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
        source.seek(offset)
        left = size
        while left > 0:
            data = source.read(min(CHUNK, left))
            if not data:
                raise libvirt.libvirtError(f"the source ended {left} bytes early")
            digest.update(data)
            if data.count(0) == len(data):
                stream.sendHole(len(data), 0)
            else:
                view = memoryview(data)
                while view:
                    n = stream.send(view[: 256 * 1024].tobytes())
                    if n < 0:
                        raise libvirt.libvirtError("the stream refused data")
                    view = view[n:]
            left -= len(data)
            control.advance(len(data))
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    control.advance(0, final=True)
    return digest.hexdigest()


class _Pipe:
    """A bounded queue of chunks from one worker (a download) to another (an upload)."""

    def __init__(self, cancelled: Callable[[], bool]) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._cancelled = cancelled
        self._buffer = b""
        self._ended = False

    def put(self, data: bytes) -> None:
        while True:
            if self._cancelled():
                raise TransferCancelledError
            try:
                self._queue.put(data, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1.0)

    def seek(self, _offset: int) -> None:
        """Streams start at 0 (upload_blocking seeks there)."""

    def read(self, count: int) -> bytes:
        while len(self._buffer) < count and not self._ended:
            if self._cancelled():
                raise TransferCancelledError
            try:
                chunk = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if chunk is None:
                self._ended = True
            else:
                self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data


async def pipe_volume(
    src: HostConnection,
    src_path: str,
    dst: HostConnection,
    dst_path: str,
    size: int,
    report: TransferReport | None = None,
) -> tuple[str, str]:
    """Stream a volume of ``size`` bytes from one host into a volume on another, sparse on
    both sides (each host's side on its own second thread).

    Returns:
        The digests (:data:`~vmgui.core.diskhash.MOVE_ALGORITHM`) of what left the source and
        of what reached the destination.

    Raises:
        asyncio.CancelledError: both sides stop at their next chunk first.
    """
    flags: list[Control] = []
    pipe = _Pipe(lambda: any(c.cancelled.is_set() for c in flags))

    def fetch(conn: libvirt.virConnect, control: Control) -> str:
        flags.append(control)
        try:
            return download_blocking(conn, src_path, pipe.put, control, algorithm=MOVE_ALGORITHM)
        finally:
            pipe.close()

    def send(conn: libvirt.virConnect, control: Control) -> str:
        flags.append(control)
        return upload_blocking(conn, dst_path, pipe, 0, size, control, MOVE_ALGORITHM)

    down = asyncio.ensure_future(run_transfer(src, fetch, f"Could not read {src_path}"))
    up = asyncio.ensure_future(run_transfer(dst, send, f"Could not write {dst_path}", report, size))
    try:
        sent, received = await asyncio.gather(down, up)
    except BaseException:
        for control in flags:
            control.cancelled.set()
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
        raise
    return sent, received
