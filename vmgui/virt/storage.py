"""Storage on a host, through libvirt only: pools, volumes, stream uploads.

Blocking helpers (``*_blocking``) take a ``virConnect`` and run on the host's worker
(:meth:`HostConnection.call`). A stream upload is many short worker calls (one chunk each), so
other calls for the same host (the guest list, stats) still get their turn during it.

Base images are uploaded "header last": the volume is created sparse (all zeros), the body is
sent first and the first :data:`COMMIT_BYTES` last. A volume whose first bytes are still zero
is an interrupted upload and is never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Protocol, TypeVar

import libvirt

from vmgui.core.xml.build import dir_pool_xml, volume_xml
from vmgui.core.xml.host import read_pool
from vmgui.virt.connection import HostConnection

_log = logging.getLogger(__name__)

COMMIT_BYTES = 64 * 1024  # covers a qcow2 header and an ISO's volume descriptor at 32 KiB
CALL_BYTES = 4 << 20  # bytes sent per worker call
_PACKET = 256 * 1024  # libvirt's stream packet size

_T = TypeVar("_T")

UploadProgress = Callable[[int, int], None]  # (bytes sent, total)


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """A storage pool's state.

    Attributes:
        name: the pool's name.
        path: its target path ("" for pools without one).
        capacity: bytes.
        available: free bytes.
        created: True when this call defined the pool.
    """

    name: str
    path: str
    capacity: int
    available: int
    created: bool = False


def ensure_pool_blocking(conn: libvirt.virConnect, name: str, create_path: str) -> PoolInfo:
    """Find pool ``name`` (starting it if inactive) or create a dir pool at ``create_path``.

    Raises:
        libvirt.libvirtError: the pool is missing and ``create_path`` is "", or libvirt
            refused to define, build or start it.
    """
    created = False
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL or not create_path:
            raise
        pool = conn.storagePoolDefineXML(dir_pool_xml(name, create_path), 0)
        created = True
        try:
            pool.build(libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE)
        except libvirt.libvirtError as build_exc:
            _log.debug("pool %s build: %s (the directory may exist)", name, build_exc)
        with contextlib.suppress(libvirt.libvirtError):
            pool.setAutostart(1)
    if not pool.isActive():
        pool.create(0)
    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    return _pool_info(pool, created)


def _pool_info(pool: libvirt.virStoragePool, created: bool = False) -> PoolInfo:
    _state, capacity, _allocation, available = pool.info()
    path = read_pool(pool.XMLDesc(0)).target_path
    return PoolInfo(pool.name(), path, int(capacity), int(available), created)


def unless_missing(lookup: Callable[[], _T], missing: int) -> _T | None:
    """``lookup()``, or None when libvirt answers that the object does not exist.

    Args:
        lookup: a blocking libvirt lookup, e.g. ``lambda: conn.lookupByUUIDString(uuid)``.
        missing: the error code that means "no such object", e.g. ``VIR_ERR_NO_DOMAIN``.

    Raises:
        libvirt.libvirtError: any other error.
    """
    try:
        return lookup()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == missing:
            return None
        raise


def find_volume_blocking(conn: libvirt.virConnect, pool: str, name: str) -> str | None:
    """The path of volume ``name`` in ``pool``, or None if there is none."""
    vol = unless_missing(
        lambda: conn.storagePoolLookupByName(pool).storageVolLookupByName(name),
        libvirt.VIR_ERR_NO_STORAGE_VOL,
    )
    return None if vol is None else str(vol.path())


def refresh_pools_blocking(conn: libvirt.virConnect) -> None:
    """Re-read every active pool's folder (a pool that cannot be read is left as it was)."""
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        with contextlib.suppress(libvirt.libvirtError):
            pool.refresh(0)


def delete_volume_blocking(conn: libvirt.virConnect, path: str) -> None:
    """Delete the volume at ``path`` (no error if it is already gone)."""
    vol = unless_missing(lambda: conn.storageVolLookupByPath(path), libvirt.VIR_ERR_NO_STORAGE_VOL)
    if vol is not None:
        vol.delete(0)


