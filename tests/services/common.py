"""Small helpers the test services share: required binaries, pids, waiting, clean-up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")


class Stoppable:
    """A service used as a context manager: leaving the ``with`` block ends it (:meth:`stop`)."""

    def stop(self) -> None:
        """End the service (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class ServiceUnavailableError(RuntimeError):
    """A test service cannot start here (the message names the missing package or binary)."""


def require(binary: str, package: str) -> str:
    """The absolute path of ``binary``, or raise naming the Debian package that provides it.

    Args:
        binary: a program name (searched in PATH, then /usr/sbin and /sbin) or an absolute path.
        package: the Debian package to install when it is missing.

    Raises:
        ServiceUnavailableError: the binary is not installed.
    """
    if os.path.isabs(binary):
        if os.access(binary, os.X_OK):
            return binary
        found = None
    else:
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if found is None:
        raise ServiceUnavailableError(
            f"{binary} is missing: install the Debian package {package} (apt-get install {package})"
        )
    return found


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None when the file is missing or unreadable."""
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def end_pids(pids: Iterable[int], grace: float = 5.0) -> None:
    """SIGTERM ``pids``, wait up to ``grace`` seconds, SIGKILL what is left and wait for it."""
    alive = [pid for pid in pids if pid > 1 and pid != os.getpid() and pid_alive(pid)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if wait_for(lambda: not any(pid_alive(pid) for pid in alive), grace):
        return
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(pid_alive(pid) for pid in alive), 5.0)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children.get(child, [])
    return sorted(found)


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def remove_tree(path: Path) -> None:
    """Remove a directory tree (or file) if it exists; raise if it is still there afterwards."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if path.exists():
        shutil.rmtree(path)  # raises with the reason


class LoopThread:
    """An asyncio loop running on its own daemon thread (for in-process relays)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel every task, stop the loop and join the thread (idempotent)."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.run(_cancel_all(), timeout=5.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
