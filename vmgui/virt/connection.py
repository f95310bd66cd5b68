"""One libvirt host: its connection, worker threads, keepalive, close callback and reconnects.

See :mod:`vmgui.virt.events` for the threading design. In short: every libvirt call of a
:class:`HostConnection` runs on its own :class:`~vmgui.virt.events.Worker`; libvirt's
callbacks arrive on the libvirt event thread and are handed to the asyncio loop; observers
are always called on the asyncio loop's thread. The guest list and the domain events that keep
it current are :class:`~vmgui.virt.guestcache.GuestTracker`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.hosturi import uri_warnings
from vmgui.core.model import (
    ConnectionState,
    GuestInfo,
    HostInfo,
    HostStatus,
)
from vmgui.core.validation import ValidationError, host_display_name, parse_uri
from vmgui.core.xml.host import read_capabilities
from vmgui.virt import guestlist, inspect
from vmgui.virt.askpass import AskpassServer
from vmgui.virt.closing import CloseWhenIdle, close_late, close_quietly
from vmgui.virt.credentials import AuthenticationError, AuthSession, CredentialAsker
from vmgui.virt.events import TaskSet, Worker, WorkerStoppedError
from vmgui.virt.guestcache import GuestObserver, GuestTracker
from vmgui.virt.opening import (
    CONNECT_TIMEOUT,
    is_ssh,
    open_connection,
    open_error,
    wait_for_open,
)
from vmgui.virt.passwords import SecretStore

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Seconds between reconnect attempts after a host drops (the last value repeats).
DEFAULT_BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

Opener = Callable[[str], libvirt.virConnect]

_CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "the connection failed",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the host closed the connection (libvirtd stopped?)",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "the host stopped answering keepalives",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "the connection was closed",
}


class HostObserver(GuestObserver, Protocol):
    """Receives a host's news (its guests' too), always on the asyncio loop's thread."""

    def host_status_changed(self, status: HostStatus) -> None:
        """The connection state changed."""

    def host_info_changed(self, info: HostInfo) -> None:
        """The host's identity or size became known or changed."""


class NullObserver:
    """A HostObserver that ignores everything (one-shot commands, tests)."""

    def host_status_changed(self, status: HostStatus) -> None:
        """Ignored."""

    def host_info_changed(self, info: HostInfo) -> None:
        """Ignored."""

    def guests_listed(self, uri: str, guests: list[GuestInfo]) -> None:
        """Ignored."""

    def guest_changed(self, guest: GuestInfo) -> None:
        """Ignored."""

    def guest_removed(self, uri: str, uuid: str) -> None:
        """Ignored."""


