"""A slow host for the benchmarks: a relay in front of the system libvirtd that answers
``getCapabilities`` late (nothing in the daemon or in vmgui changes)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import struct
import tempfile
import threading
import time
from pathlib import Path

LIBVIRT_SOCK = Path("/run/libvirt/libvirt-sock")

_REMOTE_PROGRAM = 0x20008086
_PROC_CONNECT_GET_CAPABILITIES = 7
_CALL, _REPLY = 0, 1
_HEADER = struct.Struct(">IIiiIi")  # prog, vers, proc, type, serial, status


class SlowCapsRelay:
    """A Unix socket that relays libvirt RPC to the system daemon, answering
    ``getCapabilities`` only ``delay`` seconds after it was asked.

    Every other message (other calls, events, keepalives) passes at once, as on a daemon
    whose worker is busy re-probing qemu. Clients connect with :attr:`uri`.
    Call times and reply times are recorded in :attr:`caps` as (asked, answered) pairs of
    ``time.perf_counter`` values.
    """

    _procs = frozenset({_PROC_CONNECT_GET_CAPABILITIES})

    def __init__(self, delay: float = 8.0, upstream: Path = LIBVIRT_SOCK) -> None:
        self.delay = delay
        self.upstream = upstream
        self._dir = Path(tempfile.mkdtemp(prefix="vmgui-bench-slow-"))
        self.path = self._dir / "libvirt-sock"
        self.caps: list[tuple[float, float]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slow-relay")
        self._server: asyncio.AbstractServer | None = None

    @property
    def uri(self) -> str:
        """The URI of the slow host."""
        return f"qemu+unix:///system?socket={self.path}"

    def __enter__(self) -> SlowCapsRelay:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _start(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readexactly(4)
            (length,) = struct.unpack(">I", head)
            return head + await reader.readexactly(length - 4)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        sreader, swriter = await asyncio.open_unix_connection(str(self.upstream))
        asked: dict[int, float] = {}

        async def upstream() -> None:
            while (msg := await self._read(creader)) is not None:
                prog, _vers, proc, kind, serial, _status = _HEADER.unpack_from(msg, 4)
                if prog == _REMOTE_PROGRAM and kind == _CALL and proc in self._procs:
                    asked[serial] = time.perf_counter()
                swriter.write(msg)
                await swriter.drain()
            swriter.close()

        async def late(msg: bytes, t_asked: float) -> None:
            await asyncio.sleep(max(0.0, self.delay - (time.perf_counter() - t_asked)))
            if not cwriter.is_closing():
                cwriter.write(msg)
                self.caps.append((t_asked, time.perf_counter()))

        async def downstream() -> None:
            held: set[asyncio.Task[None]] = set()
            while (msg := await self._read(sreader)) is not None:
                prog, _vers, _proc, kind, serial, _status = _HEADER.unpack_from(msg, 4)
                if prog == _REMOTE_PROGRAM and kind == _REPLY and serial in asked:
                    task = asyncio.ensure_future(late(msg, asked.pop(serial)))
                    held.add(task)
                    task.add_done_callback(held.discard)
                    continue
                cwriter.write(msg)
                await cwriter.drain()
            cwriter.close()

        try:
            await asyncio.gather(upstream(), downstream())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for writer in (swriter, cwriter):
                with contextlib.suppress(Exception):
                    writer.close()
