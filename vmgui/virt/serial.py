"""A guest's serial console: libvirt's console stream, never blocking the asyncio loop.

Facts measured on this project's machines (``../shared/RECIPES.md``, "Serial"): a console is
``dom.openConsole(None, stream, flags)`` on a ``VIR_STREAM_NONBLOCK`` stream; libvirt's default
event loop calls the stream callback; ``recv`` returns bytes, ``-2`` (nothing more for now) or
``b""`` (end of stream). A second open fails with "Active console session exists for this
domain" unless ``VIR_DOMAIN_CONSOLE_FORCE`` is given; then the first stream's next ``recv``
raises "stream had I/O failure". A destroyed guest ends the stream (``b""``) within
milliseconds and no ERROR or HANGUP event comes. After a take-over, qemu's pty passes the new
client's output only after about a second (input typed meanwhile is kept).

The design, on the threads of :mod:`vmgui.virt.events`:

* **Worker thread** (the host's, through :meth:`HostConnection.call`): every call that waits
  for the daemon: ``newStream``, ``openConsole``, ``eventAddCallback``, and at the end
  ``eventRemoveCallback`` + ``abort``. Also ``eventUpdateCallback`` to add WRITABLE when
  there is something to send ("the kick": a local, non-blocking libvirt call, kept off the
  asyncio thread like every other libvirt call).
* **libvirt event thread**: the stream callback. It never blocks: it reads everything
  available (``recv`` until ``-2``, at most 256 KiB per call so other events get their turn),
  writes what is queued (``send`` on a non-blocking stream returns how much it took, or
  ``-2``; the rest stays queued for the next WRITABLE event) and, once the queue is empty,
  removes WRITABLE again (a stream always writable would spin the loop). When the stream
  ends it mutes the callback (``eventUpdateCallback(0)``) and hands over; it never calls
  ``abort``/``finish``, which wait for the daemon.
* **asyncio loop thread**: the owner. :meth:`SerialConsole.send` only appends to the queue
  (and asks the worker for the kick when WRITABLE is not already on); received bytes are
  appended to an inbox, and one ``call_soon_threadsafe`` at a time drains it on the loop, so
  a guest printing fast costs the loop one call per batch, not one per chunk. The observer is
  only ever called on the loop's thread, the end after the last data.

libvirt streams are thread-safe; the queue, the inbox and the WRITABLE state are shared
between the three threads under one lock, held only for short, non-blocking work (libvirt
releases its stream lock before calling the callback, so holding ours across
``eventUpdateCallback`` cannot deadlock). Each open gets its own :class:`_Pump`, so late
callbacks of a closed stream can never reach a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection

_log = logging.getLogger(__name__)

#: The reason given to :meth:`SerialObserver.closed` when the guest stopped (end of stream).
GUEST_STOPPED = "guest stopped"
#: The reason given when another client opened the console with force.
TAKEN_OVER = "another client took over the console"

_READ_EVENTS = (
    libvirt.VIR_STREAM_EVENT_READABLE
    | libvirt.VIR_STREAM_EVENT_ERROR
    | libvirt.VIR_STREAM_EVENT_HANGUP
)
_WRITE_EVENTS = _READ_EVENTS | libvirt.VIR_STREAM_EVENT_WRITABLE
_FAILURE_EVENTS = libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP
_CHUNK = 64 * 1024
_MAX_READ_PER_EVENT = 256 * 1024
_AGAIN = -2  # what recv/send return on a non-blocking stream when they would block


class SerialObserver(Protocol):
    """Receives a console's output, always on the asyncio loop's thread."""

    def data(self, chunk: bytes) -> None:
        """The guest printed ``chunk`` (raw bytes; may split a UTF-8 character)."""

    def closed(self, reason: str) -> None:
        """The console ended by itself (:data:`GUEST_STOPPED`, :data:`TAKEN_OVER`, ...).

        Not called for :meth:`SerialConsole.close`.
        """


class ConsoleBusyError(VmguiError):
    """Another client holds the serial console; opening with ``force=True`` takes it over."""


class SerialConsole:
    """The serial console of one guest.

    Args:
        host: the guest's host; every blocking libvirt call runs on its worker.
        guest: the guest (its UUID finds it, its name is in messages).
        observer: told about output and the end, on the loop's thread.
    """

    def __init__(self, host: HostConnection, guest: GuestInfo, observer: SerialObserver) -> None:
        self._host = host
        self._uuid = guest.uuid
        self._name = guest.name
        self._observer = observer
        self._pump: _Pump | None = None
        self._opening = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        """Whether the console is open (it closes by itself when the stream ends)."""
        return self._pump is not None and not self._opening

    async def open(self, *, force: bool = False) -> None:
        """Connect to the guest's serial console (does nothing if it is open).

        Args:
            force: take the console over from another client (VIR_DOMAIN_CONSOLE_FORCE);
                that client's console then ends.

        Raises:
            ConsoleBusyError: another client holds the console (retry with ``force=True``).
            VmguiError: the guest is not running, has no serial console, or libvirt failed.
        """
        if self._opening:
            raise RuntimeError("the console is already being opened")
        if self._pump is not None:
            return
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0
        pump = _Pump(asyncio.get_running_loop(), self._on_pump_data, self._on_pump_end)
        uuid, name = self._uuid, self._name
        # Current before the stream exists: its first output (or its end) can reach the loop
        # before this coroutine resumes, and must not be dropped as a stale pump's.
        self._pump = pump
        self._opening = True
        try:
            await self._host.call(
                lambda conn: _open_blocking(conn, uuid, name, flags, pump),
                f"Could not open the serial console of {name}",
            )
        except BaseException:
            # Also when cancelled: an open that still completes on the worker is undone there.
            if self._pump is pump:
                self._pump = None
            pump.stop()
            self._spawn(self._detach(pump))
            raise
        finally:
            self._opening = False

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the guest; it is written without blocking the loop.

        While :meth:`open` runs, the data waits until the stream is open.

        Raises:
            VmguiError: the console is not open.
        """
        pump = self._pump
        if pump is None:
            raise VmguiError(
                f"The serial console of {self._name} is not open", hint="Open the console again."
            )
        if data and pump.queue(data):
            self._spawn(self._kick(pump))

    async def close(self) -> None:
        """Close the stream and remove its callback (idempotent; the observer is not told)."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.stop()
            self._spawn(self._detach(pump))
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- loop side ------------------------------------------------------------------------------

    def _on_pump_data(self, pump: _Pump, data: bytes) -> None:
        if pump is self._pump:
            self._observer.data(data)

    def _on_pump_end(self, pump: _Pump, reason: str) -> None:
        if pump is not self._pump:
            return
        self._pump = None
        self._spawn(self._detach(pump))
        _log.info("serial console of %s closed: %s", self._name, reason)
        self._observer.closed(reason)

    async def _kick(self, pump: _Pump) -> None:
        try:
            await self._host.call(
                lambda _conn: pump.arm_writable(), f"Could not write to {self._name}"
            )
        except VmguiError as exc:  # the stream's own end follows
            _log.info("serial console of %s: %s", self._name, exc)

    async def _detach(self, pump: _Pump) -> None:
        try:
            await self._host.call(
                lambda _conn: pump.detach(), f"Could not close the console of {self._name}"
            )
        except VmguiError as exc:  # the host dropped: the stream went with the connection
            _log.debug("serial console of %s: %s", self._name, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _open_blocking(conn: libvirt.virConnect, uuid: str, name: str, flags: int, pump: _Pump) -> None:
    """Open the console stream and attach ``pump`` (worker thread)."""
    dom = inspect.lookup(conn, uuid)
    stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
    try:
        dom.openConsole(None, stream, flags)
    except libvirt.libvirtError as exc:
        mapped = _open_error(exc, name)
        if mapped is not None:
            raise mapped from exc
        raise
    try:
        pump.attach(stream)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise


def _open_error(exc: libvirt.libvirtError, name: str) -> VmguiError | None:
    """The one-line error for what libvirt said, or None for other failures."""
    message = exc.get_error_message() or str(exc)
    code = exc.get_error_code()
    if "Active console session exists" in message:
        return ConsoleBusyError(
            f"another client holds the serial console of {name}",
            message,
            "Take the console over to disconnect the other client.",
        )
    if code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in message:
        return VmguiError(
            f"{name} is not running", message, "Start the guest, then open its console."
        )
    if "cannot find character device" in message or "is not using a PTY" in message:
        return VmguiError(
            f"{name} has no serial console",
            message,
            "Give the guest a serial port of type pty (virsh edit: <serial type='pty'>).",
        )
    return None


def _failure_reason(exc: libvirt.libvirtError) -> str:
    message = exc.get_error_message() or str(exc)
    # libvirt reports a take-over only as the stream's generic I/O failure: with the guest
    # still running (a stopped guest ends the stream instead), it is the one cause seen.
    if "I/O failure" in message:
        return TAKEN_OVER
    return f"the serial console failed: {message}"


class _Pump:
    """One open console stream: state shared by the event thread, the worker and the loop.

    Args:
        loop: the owner's loop; ``on_data`` and ``on_end`` run there.
        on_data: called with (this pump, bytes received).
        on_end: called once with (this pump, reason), after the last data.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_data: Callable[[_Pump, bytes], None],
        on_end: Callable[[_Pump, str], None],
    ) -> None:
        self._loop = loop
        self._on_data = on_data
        self._on_end = on_end
        self._lock = threading.Lock()
        self._stream: Any = None  # libvirt.virStream
        self._outbox = bytearray()
        self._inbox = bytearray()
        self._flush_scheduled = False
        self._writable = False  # WRITABLE is in the callback's events
        self._kick_pending = False  # the worker was asked to add WRITABLE
        self._done = False

    # -- worker thread --------------------------------------------------------------------------

    def attach(self, stream: Any) -> None:
        """Start receiving events of the freshly opened ``stream``."""
        self._stream = stream
        stream.eventAddCallback(_READ_EVENTS, self._on_event, None)

    def arm_writable(self) -> None:
        """Add WRITABLE to the callback's events if something waits to be sent."""
        with self._lock:
            self._kick_pending = False
            if self._done or self._writable or not self._outbox or self._stream is None:
                return
            try:
                self._stream.eventUpdateCallback(_WRITE_EVENTS)
            except libvirt.libvirtError as exc:  # the stream failed: its callback says why
                _log.debug("console: cannot wait for writable: %s", exc)
                return
            self._writable = True

    def detach(self) -> None:
        """Remove the callback and abort the stream (errors of a dead stream are expected)."""
        with self._lock:
            stream, self._stream = self._stream, None
            self._done = True
        if stream is None:
            return
        for step in (stream.eventRemoveCallback, stream.abort):
            try:
                step()
            except libvirt.libvirtError as exc:
                _log.debug("console: %s: %s", step.__name__, exc)

    # -- loop thread ----------------------------------------------------------------------------

    def queue(self, data: bytes) -> bool:
        """Queue ``data``; True when the worker must add WRITABLE (see :meth:`arm_writable`)."""
        with self._lock:
            if self._done:
                return False
            self._outbox += data
            if self._writable or self._kick_pending:
                return False
            self._kick_pending = True
            return True

    def stop(self) -> None:
        """Deliver nothing more; the callback mutes itself at its next call."""
        with self._lock:
            self._done = True

    def _flush(self) -> None:
        with self._lock:
            data = bytes(self._inbox)
            self._inbox.clear()
            self._flush_scheduled = False
        if data:
            self._on_data(self, data)

    # -- libvirt event thread -------------------------------------------------------------------

    def _on_event(self, stream: Any, events: int, _opaque: object) -> None:
        try:
            reason = self._pump_events(stream, events)
        except Exception as exc:  # never let an error escape into libvirt's event loop
            _log.exception("serial console callback failed")
            reason = f"the serial console failed: {exc}"
        if reason is not None:
            self._end(stream, reason)

    def _pump_events(self, stream: Any, events: int) -> str | None:
        if self._done:
            self._mute(stream)
            return None
        received = 0
        while received < _MAX_READ_PER_EVENT:
            try:
                chunk = stream.recv(_CHUNK)
            except libvirt.libvirtError as exc:
                return _failure_reason(exc)
            if isinstance(chunk, int):  # -2: nothing more for now
                break
            if not chunk:
                return GUEST_STOPPED
            received += len(chunk)
            self._receive(chunk)
        reason = self._write(stream)
        if reason is None and events & _FAILURE_EVENTS:
            reason = "the serial console connection failed"
        return reason

    def _receive(self, chunk: bytes) -> None:
        with self._lock:
            self._inbox += chunk
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._call_soon(self._flush)

    def _write(self, stream: Any) -> str | None:
        with self._lock:
            while self._outbox:
                try:
                    sent = stream.send(bytes(self._outbox[:_CHUNK]))
                except libvirt.libvirtError as exc:
                    return _failure_reason(exc)
                if sent == _AGAIN or sent <= 0:
                    return None  # the rest waits for the next WRITABLE event
                del self._outbox[:sent]
            if self._writable:
                try:
                    stream.eventUpdateCallback(_READ_EVENTS)
                except libvirt.libvirtError as exc:
                    return _failure_reason(exc)
                self._writable = False
        return None

    def _end(self, stream: Any, reason: str) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._mute(stream)
        # After every flush already scheduled (call_soon_threadsafe keeps the order), and no
        # data arrives after the end: the observer hears of the end after the last data.
        self._call_soon(lambda: self._on_end(self, reason))

    def _mute(self, stream: Any) -> None:
        with self._lock:
            self._writable = False
            with contextlib.suppress(libvirt.libvirtError):
                stream.eventUpdateCallback(0)

    def _call_soon(self, fn: Callable[[], None]) -> None:
        try:
            self._loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            _log.debug("console: the event loop is closed")
