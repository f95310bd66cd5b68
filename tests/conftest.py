"""Shared test set-up: headless Qt, private XDG dirs, test-driver fixtures, async helpers."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

# Before anything imports Qt or reads XDG paths. Qt must not use GLib's dispatcher (see
# vmgui.app.use_unix_event_dispatcher, which app.main calls).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_NO_GLIB"] = "1"
_XDG = Path(tempfile.mkdtemp(prefix="vmgui-tests-xdg-"))
for _name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_XDG / _name.lower())

FIXTURES = Path(__file__).resolve().parent / "fixtures"

T = TypeVar("T")


def fixture_uri(name: str = "node50.xml") -> str:
    """The test-driver URI of a node fixture (each open gets its own private copy)."""
    return f"test://{FIXTURES / name}"


@pytest.fixture
def node50_uri() -> str:
    """A 60-guest test-driver host."""
    return fixture_uri("node50.xml")


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Await until ``predicate()`` holds, or fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


@pytest.fixture
def arun() -> Iterator[Callable[[Awaitable[T]], T]]:
    """Run a coroutine to completion on a fresh asyncio loop (virt tests, no Qt)."""
    loop = asyncio.new_event_loop()

    def run(awaitable: Awaitable[T], timeout: float = 60.0) -> T:
        return loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    yield run
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
