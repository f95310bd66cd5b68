"""Closing a host's libvirt connection safely once nothing uses it any more.

libvirt frees a connection on ``close()``; a call another thread is still making on it then
reads freed memory (seen as segfaults in the suite: a drop while the slow worker was inside
``getCapabilities``, and deregistering events beside such a call). So a connection is closed
only on a worker, after every worker that may use it has finished its current call, and never
waited for on the asyncio thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading

import libvirt

from vmgui.virt.events import Worker, WorkerStoppedError


class CloseWhenIdle:
    """Closes a dropped connection once every worker that may use it has finished its call.

    Each worker runs a release after whatever it is running now; the last release forgets the
    callbacks and closes. Events that arrive meanwhile belong to an old generation and are
    dropped by the handlers.
    """

    def __init__(
        self, conn: libvirt.virConnect, event_ids: list[int], workers: tuple[Worker, ...]
    ) -> None:
        self._conn = conn
        self._event_ids = event_ids
        self._left = len(workers)
        self._lock = threading.Lock()
        for worker in workers:
            try:
                worker.submit(self._release)
            except WorkerStoppedError:
                self._release()

    def _release(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            close_quietly(self._conn, self._event_ids)


def close_late(future: concurrent.futures.Future[tuple[libvirt.virConnect, list[int]]]) -> None:
    """Close what an abandoned open returns when it finally ends (nobody wants it)."""
    if not future.cancelled() and future.exception() is None:
        close_quietly(*future.result())


def close_quietly(conn: libvirt.virConnect, event_ids: list[int]) -> None:
    """Deregister ``event_ids`` and the close callback, then close; errors are ignored."""
    for event_id in event_ids:
        with contextlib.suppress(libvirt.libvirtError):
            conn.domainEventDeregisterAny(event_id)
    with contextlib.suppress(libvirt.libvirtError):
        conn.unregisterCloseCallback()
    with contextlib.suppress(libvirt.libvirtError):
        conn.close()
