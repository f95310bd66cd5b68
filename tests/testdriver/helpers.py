"""Fakes shared by the test-driver, UI and integration tests (no test functions here)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import libvirt

from vmgui.core.model import GuestInfo, GuestState, HostInfo, HostStatus
from vmgui.virt.connection import HostConnection
from vmgui.virt.storage import (
    UploadProgress,
    call_keeping,
    create_volume_blocking,
    delete_volume_blocking,
)

#: The qloop fixture: runs an awaitable on the test loop.
Run = Callable[..., Any]


class Recorder:
    """A HostObserver that keeps everything it is told."""

    def __init__(self) -> None:
        self.statuses: list[HostStatus] = []
        self.infos: list[HostInfo] = []
        self.listed: list[list[GuestInfo]] = []
        self.changed: list[GuestInfo] = []
        self.removed: list[str] = []
        self.threads: set[str] = set()

    def _note(self) -> None:
        self.threads.add(threading.current_thread().name)

    def host_status_changed(self, status: HostStatus) -> None:
        self._note()
        self.statuses.append(status)

    def host_info_changed(self, info: HostInfo) -> None:
        self._note()
        self.infos.append(info)

    def guests_listed(self, uri: str, guests: list[GuestInfo]) -> None:
        self._note()
        self.listed.append(guests)

    def guest_changed(self, guest: GuestInfo) -> None:
        self._note()
        self.changed.append(guest)

    def guest_removed(self, uri: str, uuid: str) -> None:
        self._note()
        self.removed.append(uuid)

    def last_state(self, uuid: str) -> GuestState | None:
        for guest in reversed(self.changed):
            if guest.uuid == uuid:
                return guest.state
        return None


class CreateOnlyUploader:
    """Creates the volume (the test driver cannot stream); records what it was given.

    Like every :class:`~vmgui.virt.storage.Uploader`, it deletes the volume again when the
    upload is cancelled after the volume was made.
    """

    def __init__(self) -> None:
        self.uploads: list[tuple[str, int]] = []

    async def upload(
        self,
        host: HostConnection,
        pool: str,
        name: str,
        source: Path | bytes,
        fmt: str,
        progress: UploadProgress | None = None,
    ) -> str:
        size = source.stat().st_size if isinstance(source, Path) else len(source)
        self.uploads.append((name, size))
        created: list[str] = []
        try:
            path = await call_keeping(
                host,
                lambda c: create_volume_blocking(c, pool, name, size, "raw"),
                "create",
                created.append,
            )
        except BaseException:
            for made in created:
                await host.call(partial(delete_volume_blocking, path=made), "delete")
            raise
        if progress is not None:
            progress(size, size)
        return path

    async def is_complete(self, host: HostConnection, path: str) -> bool:
        return True


class Droppable:
    """A connection whose close callback the test fires, as libvirt does when a host drops."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self._conn = conn
        self._close: tuple[Callable[..., None], Any] | None = None
        self.dead = False

    def registerCloseCallback(self, callback: Callable[..., None], opaque: Any) -> int:
        self._close = (callback, opaque)
        return 0

    def unregisterCloseCallback(self) -> int:
        self._close = None
        return 0

    def isAlive(self) -> int:
        return 0 if self.dead else int(self._conn.isAlive())

    def drop(self, reason: int) -> None:
        """Call the close callback from another thread (libvirt's event thread does)."""
        assert self._close is not None, "HostConnection registered no close callback"
        callback, opaque = self._close
        thread = threading.Thread(target=callback, args=(self, reason, opaque))
        thread.start()
        thread.join()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
