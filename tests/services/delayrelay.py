"""A userspace TCP relay that delays every chunk, and the end of stream, per direction.

This machine's kernel has no ``sch_netem`` (RECIPES.md §5), so a slow link is made in userspace:
:class:`DelayRelay` listens on ``127.0.0.1:PORT`` and forwards to an upstream ``host:port``; each
chunk read on one side is written to the other ``delay`` seconds after it arrived (order kept,
bandwidth not limited), and an EOF (half-close) travels the same way. 50 ms each way gives a
100 ms round trip. :meth:`DelayRelay.cut` drops every live link at once (an abrupt close), the
listener stays; :meth:`DelayRelay.set_blackhole` makes the links go silent instead.

Use::

    with DelayRelay.start(upstream_port=sshd.port, delay_up=0.05, delay_down=0.05) as relay:
        libvirt.open(f"qemu+ssh://...@127.0.0.1:{relay.port}/system?...")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from tests.services.common import LoopThread, Stoppable

ADDRESS = "127.0.0.1"
_CHUNK = 65536


class DelayRelay(Stoppable):
    """A running relay (see the module docstring); :meth:`start` makes one.

    Attributes:
        port: the port it listens on (127.0.0.1).
        upstream: the (host, port) it forwards to.
        delay_up: seconds added client -> upstream.
        delay_down: seconds added upstream -> client.
        connections: how many links it accepted so far.
        blackholed: whether data is being dropped (see :meth:`set_blackhole`).
    """

    def __init__(self, upstream: tuple[str, int], delay_up: float, delay_down: float) -> None:
        self.upstream = upstream
        self.delay_up = delay_up
        self.delay_down = delay_down
        self.port = 0
        self.connections = 0
        self.blackholed = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: LoopThread | None = None

    @classmethod
    def start(
        cls,
        upstream_port: int,
        *,
        upstream_host: str = ADDRESS,
        delay_up: float = 0.05,
        delay_down: float = 0.05,
        port: int = 0,
    ) -> DelayRelay:
        """Listen on ``127.0.0.1:port`` (0: any free port) and relay to the upstream.

        Raises:
            OSError: the port cannot be bound.
        """
        relay = cls((upstream_host, upstream_port), delay_up, delay_down)
        relay._loop = LoopThread(f"delay-relay-{upstream_port}")
        try:
            relay.port = relay._loop.run(relay._listen(port))
        except BaseException:
            relay.stop()
            raise
        return relay

    async def _listen(self, port: int) -> int:
        self._server = await asyncio.start_server(self._accept, ADDRESS, port, reuse_address=True)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        writers = [cwriter]
        self._writers.add(cwriter)
        try:
            sreader, swriter = await asyncio.open_connection(*self.upstream)
            writers.append(swriter)
            self._writers.add(swriter)
            for writer in writers:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.gather(
                self._pump(creader, swriter, self.delay_up),
                self._pump(sreader, cwriter, self.delay_down),
            )
        except OSError:
            pass  # upstream refused or reset: the client sees its link close
        finally:
            for writer in writers:
                writer.close()
                self._writers.discard(writer)
            self._links.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        """Copy reader -> writer, each chunk (and the EOF) ``delay`` seconds after it arrived."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while True:
                try:
                    data = await reader.read(_CHUNK)
                except OSError:
                    data = b""
                if data and self.blackholed:
                    continue  # lost on the way
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                try:
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
                except (OSError, RuntimeError):
                    return  # the other side is gone; read() ends at its EOF

        await asyncio.gather(read(), write())

    def set_blackhole(self, on: bool) -> None:
        """While on, every chunk is dropped silently in both directions (links stay open, as
        on a dead route: only keepalive notices). Links that lived through it are corrupt;
        new ones work again once it is off."""
        self.blackholed = on

    def cut(self) -> int:
        """Close every live link at once on both sides; return how many were open."""
        if self._loop is None:
            return 0
        return self._loop.run(self._cut())

    async def _cut(self) -> int:
        count = len(self._links)
        for writer in list(self._writers):
            transport = writer.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        if self._links:
            await asyncio.wait(list(self._links), timeout=max(self.delay_up, self.delay_down) + 2)
        return count

    def stop(self) -> None:
        """Close the listener and every link and end the relay's thread (idempotent)."""
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            self._loop.run(self._stop())
        self._loop.close()
        self._loop = None

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut()
        if self._server is not None:
            await self._server.wait_closed()
