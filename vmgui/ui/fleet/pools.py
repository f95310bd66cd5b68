"""Free space in every connected host's storage pools, kept current for the fleet overview.

:class:`PoolSpaceTracker` reads a host's pools on its worker (:func:`~vmgui.virt.pools.
fetch_pools`) when it connects, every :data:`REFRESH_MS` while someone looks
(:meth:`PoolSpaceTracker.set_active`), and shortly after guests are defined or undefined on
it (their disks are made or deleted). Nothing here calls libvirt on the Qt thread.

It also follows each connected host's pool events (:mod:`vmgui.virt.resourceevents`, which
shares libvirt's one registration per connection with the Storage windows): a pool made,
started, stopped or refreshed elsewhere shows at once. Volumes have no events at all: made or
deleted ones show with the next read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from shiboken6 import isValid

from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, GuestInfo, HostStatus
from vmgui.core.pools import StoragePool
from vmgui.ui.controller import HostController
from vmgui.ui.shell import Shell
from vmgui.virt.pools import fetch_pools
from vmgui.virt.resourceevents import Kind, Watch, watch

_log = logging.getLogger(__name__)

#: How often (ms) the pools are re-read, while the overview is in view.
REFRESH_MS = 60_000
#: How long (ms) after a guest is defined or undefined its host's pools are re-read (one read
#: per burst: a batch defines many).
GUESTS_DELAY_MS = 1000


@dataclass(frozen=True, slots=True)
class PoolSpace:
    """What a host's active pools have free.

    Attributes:
        free: bytes available, summed over the active pools.
        pools: the active pools, by name.
    """

    free: int
    pools: tuple[StoragePool, ...]

    @classmethod
    def of(cls, pools: list[StoragePool]) -> PoolSpace:
        """The space of the active ones of ``pools``."""
        active = tuple(p for p in pools if p.active)
        return cls(sum(p.available for p in active), active)


class PoolSpaceTracker(QObject):
    """Each connected host's :class:`PoolSpace`, re-read every minute and after guests come
    or go.

    Signals:
        changed(str): a host's pool space (or its failure to read) is new, or gone (URI).

    Args:
        controller: the hosts.
        shell: runs the reads (its tasks end when the window closes).
        refresh_ms: the re-read period while active.
    """

    changed = Signal(str)

    def __init__(
        self,
        controller: HostController,
        shell: Shell,
        *,
        refresh_ms: int = REFRESH_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._shell = shell
        self._space: dict[str, PoolSpace] = {}
        self._errors: dict[str, str] = {}
        #: Per connected host: bumped on every connect, so late answers are ignored.
        self._generation: dict[str, int] = {}
        self._guests: dict[str, set[str]] = {}
        self._reading: set[str] = set()
        self._again: set[str] = set()
        self._burst: set[str] = set()
        self._watches: dict[str, Watch] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._guests_timer = QTimer(self)
        self._guests_timer.setSingleShot(True)
        self._guests_timer.setInterval(GUESTS_DELAY_MS)
        self._guests_timer.timeout.connect(self._on_guests_timer_timeout)
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.hostRemoved.connect(self._on_controller_host_removed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)
        for uri in controller.uris():  # hosts connected before we were made
            host = controller.host(uri)
            if host.state is ConnectionState.CONNECTED:
                self._follow(uri, set(host.guests))

    def space(self, uri: str) -> PoolSpace | None:
        """The host's pool space as last read (None: not read, or not connected)."""
        return self._space.get(uri)

    def error(self, uri: str) -> str:
        """Why the host's pools could not be read the last time ("" if they could)."""
        return self._errors.get(uri, "")

    def set_active(self, active: bool) -> None:
        """Re-read every minute (and now, if ``active`` is new), or only after guest news."""
        if active == self._timer.isActive():
            return
        if active:
            self._timer.start()
            self._on_timer_timeout()
        else:
            self._timer.stop()

    def refresh(self, uri: str) -> None:
        """Re-read a connected host's pools (once more after a read under way)."""
        if uri not in self._generation:
            return
        if uri in self._reading:
            self._again.add(uri)
            return
        self._reading.add(uri)
        self._shell.spawn(self._read(uri, self._generation[uri]))

    # -- work -------------------------------------------------------------------------------

    def _follow(self, uri: str, guests: set[str]) -> None:
        self._generation[uri] = self._generation.get(uri, 0) + 1
        self._guests[uri] = guests
        self._unwatch(uri)
        self.refresh(uri)
        self._shell.spawn(self._watch(uri, self._generation[uri]))

    async def _watch(self, uri: str, generation: int) -> None:
        def on_change(_name: str) -> None:
            if isValid(self):  # (the tracker may be gone before its connection)
                self._guests_changed(uri)  # one re-read per burst of events

        try:
            made = await watch(self._controller.host(uri), Kind.POOLS, on_change)
        except (VmguiError, KeyError) as exc:
            _log.info("%s: pool events not followed: %s", uri, exc)
            return
        if self._generation.get(uri) == generation:
            self._watches[uri] = made
        else:
            await made.close()  # reconnected or removed meanwhile

    def _unwatch(self, uri: str) -> None:
        old = self._watches.pop(uri, None)
        if old is not None:
            self._shell.spawn(old.close())

    def _forget(self, uri: str) -> None:
        self._unwatch(uri)
        self._generation.pop(uri, None)
        self._guests.pop(uri, None)
        self._again.discard(uri)
        self._burst.discard(uri)
        space, error = self._space.pop(uri, None), self._errors.pop(uri, None)
        if space is not None or error is not None:
            self.changed.emit(uri)

    async def _read(self, uri: str, generation: int) -> None:
        try:
            await self._read_once(uri, generation)
        finally:
            self._reading.discard(uri)
        if uri in self._again:
            self._again.discard(uri)
            self.refresh(uri)

    async def _read_once(self, uri: str, generation: int) -> None:
        if self._generation.get(uri) != generation:
            return  # dropped (or removed) before the read began
        try:
            space, error = PoolSpace.of(await fetch_pools(self._controller.host(uri))), ""
        except VmguiError as exc:
            space, error = None, str(exc)
            _log.info("%s: %s", uri, error)
        if self._generation.get(uri) != generation:
            return  # an answer from a connection that is gone
        if space is None:
            self._space.pop(uri, None)
            self._errors[uri] = error
        else:
            self._space[uri] = space
            self._errors.pop(uri, None)
        self.changed.emit(uri)

    def _guests_changed(self, uri: str) -> None:
        self._burst.add(uri)
        self._guests_timer.start()

    # -- slots ------------------------------------------------------------------------------

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        if status.state is ConnectionState.CONNECTED:
            self._follow(status.uri, set(self._controller.host(status.uri).guests))
        elif status.uri in self._generation:
            self._forget(status.uri)

    def _on_controller_host_removed(self, uri: str) -> None:
        self._forget(uri)

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        known = self._guests.get(uri)
        if known is not None:
            self._guests[uri] = {g.uuid for g in guests}
            if known != self._guests[uri]:
                self._guests_changed(uri)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        known = self._guests.get(guest.host_uri)
        if known is not None and guest.uuid not in known:
            known.add(guest.uuid)
            self._guests_changed(guest.host_uri)

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        known = self._guests.get(uri)
        if known is not None and uuid in known:
            known.discard(uuid)
            self._guests_changed(uri)

    def _on_guests_timer_timeout(self) -> None:
        burst, self._burst = self._burst, set()
        for uri in burst:
            self.refresh(uri)

    def _on_timer_timeout(self) -> None:
        for uri in list(self._generation):
            self.refresh(uri)