def create_volume_blocking(
    conn: libvirt.virConnect,
    pool: str,
    name: str,
    capacity: int,
    fmt: str,
    backing_path: str = "",
    backing_format: str = "",
) -> str:
    """Create a volume (an overlay when ``backing_path`` is given); returns its path."""
    xml = volume_xml(name, capacity, fmt, backing_path=backing_path, backing_format=backing_format)
    vol = conn.storagePoolLookupByName(pool).createXML(xml, 0)
    return str(vol.path())


def upload_is_complete_blocking(conn: libvirt.virConnect, path: str) -> bool:
    """Whether an uploaded base volume is whole (its first bytes are not all zero).

    Reads :data:`COMMIT_BYTES` back through a download stream.
    """
    vol = conn.storageVolLookupByPath(path)
    stream = conn.newStream(0)
    chunks: list[bytes] = []
    try:
        vol.download(stream, 0, COMMIT_BYTES, 0)
        received = 0
        while received < COMMIT_BYTES:
            data = stream.recv(COMMIT_BYTES - received)
            if not isinstance(data, bytes) or not data:
                break
            chunks.append(data)
            received += len(data)
        stream.finish()
    except libvirt.libvirtError:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    return any(b"".join(chunks).strip(b"\x00"))


async def call_keeping(
    host: HostConnection,
    fn: Callable[[libvirt.virConnect], _T],
    summary: str,
    keep: Callable[[_T], None],
    *,
    slow: bool = False,
) -> _T:
    """:meth:`HostConnection.call` for a call that creates something on the host.

    With ``slow`` the call runs on the host's second thread (a long copy), so that the host's
    other calls, such as polling the copy's progress, go on meanwhile.

    ``keep`` gets the result as soon as the call succeeds, even when the awaiting task is
    cancelled while the call is already running on the worker (it then completes anyway):
    a rollback can then remove what it created.
    """
    future = asyncio.ensure_future(host.call(fn, summary, slow=slow))

    def done(f: asyncio.Future[_T]) -> None:
        if not f.cancelled() and f.exception() is None:
            keep(f.result())

    future.add_done_callback(done)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


def _send_at(send: Callable[[int, int], int], offset: int, count: int, _conn: object) -> int:
    return send(offset, count)


class Uploader(Protocol):
    """Puts a local file or bytes into a new volume on a host."""

    async def upload(
        self,
        host: HostConnection,
        pool: str,
        name: str,
        source: Path | bytes,
        fmt: str,
        progress: UploadProgress | None = None,
    ) -> str:
        """Create volume ``name`` in ``pool`` holding ``source``; return its path.

        On failure or cancellation the volume is deleted before the error propagates.
        """
        ...

    async def is_complete(self, host: HostConnection, path: str) -> bool:
        """Whether the volume at ``path`` holds a whole earlier upload (may be reused)."""
        ...