class HostConnection:
    """One libvirt host, kept connected, whose calls never block the asyncio loop.

    Args:
        uri: the libvirt URI.
        observer: told about status, host info and guests, on the loop's thread.
        opener: opens the connection (blocking; runs on the worker); None = libvirt's, with
            the credential questions answered by ``asker``.
        backoff: seconds between reconnect attempts after the host drops.
        keepalive: (interval s, count) for ``setKeepAlive``, or None.
        asker: answers host-key and password questions (on the loop), or None to refuse them.
        secrets: where saved passwords are read and remembered ones written, or None.
        connect_timeout: seconds an open may take, not counting questions on screen.
    """

    def __init__(
        self,
        uri: str,
        observer: HostObserver,
        *,
        opener: Opener | None = None,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        keepalive: tuple[int, int] | None = (5, 3),
        asker: CredentialAsker | None = None,
        secrets: SecretStore | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.uri = uri
        self.display_name = host_display_name(uri)
        self._observer = observer
        self._opener = opener
        self._backoff = tuple(backoff) or DEFAULT_BACKOFF
        self._keepalive = keepalive
        self._asker = asker
        self._secrets = secrets
        self._connect_timeout = connect_timeout
        self._session: AuthSession | None = None
        self._worker = Worker(f"virt:{uri}")
        # Calls that may take seconds (capabilities: libvirt re-probes qemu when /dev/kvm is
        # not accessible) run on a second thread, so they never hold up listing, events or
        # actions. libvirt connections accept calls from several threads at once.
        self._slow_worker = Worker(f"virt-slow:{uri}")
        self._conn: libvirt.virConnect | None = None
        self._event_ids: list[int] = []
        self._generation = 0
        self._want_connected = False
        self._status = HostStatus(uri, ConnectionState.DISCONNECTED)
        self._host_info: HostInfo | None = None
        self._tasks = TaskSet()
        self._tracker = GuestTracker(uri, observer, self._read_guest, self._tasks)
        self._reconnect_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- public state -------------------------------------------------------------------

    @property
    def status(self) -> HostStatus:
        """The current connection status."""
        return self._status

    @property
    def state(self) -> ConnectionState:
        """The current connection state."""
        return self._status.state

    @property
    def host_info(self) -> HostInfo | None:
        """What is known about the host, or None before it answered."""
        return self._host_info

    @property
    def guests(self) -> dict[str, GuestInfo]:
        """The last known guests by UUID (a copy)."""
        return self._tracker.guests

    def guest_name(self, uuid: str) -> str:
        """The name of guest ``uuid`` as last listed; its UUID when the host does not list it."""
        guest = self._tracker.guests.get(uuid)
        return guest.name if guest else uuid

    @property
    def wants_connection(self) -> bool:
        """Whether the host should be connected (reconnects are attempted while True)."""
        return self._want_connected

    # -- connect / disconnect -------------------------------------------------------------

    async def connect(self) -> None:
        """Open the host, list its guests, then read its details.

        Returns once the guests are listed; the (possibly slow) capabilities follow in the
        background. If the host drops later, it is reconnected with backoff.

        Raises:
            VmguiError: the host could not be opened (status is FAILED with the reason).
        """
        self._loop = asyncio.get_running_loop()
        if self.state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
            return
        self._want_connected = True
        self._cancel_reconnect()
        self._set_status(ConnectionState.CONNECTING)
        try:
            await self._establish()
        except VmguiError as exc:
            self._want_connected = False
            self._drop(ConnectionState.FAILED, _failure_reason(exc))
            raise

    async def disconnect(self) -> None:
        """Close the host; no reconnect follows. Its guests leave the list."""
        self._want_connected = False
        self._cancel_reconnect()
        self._drop(ConnectionState.DISCONNECTED, "")

    async def close(self) -> None:
        """Disconnect and stop the worker for good (the object is unusable afterwards)."""
        await self.disconnect()
        self._tasks.cancel_all()
        self._worker.stop()
        self._slow_worker.stop()

    async def _establish(self) -> None:
        try:
            parse_uri(self.uri)
        except ValidationError as exc:
            raise VmguiError(f"Could not connect to {self.display_name}", exc.message) from exc
        for warning in uri_warnings(self.uri):
            _log.warning("%s: %s", self.uri, warning)
        self._generation += 1
        generation = self._generation
        loop = asyncio.get_running_loop()
        session = AuthSession(self.uri, self._asker, loop, self._secrets)
        # Set SSH_ASKPASS here, on the loop's thread, before any worker opens (askpass.py).
        askpass = AskpassServer.instance() if is_ssh(self.uri) and self._asker else None
        self._session = session
        worker = self._worker
        try:
            future = worker.submit(lambda: self._open_blocking(generation, loop, session, askpass))
            conn, event_ids = await wait_for_open(
                future, session, self._connect_timeout, f"Could not connect to {self.display_name}"
            )
        except libvirt.libvirtError as exc:
            raise open_error(exc, session, f"Could not connect to {self.display_name}") from exc
        except WorkerStoppedError as exc:
            raise VmguiError(f"Could not connect to {self.display_name}", str(exc)) from exc
        except (VmguiError, asyncio.CancelledError):
            # Deadline or cancel: abandon the stuck open; close what it opens late.
            future.add_done_callback(close_late)
            if worker is self._worker:
                self._abandon_worker()
            raise
        finally:
            self._session = None
        if generation != self._generation:  # disconnected while opening
            self._worker.submit(lambda: close_quietly(conn, event_ids))
            raise VmguiError(f"Connection to {self.display_name} was cancelled")
        self._conn = conn
        self._event_ids = event_ids
        self._tracker.attach(generation)
        self._set_status(ConnectionState.CONNECTED)
        self._worker.submit(session.remember_password)
        guests = await self.call(
            lambda c: guestlist.list_guests(self.uri, c),
            f"Could not list the guests of {self.display_name}",
        )
        self._tracker.listed(guests)
        info = await self.call(
            lambda c: inspect.host_info(self.uri, c), f"Could not read {self.display_name}"
        )
        self._set_host_info(info)
        self._tasks.spawn(self._fetch_capabilities(generation))

    def _open_blocking(
        self,
        generation: int,
        loop: asyncio.AbstractEventLoop,
        session: AuthSession,
        askpass: AskpassServer | None,
    ) -> tuple[libvirt.virConnect, list[int]]:
        if self._opener is not None:
            conn = self._opener(self.uri)
        else:
            conn = open_connection(self.uri, session, askpass)
        if self._keepalive is not None:
            try:
                conn.setKeepAlive(*self._keepalive)
            except libvirt.libvirtError as exc:  # the test driver: "not supported"
                _log.debug("%s: keepalive unavailable: %s", self.uri, exc)
        try:
            conn.registerCloseCallback(self._on_close_callback, generation)
        except libvirt.libvirtError as exc:
            _log.debug("%s: close callback unavailable: %s", self.uri, exc)
        return conn, self._tracker.register_events(conn, generation, loop)

    async def _fetch_capabilities(self, generation: int) -> None:
        try:
            caps = await self.call(lambda c: c.getCapabilities(), "capabilities", slow=True)
        except VmguiError as exc:
            _log.info("%s: capabilities unavailable: %s", self.uri, exc)
            return
        if generation != self._generation or self._host_info is None:
            return
        model = read_capabilities(caps).cpu_model
        self._set_host_info(
            dataclasses.replace(self._host_info, cpu_model=model, capabilities_known=True)
        )

    def _abandon_worker(self) -> None:
        self._generation += 1
        old_worker, self._worker = self._worker, Worker(f"virt:{self.uri}")
        old_worker.stop()

    def _drop(self, state: ConnectionState, reason: str, retry_in: float | None = None) -> None:
        if self._session is not None:  # a connect is waiting: it gives up now
            self._session.cancel()
        self._generation += 1
        conn, self._conn = self._conn, None
        event_ids, self._event_ids = self._event_ids, []
        old_workers = (self._worker, self._slow_worker)
        self._worker = Worker(f"virt:{self.uri}")
        self._slow_worker = Worker(f"virt-slow:{self.uri}")
        if conn is not None:
            # Both old workers may still be inside a call on ``conn`` (the slow one in
            # getCapabilities, say): closing it under them frees it mid-call (a segfault, seen
            # in the suite). Close after the last of them is done; never wait for either.
            CloseWhenIdle(conn, event_ids, old_workers)
        for worker in old_workers:
            worker.stop()
        self._set_status(state, reason, retry_in)
        self._tracker.detach(tell=conn is not None)

    # -- reconnect --------------------------------------------------------------------------

    def _on_close_callback(self, _conn: libvirt.virConnect, reason: int, generation: int) -> None:
        # libvirt event thread: hand over, nothing else.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_closed, reason, generation)

    def _on_closed(self, reason: int, generation: int) -> None:
        if generation != self._generation or self._conn is None:
            return
        text = _CLOSE_REASONS.get(reason, f"the connection closed (reason {reason})")
        self._lost(text)

    def _lost(self, reason: str) -> None:
        _log.warning("%s: connection lost: %s", self.uri, reason)
        self._drop(ConnectionState.DISCONNECTED, reason, self._backoff[0])
        if self._want_connected and self._reconnect_task is None:
            self._reconnect_task = asyncio.ensure_future(self._reconnect_loop(reason))

    async def _reconnect_loop(self, reason: str) -> None:
        attempt = 0
        try:
            while self._want_connected:
                delay = self._backoff[min(attempt, len(self._backoff) - 1)]
                self._set_status(ConnectionState.DISCONNECTED, reason, delay)
                await asyncio.sleep(delay)
                if not self.wants_connection:
                    return
                self._set_status(ConnectionState.CONNECTING, reason)
                try:
                    await self._establish()
                except AuthenticationError as exc:
                    self._want_connected = False  # asking again would only annoy
                    self._drop(ConnectionState.FAILED, _failure_reason(exc))
                    return
                except VmguiError as exc:
                    reason = exc.details or exc.summary
                    attempt += 1
                    self._drop(ConnectionState.DISCONNECTED, reason)
                    continue
                _log.info("%s: reconnected after %d attempt(s)", self.uri, attempt + 1)
                return
        finally:
            self._reconnect_task = None

    def _cancel_reconnect(self) -> None:
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None

    # -- calls ----------------------------------------------------------------------------

    async def call(
        self, fn: Callable[[libvirt.virConnect], _T], summary: str, *, slow: bool = False
    ) -> _T:
        """Run ``fn(conn)`` on this host's worker and return its result.

        Args:
            fn: blocking code using the connection; runs on the worker thread.
            summary: what failed, for the error ("Could not start web-01").
            slow: the call may take seconds (capabilities): run it on the host's second
                thread so that it does not delay the host's other calls.

        Raises:
            VmguiError: the host is not connected, dropped, or libvirt refused.
        """
        conn = self._conn
        if conn is None or self.state is not ConnectionState.CONNECTED:
            raise VmguiError(
                summary,
                f"{self.display_name} is not connected",
                "Connect the host and try again.",
            )
        worker = self._slow_worker if slow else self._worker
        generation = self._generation

        def guarded() -> _T:
            try:
                return fn(conn)
            except libvirt.libvirtError as exc:
                if not _alive(conn):
                    raise _ConnectionLostError(exc) from exc
                raise

        try:
            return await worker.run(guarded)
        except WorkerStoppedError as exc:
            raise VmguiError(summary, f"{self.display_name} disconnected") from exc
        except _ConnectionLostError as lost:
            if generation == self._generation:
                self._lost(lost.error.get_error_message() or "the connection failed")
            raise inspect.error_from_libvirt(lost.error, summary) from lost.error
        except libvirt.libvirtError as exc:
            raise inspect.error_from_libvirt(exc, summary) from exc

    # -- guests ---------------------------------------------------------------------------

    def request_refresh(self, uuid: str) -> None:
        """Re-read one guest soon (coalesced: one read in flight per guest)."""
        self._tracker.request_refresh(uuid)

    async def refresh_guest(self, uuid: str) -> GuestInfo | None:
        """Re-read one guest now and tell the observer; None if it is gone."""
        return await self._tracker.refresh(uuid)

    async def _read_guest(self, uuid: str) -> GuestInfo:
        return await self.call(
            lambda c: inspect.guest_info(self.uri, inspect.lookup(c, uuid)),
            f"Could not read guest {uuid}",
        )

    # -- helpers -------------------------------------------------------------------------

    def _set_status(
        self, state: ConnectionState, reason: str = "", retry_in: float | None = None
    ) -> None:
        status = HostStatus(self.uri, state, reason, retry_in)
        if status == self._status:
            return
        self._status = status
        self._observer.host_status_changed(status)

    def _set_host_info(self, info: HostInfo) -> None:
        self._host_info = info
        self._observer.host_info_changed(info)


class _ConnectionLostError(Exception):
    """A libvirt call failed and the connection is dead (raised on the worker)."""

    def __init__(self, error: libvirt.libvirtError) -> None:
        super().__init__(str(error))
        self.error = error


def _failure_reason(exc: VmguiError) -> str:
    reason = exc.details or exc.summary
    return f"authentication failed — {reason}" if isinstance(exc, AuthenticationError) else reason


def _alive(conn: libvirt.virConnect) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False
