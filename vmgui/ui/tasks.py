"""One owner for the UI's background tasks: keeps references, reports failures, cancels on close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Signal

from vmgui.core.errors import VmguiError

_T = TypeVar("_T")
_log = logging.getLogger(__name__)


class TaskOwner(QObject):
    """Runs coroutines as tasks it keeps until they end.

    A task that fails with a :class:`VmguiError` is passed to ``on_error``; any other exception
    is logged with its traceback and passed on as an "Unexpected internal error". Cancelled
    tasks are quiet. ``on_error=None`` only logs (for owners with nowhere to show errors).

    Signals:
        idle(): the last running task ended.
    """

    idle = Signal()

    def __init__(
        self,
        on_error: Callable[[VmguiError], None] | None,
        *,
        name: str = "task",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._on_error = on_error
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` as a task owned here."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    @property
    def running(self) -> int:
        """How many tasks are running."""
        return len(self._tasks)

    def cancel_all(self) -> None:
        """Cancel every running task."""
        for task in list(self._tasks):
            task.cancel()

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        try:
            self._report(task)
        finally:
            # A task cancelled as its owner's widget is deleted ends after the QObject is gone.
            if not self._tasks and shiboken6.isValid(self):
                self.idle.emit()

    def _report(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, VmguiError):
            _log.info("%s failed: %s", self._name, exc.summary)
            error = exc
        else:
            _log.error("unexpected failure in a %s", self._name, exc_info=exc)
            error = VmguiError(
                "Unexpected internal error", repr(exc), "Please report this with the log."
            )
        if self._on_error is not None:
            self._on_error(error)
