"""A guest's VNC display: the socket from libvirt and an asyncio session over it.

:func:`open_graphics_socket` asks libvirt for a connected socket to qemu's VNC server
(``virDomainOpenGraphicsFD``, on the host's worker thread): no TCP, works with
``<listen type='none'/>``, local hosts only. :class:`VncSession` drives the sans-I/O
:class:`~vmgui.core.rfb.protocol.RfbClient` over that socket — or over a TCP socket or an SSH
tunnel's socketpair on remote hosts (:mod:`vmgui.virt.vncopener`) — on the running asyncio loop
(the qasync loop in the app): it reads and decodes updates, keeps exactly one
FramebufferUpdateRequest outstanding, and tells a :class:`VncObserver` — always on the loop's
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.rfb import keys
from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.events import (
    Bell,
    Connected,
    DesktopResized,
    Event,
    FramebufferUpdated,
    ServerCutText,
)
from vmgui.core.rfb.pixels import Pixels, Rect
from vmgui.core.rfb.protocol import RfbClient, State
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection

_log = logging.getLogger(__name__)

#: Bytes asked of the socket per read (a full 1080p Raw frame is 8 MiB).
_READ_SIZE = 1 << 18
#: Seconds allowed from socket to ServerInit (measured: 3-6 ms locally).
HANDSHAKE_TIMEOUT = 10.0


async def open_graphics_socket(host: HostConnection, uuid: str) -> socket.socket:
    """A connected, non-blocking socket to the guest's VNC server (local hosts only).

    Raises:
        VmguiError: the guest is not running, has no VNC display (SPICE only, or none),
            or libvirt refused (a remote host: file descriptors cannot cross the network).
    """
    name = host.guest_name(uuid)
    summary = f"Could not open the console of {name}"

    def open_blocking(conn: libvirt.virConnect) -> socket.socket:
        dom = inspect.lookup(conn, uuid)
        graphics = parse_domain_xml(dom.XMLDesc(0)).graphics
        if "vnc" not in graphics:
            has = f" (it has {', '.join(graphics)})" if graphics else ""
            raise VmguiError(
                summary,
                f"{name} has no VNC display{has}",
                "Switch the guest's display to VNC (applies at the next boot).",
            )
        if not dom.isActive():
            raise VmguiError(summary, f"{name} is not running", "Start the guest first.")
        fd = dom.openGraphicsFD(graphics.index("vnc"), libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        return sock

    return await host.call(open_blocking, summary)


class VncObserver(Protocol):
    """Receives a session's news, always on the asyncio loop's thread."""

    def vnc_resized(self, width: int, height: int) -> None:
        """The framebuffer has a new size (and is a new array: re-wrap it)."""

    def vnc_frame(self, framebuffer: Pixels, damage: tuple[Rect, ...]) -> None:
        """An update was decoded: repaint ``damage`` (``framebuffer`` is updated in place)."""

    def vnc_clipboard(self, text: str) -> None:
        """The guest's clipboard changed."""

    def vnc_bell(self) -> None:
        """The guest rang the bell."""

    def vnc_closed(self, error: VmguiError | None) -> None:
        """The session ended: ``error`` says why, None after :meth:`VncSession.close` or when
        the server closed the display (the guest stopped)."""


