"""A host's guests as last read, kept current by libvirt's domain events.

The pipeline, for one connection: libvirt calls a domain event callback on its event thread
(:mod:`vmgui.virt.events`); the callback reads the domain's cached UUID (no RPC) and hands over
to the asyncio loop; there one re-read of the guest is queued on the host's worker (coalesced:
one in flight per guest); its result updates the cache and goes to the observer, on the loop's
thread. An "undefined" event removes the guest without a read.

:class:`~vmgui.virt.connection.HostConnection` owns one :class:`GuestTracker` and attaches it
to each connection it opens (a *generation*): events of an older connection are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.virt.events import TaskSet

_log = logging.getLogger(__name__)

GUEST_EVENTS = (
    libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
    libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
    libvirt.VIR_DOMAIN_EVENT_ID_PMSUSPEND,
    libvirt.VIR_DOMAIN_EVENT_ID_PMWAKEUP,
)
"""The domain events that make vmgui re-read a guest."""

ReadGuest = Callable[[str], Awaitable[GuestInfo]]
"""Reads one guest by UUID on the host's worker (raises :class:`VmguiError`)."""


class GuestObserver(Protocol):
    """Receives a host's guest news, always on the asyncio loop's thread."""

    def guests_listed(self, uri: str, guests: list[GuestInfo]) -> None:
        """The full guest list (after a connect or reconnect): replace what is shown."""

    def guest_changed(self, guest: GuestInfo) -> None:
        """A guest appeared or changed."""

    def guest_removed(self, uri: str, uuid: str) -> None:
        """A guest is gone."""


class GuestTracker:
    """The last known guests of one host, by UUID, and the events that keep them current.

    Args:
        uri: the host's URI.
        observer: told about every change, on the loop's thread.
        read: re-reads one guest (on the host's worker).
        tasks: where the re-reads run (cancelled when the host closes).
    """

    def __init__(self, uri: str, observer: GuestObserver, read: ReadGuest, tasks: TaskSet) -> None:
        self._uri = uri
        self._observer = observer
        self._read = read
        self._tasks = tasks
        self._guests: dict[str, GuestInfo] = {}
        self._pending: set[str] = set()
        self._generation: int | None = None  # the connection events are taken from
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def guests(self) -> dict[str, GuestInfo]:
        """The last known guests by UUID (a copy)."""
        return dict(self._guests)

    def register_events(
        self, conn: libvirt.virConnect, generation: int, loop: asyncio.AbstractEventLoop
    ) -> list[int]:
        """Register :data:`GUEST_EVENTS` on a new connection (blocking; on the worker).

        Returns:
            The callback ids, for ``domainEventDeregisterAny``.
        """
        self._loop = loop

        def register(event_id: int) -> int | None:
            try:
                return int(
                    conn.domainEventRegisterAny(
                        None, event_id, self._callback(event_id), generation
                    )
                )
            except libvirt.libvirtError as exc:
                _log.debug("%s: event %d unavailable: %s", self._uri, event_id, exc)
                return None

        # One round trip each: sent at once from a few threads (a connection takes calls
        # from several threads), they cost one round trip instead of seven on a slow link.
        with ThreadPoolExecutor(len(GUEST_EVENTS), thread_name_prefix="virt-events") as pool:
            return [i for i in pool.map(register, GUEST_EVENTS) if i is not None]

    def attach(self, generation: int) -> None:
        """Take the events of connection ``generation`` from now on."""
        self._generation = generation

    def listed(self, guests: list[GuestInfo]) -> None:
        """The full list of the attached connection's guests; tell the observer."""
        self._guests = {g.uuid: g for g in guests}
        self._observer.guests_listed(self._uri, guests)

    def detach(self, *, tell: bool) -> None:
        """Forget the guests (the connection dropped); ``tell`` the observer, or if it knew any."""
        self._generation = None
        self._pending.clear()
        had_guests = bool(self._guests)
        self._guests = {}
        if had_guests or tell:
            self._observer.guests_listed(self._uri, [])

    def request_refresh(self, uuid: str) -> None:
        """Re-read one guest soon (coalesced: one read in flight per guest)."""
        if uuid in self._pending or self._generation is None:
            return
        self._pending.add(uuid)
        self._tasks.spawn(self._refresh_soon(uuid))

    async def refresh(self, uuid: str) -> GuestInfo | None:
        """Re-read one guest now and tell the observer; None if it is gone."""
        try:
            guest = await self._read(uuid)
        except VmguiError as exc:
            if exc.not_found:
                self._remove(uuid)
                return None
            raise
        self._guests[uuid] = guest
        self._observer.guest_changed(guest)
        return guest

    # -- the event pipeline -----------------------------------------------------------------

    def _callback(self, event_id: int) -> Callable[..., None]:
        def callback(_conn: libvirt.virConnect, dom: libvirt.virDomain, *args: Any) -> None:
            # libvirt event thread: read the cached UUID (no RPC) and hand over.
            generation = args[-1]
            event = args[0] if event_id == libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE else -1
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(
                    self._on_event, dom.UUIDString(), event_id, event, generation
                )

        return callback

    def _on_event(self, uuid: str, event_id: int, event: int, generation: int) -> None:
        if generation != self._generation:
            return
        if (
            event_id == libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE
            and event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED
        ):
            self._remove(uuid)
            return
        self.request_refresh(uuid)

    async def _refresh_soon(self, uuid: str) -> None:
        try:
            self._pending.discard(uuid)
            await self.refresh(uuid)
        except VmguiError as exc:
            _log.info("%s: refresh of %s failed: %s", self._uri, uuid, exc)

    def _remove(self, uuid: str) -> None:
        if self._guests.pop(uuid, None) is not None:
            self._observer.guest_removed(self._uri, uuid)
