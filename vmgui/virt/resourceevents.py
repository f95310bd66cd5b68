"""Storage pool and virtual network events: a callback on the asyncio loop when they change.

libvirt has events for pools (lifecycle: defined, started, stopped, undefined; and refresh)
and for networks (lifecycle), none for volumes. :func:`watch` registers them on the host's
connection (on its worker) and calls ``on_change`` on the asyncio loop's thread, never on
libvirt's event thread. The returned :class:`Watch` ends that watcher's calls; several
watchers of one host share one registration (libvirt takes only one), which the last one to
close deregisters. A watch lives as long
as the connection it was made on: after a reconnect, make a new one (closing the old one then
touches nothing: its registrations ended with their connection, and their ids may be reused
by the new one's).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable

import libvirt

from vmgui.virt.connection import HostConnection

_log = logging.getLogger(__name__)


class Kind(enum.Enum):
    """What to watch."""

    POOLS = "pools"
    NETWORKS = "networks"


_EVENTS = {
    Kind.POOLS: (
        libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
        libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
    ),
    Kind.NETWORKS: (libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,),
}


class _Hub:
    """One connection's registration of one kind of event, shared by every watcher of it.

    libvirt-python hands every Python callback to libvirt through the same C trampoline, and
    libvirt refuses a second registration of one callback for one event on one connection
    ("event callback already tracked"): so one registration per connection and kind, fanned
    out here to each watcher (the Storage window, another one, the fleet overview...).
    Listeners are added and removed on the host's worker; events are dispatched on the loop.
    """

    def __init__(self, conn: libvirt.virConnect, kind: Kind) -> None:
        self.conn = conn
        self.kind = kind
        self.ids: list[int] = []
        self.listeners: list[Callable[[str], None]] = []

    def dispatch(self, name: str) -> None:
        for listener in list(self.listeners):
            listener(name)


#: The live hubs, by connection object and kind (a hub keeps its connection alive, so the id
#: of a connection that still has one is never reused).
_hubs: dict[tuple[int, Kind], _Hub] = {}


class Watch:
    """One watcher's pool or network events of one host; :meth:`close` ends them."""

    def __init__(self, host: HostConnection, hub: _Hub, listener: Callable[[str], None]) -> None:
        self._host = host
        self._hub: _Hub | None = hub
        self._listener = listener

    @property
    def active(self) -> bool:
        """Whether any event is registered (hosts without these events have none)."""
        return self._hub is not None and bool(self._hub.ids)

    async def close(self) -> None:
        """Stop calling this watcher; the last one deregisters the events (quietly: the
        connection may be gone already)."""
        hub, self._hub = self._hub, None
        if hub is None:
            return
        listener = self._listener

        def leave(conn: libvirt.virConnect) -> None:
            with contextlib.suppress(ValueError):
                hub.listeners.remove(listener)
            if hub.listeners:
                return
            key = (id(hub.conn), hub.kind)
            if _hubs.get(key) is hub:
                del _hubs[key]
            ids, hub.ids = hub.ids, []
            if conn is not hub.conn:
                return  # reconnected: those registrations are gone
            for callback_id in ids:
                with contextlib.suppress(libvirt.libvirtError):
                    if hub.kind is Kind.POOLS:
                        conn.storagePoolEventDeregisterAny(callback_id)
                    else:
                        conn.networkEventDeregisterAny(callback_id)

        try:
            await self._host.call(leave, "Could not stop watching events")
        except Exception:  # the host is gone: its registrations ended with its connection
            with contextlib.suppress(ValueError):
                hub.listeners.remove(listener)
            if not hub.listeners and _hubs.get((id(hub.conn), hub.kind)) is hub:
                del _hubs[(id(hub.conn), hub.kind)]


async def watch(host: HostConnection, kind: Kind, on_change: Callable[[str], None]) -> Watch:
    """Call ``on_change(name)`` on this loop whenever a pool (or network) of ``host`` changes."""
    loop = asyncio.get_running_loop()

    def join(conn: libvirt.virConnect) -> _Hub:
        key = (id(conn), kind)
        hub = _hubs.get(key)
        if hub is None:
            hub = _hubs[key] = _Hub(conn, kind)
            hub.ids = _register(host.uri, conn, kind, loop, hub)
        hub.listeners.append(on_change)
        return hub

    hub = await host.call(join, f"Could not watch the {kind.value} of {host.display_name}")
    return Watch(host, hub, on_change)


def _register(
    uri: str, conn: libvirt.virConnect, kind: Kind, loop: asyncio.AbstractEventLoop, hub: _Hub
) -> list[int]:
    """Register ``kind``'s events on ``conn`` (the host's worker) for ``hub``."""

    def handler(*args: object) -> None:
        # libvirt's event thread: hand over, nothing else. args[1] is the pool or network.
        name_of = getattr(args[1], "name", None) if len(args) > 1 else None
        name = ""
        with contextlib.suppress(libvirt.libvirtError):
            name = str(name_of()) if callable(name_of) else ""
        if not loop.is_closed():
            loop.call_soon_threadsafe(hub.dispatch, name)

    ids = []
    for event_id in _EVENTS[kind]:
        try:
            if kind is Kind.POOLS:
                ids.append(conn.storagePoolEventRegisterAny(None, event_id, handler, None))
            else:
                ids.append(conn.networkEventRegisterAny(None, event_id, handler, None))
        except libvirt.libvirtError as exc:
            _log.debug("%s: %s event %d unavailable: %s", uri, kind.value, event_id, exc)
    return ids