class StreamUploader:
    """Uploads through ``virStorageVol.upload`` and a libvirt stream (works on remote hosts).

    The volume is a sparse raw file of the source's size; the body goes first and the first
    :data:`COMMIT_BYTES` last, so an interrupted upload is recognisable.
    """

    async def upload(
        self,
        host: HostConnection,
        pool: str,
        name: str,
        source: Path | bytes,
        fmt: str,
        progress: UploadProgress | None = None,
    ) -> str:
        """See :meth:`Uploader.upload`."""
        size = source.stat().st_size if isinstance(source, Path) else len(source)
        created: list[str] = []
        handle: IO[bytes] | None = None
        try:
            path = await call_keeping(
                host,
                lambda c: create_volume_blocking(c, pool, name, size, "raw"),
                f"Could not create volume {name} in pool {pool}",
                created.append,
            )
            if isinstance(source, Path):
                handle = source.open("rb")
            head = min(COMMIT_BYTES, size)
            sent = 0

            def report(done: int) -> None:
                if progress is not None:
                    progress(done, size)

            for start, length in ((head, size - head), (0, head)):
                if length > 0:
                    sent = await self._send_range(
                        host, path, source, handle, (start, length), sent, report
                    )
        except BaseException:
            for made in created:
                with contextlib.suppress(Exception):
                    await host.call(
                        partial(delete_volume_blocking, path=made), f"Could not delete {made}"
                    )
            raise
        finally:
            if handle is not None:
                handle.close()
        return path

    async def is_complete(self, host: HostConnection, path: str) -> bool:
        """See :meth:`Uploader.is_complete` (reads the first bytes back)."""
        try:
            return await host.call(
                lambda c: upload_is_complete_blocking(c, path), f"Could not read {path}"
            )
        except Exception as exc:  # a host that cannot stream: do not reuse
            _log.info("cannot check %s: %s", path, exc)
            return False

    async def _send_range(
        self,
        host: HostConnection,
        path: str,
        source: Path | bytes,
        handle: IO[bytes] | None,
        span: tuple[int, int],
        sent_before: int,
        report: Callable[[int], None],
    ) -> int:
        start, length = span
        stream: list[libvirt.virStream] = []

        def begin(conn: libvirt.virConnect) -> None:
            vol = conn.storageVolLookupByPath(path)
            new = conn.newStream(0)
            vol.upload(new, start, length, 0)
            stream.append(new)

        def send(offset: int, count: int) -> int:
            if handle is not None:
                handle.seek(offset)
                data = handle.read(count)
            else:
                assert isinstance(source, bytes)
                data = source[offset : offset + count]
            view = memoryview(data)
            while view:
                n = stream[0].send(view[:_PACKET].tobytes())
                if n < 0:
                    raise libvirt.libvirtError("the stream refused data")
                view = view[n:]
            return len(data)

        summary = f"Could not upload to {path}"
        await host.call(begin, summary)
        done = 0
        try:
            while done < length:
                count = min(CALL_BYTES, length - done)
                offset = start + done
                n = await host.call(partial(_send_at, send, offset, count), summary)
                if n == 0:
                    raise libvirt.libvirtError(f"the source ended after {done} bytes")
                done += n
                report(sent_before + done)
            await host.call(lambda _c: stream[0].finish(), summary)
        except BaseException:
            with contextlib.suppress(Exception):
                await host.call(lambda _c: stream[0].abort(), summary)
            raise
        return sent_before + done


class _Download:
    """The state of one volume download (used on the host's worker only)."""

    def __init__(self, path: str, dest: Path) -> None:
        self.path = path
        self.dest = dest
        self.stream: libvirt.virStream | None = None
        self.handle: IO[bytes] | None = None
        self.finished = False

    def begin(self, conn: libvirt.virConnect) -> int:
        vol = conn.storageVolLookupByPath(self.path)
        _type, _capacity, physical = vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)
        self.handle = self.dest.open("wb")
        self.stream = conn.newStream(0)
        vol.download(self.stream, 0, 0, 0)
        return int(physical)

    def pull(self, _conn: libvirt.virConnect) -> int:
        """Receive up to :data:`CALL_BYTES` into the file; -1 at the end of the volume."""
        assert self.stream is not None and self.handle is not None
        if self.finished:
            return -1
        got = 0
        while got < CALL_BYTES:
            data = self.stream.recv(_PACKET)
            if not isinstance(data, bytes):
                raise libvirt.libvirtError("the stream failed")
            if not data:
                self.stream.finish()
                self.handle.close()
                self.finished = True
                return got if got else -1
            self.handle.write(data)
            got += len(data)
        return got

    def abandon(self, _conn: libvirt.virConnect) -> None:
        if self.stream is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self.stream.abort()
        if self.handle is not None:
            self.handle.close()
        self.dest.unlink(missing_ok=True)


async def download_volume(
    host: HostConnection, path: str, dest: Path, progress: UploadProgress | None = None
) -> int:
    """Stream the volume at ``path`` into the local file ``dest``; return the bytes written.

    Works on remote hosts (``virStorageVol.download``); one worker call per
    :data:`CALL_BYTES`, so the host's other calls keep their turn. ``progress`` gets
    (bytes received, the file's size on the host). Failing or cancelled, the partial local file
    is removed.
    """
    job = _Download(path, dest)
    summary = f"Could not download {path}"
    done = 0
    try:
        total = await host.call(job.begin, summary)
        while True:
            n = await host.call(job.pull, summary)
            if n < 0:
                break
            done += n
            if progress is not None:
                progress(done, max(total, done))
    except BaseException:
        with contextlib.suppress(Exception):
            await host.call(job.abandon, summary)
        raise
    return done
