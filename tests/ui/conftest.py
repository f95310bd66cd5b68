"""UI test set-up: one qasync loop for the session, driven by run_until_complete."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtWidgets import QApplication

T = TypeVar("T")

_loop: Any = None


@pytest.fixture
def qloop(qapp: QApplication) -> Callable[[Awaitable[T]], T]:
    """Run coroutines on the qasync loop (Qt events are processed meanwhile)."""
    global _loop
    if _loop is None:
        _loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(_loop)

    def run(awaitable: Awaitable[T], timeout: float = 30.0) -> T:
        result: T = _loop.run_until_complete(asyncio.wait_for(awaitable, timeout))
        return result

    return run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the shared qasync loop (and its executor threads) before Qt goes away."""
    global _loop
    if _loop is not None:
        _loop.close()
        _loop = None
