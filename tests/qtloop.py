"""The one qasync loop of a test session, and the ``qloop`` fixture that drives it.

UI and integration tests share it (each conftest imports :func:`qloop`); the session closes
it once at the end with :func:`close_loop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import qasync
from PySide6.QtWidgets import QApplication

T = TypeVar("T")


class _Shared:
    """Holds the session's loop (created on first use)."""

    loop: qasync.QEventLoop | None = None


@pytest.fixture
def qloop(qapp: QApplication) -> Callable[[Awaitable[T]], T]:
    """Run coroutines on the qasync loop (Qt events are processed meanwhile)."""
    if _Shared.loop is None:
        _Shared.loop = qasync.QEventLoop(qapp)
    loop = _Shared.loop
    asyncio.set_event_loop(loop)

    def run(awaitable: Awaitable[T], timeout: float = 30.0) -> T:
        result: T = loop.run_until_complete(asyncio.wait_for(awaitable, timeout))
        return result

    return run


def close_loop() -> None:
    """Close the shared loop (and its executor's QThreads) before Qt goes away.

    ``asyncio.to_thread`` on that loop (the wizard does it) starts QThreads; one still running
    when the interpreter exits makes Qt abort the process ("QThread: Destroyed while thread
    is still running"), after every test passed.
    """
    loop = _Shared.loop
    if loop is not None and not loop.is_closed():
        loop.close()
    _Shared.loop = None
