"""Integration set-up: the real libvirtd (qemu:///system), a lab pool and tiny real guests.

Without a reachable libvirtd or the tiny guest image, every integration test fails with a
message saying what is missing, unless ``VMGUI_SKIP_INTEGRATION=1`` (then they are skipped).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.integration.helpers import OpenHost, Recorder, Run, connect
from tests.integration.lab import Lab, LabUnavailableError
from tests.qtloop import close_loop
from tests.qtloop import qloop as qloop  # the one qasync loop of the session
from vmgui.virt.connection import HostConnection

T = TypeVar("T")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The pool, base image volume and guests of this session (removed at the end)."""
    try:
        the_lab = Lab.open()
    except LabUnavailableError as exc:
        message = f"integration tests need the real daemon and the tiny guest: {exc}"
        if os.environ.get("VMGUI_SKIP_INTEGRATION") == "1":
            pytest.skip(message)
        pytest.fail(message + " (set VMGUI_SKIP_INTEGRATION=1 to skip them)", pytrace=False)
    yield the_lab
    the_lab.close()


@pytest.fixture(scope="session", autouse=True)
def _close_the_qasync_loop() -> Iterator[None]:
    """Close the session's qasync loop at the end (see :func:`tests.qtloop.close_loop`)."""
    yield
    close_loop()


@pytest.fixture(autouse=True)
def _lab_ready(lab: Lab) -> None:
    """Every integration test needs the lab (so each fails or skips with its reason)."""


@pytest.fixture(scope="module")
def mrun() -> Iterator[Callable[[Awaitable[T]], T]]:
    """Run coroutines on one asyncio loop per module (no Qt), so connections can be shared."""
    loop = asyncio.new_event_loop()

    def run(awaitable: Awaitable[T], timeout: float = 120.0) -> T:
        return loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    yield run
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture
def open_host(lab: Lab, mrun: Run) -> Iterator[OpenHost]:
    """Connect HostConnections to the lab's host (each with a Recorder); closed after the test."""
    opened: list[HostConnection] = []

    def open_(**kwargs: Any) -> tuple[HostConnection, Recorder]:
        host, rec = connect(mrun, lab.uri, **kwargs)
        opened.append(host)
        return host, rec

    yield open_
    for host in opened:
        mrun(host.close())
