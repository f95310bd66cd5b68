"""Storage pool and virtual network events: a callback on the asyncio loop when they change.

libvirt has events for pools (lifecycle: defined, started, stopped, undefined; and refresh)
and for networks (lifecycle), none for volumes. :func:`watch` registers them on the host's
connection (on its worker) and calls ``on_change`` on the asyncio loop's thread, never on
libvirt's event thread. The returned :class:`Watch` deregisters them. A watch lives as long
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


class Watch:
    """Registered pool or network events of one host; :meth:`close` ends them."""

    def __init__(
        self, host: HostConnection, kind: Kind, conn: libvirt.virConnect, ids: list[int]
    ) -> None:
        self._host = host
        self._kind = kind
        self._conn = conn
        self._ids = ids

    @property
    def active(self) -> bool:
        """Whether any event is registered (hosts without these events have none)."""
        return bool(self._ids)

    async def close(self) -> None:
        """Deregister the events (quietly: the connection may be gone already)."""
        ids, self._ids = self._ids, []
        if not ids:
            return

        def deregister(conn: libvirt.virConnect) -> None:
            if conn is not self._conn:
                return  # reconnected: those registrations are gone
            for callback_id in ids:
                with contextlib.suppress(libvirt.libvirtError):
                    if self._kind is Kind.POOLS:
                        conn.storagePoolEventDeregisterAny(callback_id)
                    else:
                        conn.networkEventDeregisterAny(callback_id)

        with contextlib.suppress(Exception):
            await self._host.call(deregister, "Could not stop watching events")


async def watch(host: HostConnection, kind: Kind, on_change: Callable[[str], None]) -> Watch:
    """Call ``on_change(name)`` on this loop whenever a pool (or network) of ``host`` changes."""
    loop = asyncio.get_running_loop()

    def handler(*args: object) -> None:
        # libvirt's event thread: hand over, nothing else. args[1] is the pool or network.
        name_of = getattr(args[1], "name", None) if len(args) > 1 else None
        name = ""
        with contextlib.suppress(libvirt.libvirtError):
            name = str(name_of()) if callable(name_of) else ""
        if not loop.is_closed():
            loop.call_soon_threadsafe(on_change, name)

    def register(conn: libvirt.virConnect) -> tuple[libvirt.virConnect, list[int]]:
        ids = []
        for event_id in _EVENTS[kind]:
            try:
                if kind is Kind.POOLS:
                    ids.append(conn.storagePoolEventRegisterAny(None, event_id, handler, None))
                else:
                    ids.append(conn.networkEventRegisterAny(None, event_id, handler, None))
            except libvirt.libvirtError as exc:
                _log.debug("%s: %s event %d unavailable: %s", host.uri, kind.value, event_id, exc)
        return conn, ids

    conn, ids = await host.call(
        register, f"Could not watch the {kind.value} of {host.display_name}"
    )
    return Watch(host, kind, conn, ids)