class VncSession:
    """One RFB connection on the running asyncio loop.

    Args:
        sock: a connected non-blocking socket (:func:`open_graphics_socket`).
        observer: told about frames, resizes, clipboard, bell and the end.
        encodings: what to ask for, most preferred first (Raw first on a local socket).
        password: the display's VNC password, if it has one.
        name: the guest's name, for error messages.
        on_end: called once when the session ends, after the socket closed (a tunnel then
            stops its ssh).
    """

    def __init__(
        self,
        sock: socket.socket,
        observer: VncObserver,
        *,
        encodings: Sequence[int] = msg.LOCAL_ENCODINGS,
        password: str | None = None,
        name: str = "the guest",
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self._sock = sock
        self._on_end = on_end
        self._observer = observer
        self._encodings = tuple(encodings)
        self._client = RfbClient(encodings, password=password)
        self._name = name
        self._updates_enabled = True
        self._closed = False
        self._connected: asyncio.Future[Connected] | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- state ---------------------------------------------------------------------------------

    @property
    def framebuffer(self) -> Pixels:
        """The (height, width) uint32 framebuffer (B, G, R, X in memory)."""
        return self._client.framebuffer

    @property
    def encodings(self) -> tuple[int, ...]:
        """The encodings asked for, most preferred first."""
        return self._encodings

    @property
    def desktop_name(self) -> str:
        """The name the server announced."""
        return self._client.name

    @property
    def closed(self) -> bool:
        """Whether the session has ended."""
        return self._closed

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> Connected:
        """Handshake; return once ServerInit arrived (updates then flow to the observer).

        Raises:
            VmguiError: the server refused, spoke no RFB, closed, or did not answer in time.
        """
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()
        self._tasks = [
            asyncio.ensure_future(self._read_loop()),
            asyncio.ensure_future(self._write_loop()),
        ]
        try:
            return await asyncio.wait_for(asyncio.shield(self._connected), HANDSHAKE_TIMEOUT)
        except TimeoutError:
            await self._shutdown()
            raise VmguiError(
                f"Could not open the console of {self._name}",
                f"the VNC server did not answer within {HANDSHAKE_TIMEOUT:g} s",
            ) from None
        except BaseException:
            await self._shutdown()
            raise

    async def close(self) -> None:
        """End the session (idempotent); the observer hears ``vnc_closed(None)``."""
        if self._closed:
            return
        await self._shutdown()
        self._observer.vnc_closed(None)

    def set_updates_enabled(self, enabled: bool) -> None:
        """Stop asking for updates while nothing shows the screen (hidden window); resume."""
        self._updates_enabled = enabled
        if enabled:
            self._request_if_idle()

    # -- input ----------------------------------------------------------------------------------

    def send_key(self, keysym: int, *, down: bool) -> None:
        """Press or release one key (X keysym)."""
        self.send_keys([(keysym, down)])

    def send_keys(self, transitions: Iterable[tuple[int, bool]]) -> None:
        """Send key transitions in order (:data:`~vmgui.core.rfb.keys.KEY_SEQUENCES`)."""
        if self._ready():
            self._client.key_events(transitions)
            self._wake.set()

    def type_text(self, text: str) -> None:
        """Type ``text`` (Shift_L around shifted characters).

        Raises:
            ValueError: ``text`` holds a character no key types.
        """
        self.send_keys(keys.type_text(text))

    def send_pointer(self, x: int, y: int, buttons: int = 0) -> None:
        """Move the pointer to framebuffer pixel (x, y) with ``buttons`` pressed."""
        if self._ready():
            self._client.pointer_event(x, y, buttons)
            self._wake.set()

    def send_clipboard(self, text: str) -> None:
        """Give the guest the host's clipboard text."""
        if self._ready():
            self._client.client_cut_text(text)
            self._wake.set()

    def _ready(self) -> bool:
        return not self._closed and self._client.state is State.READY

    # -- I/O ------------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(self._sock, _READ_SIZE)
                if not data:
                    self._end(None if self._client.state is State.READY else self._eof_error())
                    return
                events = self._client.feed(data)
                self._wake.set()
                for event in events:
                    self._dispatch(event)
        except asyncio.CancelledError:
            raise
        except VmguiError as exc:
            self._end(exc)
        except OSError as exc:
            self._end(VmguiError(f"The console of {self._name} failed", str(exc)))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                data = self._client.pending_output()
                if data:
                    await loop.sock_sendall(self._sock, data)
        except asyncio.CancelledError:
            raise
        except OSError as exc:
            self._end(VmguiError(f"The console of {self._name} failed", str(exc)))

    def _eof_error(self) -> VmguiError:
        return VmguiError(
            f"Could not open the console of {self._name}",
            "the VNC server closed the connection during the handshake",
        )

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, FramebufferUpdated):
            self._request_if_idle()
            if event.damage:
                self._observer.vnc_frame(self._client.framebuffer, event.damage)
        elif isinstance(event, Connected):
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(event)
        elif isinstance(event, DesktopResized):
            self._observer.vnc_resized(event.width, event.height)
        elif isinstance(event, ServerCutText):
            self._observer.vnc_clipboard(event.text)
        elif isinstance(event, Bell):
            self._observer.vnc_bell()

    def _request_if_idle(self) -> None:
        client = self._client
        if self._ready() and self._updates_enabled and not client.update_requested:
            client.request_update(incremental=True)
            self._wake.set()

    def _end(self, error: VmguiError | None) -> None:
        if self._closed:
            return
        if self._connected is not None and not self._connected.done():
            # Still in start(): it raises the error (the observer never saw the session).
            self._connected.set_exception(error or self._eof_error())
            return
        self._closed = True
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._release()
        if error is not None:
            _log.info("console of %s ended: %s", self._name, error)
        self._observer.vnc_closed(error)

    async def _shutdown(self) -> None:
        self._closed = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._release()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end()


async def open_vnc_session(
    host: HostConnection, uuid: str, observer: VncObserver, *, password: str | None = None
) -> VncSession:
    """Open the guest's VNC display over libvirt's socket and handshake (local hosts).

    Raises:
        VmguiError: see :func:`open_graphics_socket` and :meth:`VncSession.start`.
    """
    sock = await open_graphics_socket(host, uuid)
    name = host.guest_name(uuid)
    session = VncSession(sock, observer, password=password, name=name)
    await session.start()
    return session
