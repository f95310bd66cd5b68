"""The event-loop design, in one place.

Facts measured on this project's machines (DESIGN.md, "Threading"):

* libvirt-python calls block and release the GIL, so they can run on worker threads.
* ``libvirtaio`` on the qasync loop is only safe while every libvirt call runs on the Qt
  thread; with calls on workers it loses events (test driver) or segfaults (real libvirtd).
* libvirt's *default* event implementation is thread-safe.

So vmgui uses exactly this design:

1. :func:`ensure_event_loop` registers libvirt's default event implementation once per
   process, before any connection is opened, and runs ``virEventRunDefaultImpl`` forever on
   one daemon thread ("libvirt-events"). libvirt invokes every event and close callback there.
2. Every blocking libvirt call runs on its connection's :class:`Worker` — one daemon thread per
   connection, which serialises that connection's calls and never blocks the asyncio (Qt) loop
   or another host. Calls known to take seconds on some hosts (capabilities: 8 s measured when
   libvirt re-probes qemu) go to the connection's second, "slow" worker so that they never
   hold up listing, event refreshes or actions (libvirt connections are thread-safe).
3. Callbacks hand over to the asyncio loop with ``loop.call_soon_threadsafe``; nothing else
   crosses threads. Consumers (the UI) only ever run on the asyncio loop's thread.
4. libvirt >= 6 implements its default loop on GLib's *global default* main context. Nothing
   else in the process may iterate that context: Qt must not use its GLib event dispatcher
   (``QT_NO_GLIB=1``, set by :mod:`vmgui.ui` before the QApplication exists). With both
   iterating it, Qt sources run on the libvirt thread and the process segfaults (measured).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import libvirt

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

_lock = threading.Lock()
_event_thread: threading.Thread | None = None


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation and start its thread (idempotent).

    Must run before the first ``libvirt.open`` of the process; every connection opener in
    vmgui calls it first.
    """
    global _event_thread
    with _lock:
        if _event_thread is not None:
            return
        libvirt.virEventRegisterDefaultImpl()
        # libvirt prints every error to stderr by default; vmgui reports them itself.
        libvirt.registerErrorHandler(_log_libvirt_error, None)
        thread = threading.Thread(target=_run_events, name="libvirt-events", daemon=True)
        thread.start()
        _event_thread = thread


def _log_libvirt_error(_ctx: object, error: tuple[object, ...]) -> None:
    _log.debug("libvirt: %s", error[2] if len(error) > 2 else error)


def _run_events() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:  # pragma: no cover - libvirt logs the cause itself
            _log.exception("libvirt event loop iteration failed")


class WorkerStoppedError(RuntimeError):
    """Raised for calls submitted to, or still queued on, a stopped worker."""


class Worker:
    """One daemon thread that runs blocking calls in order (one connection's, or a download).

    A daemon thread (not a ``ThreadPoolExecutor``) so that a call stuck on an unreachable
    host never keeps the process from exiting; a stopped worker's thread is abandoned and a
    fresh worker takes over.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None] = (
            queue.SimpleQueue()
        )
        self._stopped = False
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, fn: Callable[[], _T]) -> Future[_T]:
        """Queue ``fn`` to run on the worker thread.

        Raises:
            WorkerStoppedError: if the worker was stopped.
        """
        if self._stopped:
            raise WorkerStoppedError("the connection was closed")
        future: Future[_T] = Future()
        self._queue.put((fn, future))  # type: ignore[arg-type]
        return future

    async def run(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the worker and await its result on the current asyncio loop."""
        return await asyncio.wrap_future(self.submit(fn))

    def stop(self) -> None:
        """Refuse new calls and let the thread end after the call it is running."""
        self._stopped = True
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._drain()
                return
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting side
                future.set_exception(exc)
            else:
                future.set_result(result)

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item[1].set_running_or_notify_cancel():
                item[1].set_exception(WorkerStoppedError("the connection was closed"))


class TaskSet:
    """The background tasks an object owns: referenced while they run, cancelled on close.

    asyncio keeps only weak references to tasks; a task nobody holds can vanish mid-run.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` as a task on the running loop and hold it until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_all(self) -> None:
        """Cancel every task still running."""
        for task in list(self._tasks):
            task.cancel()
