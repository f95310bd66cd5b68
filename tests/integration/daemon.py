"""Stop and start the real libvirtd under the tests (it runs as ``libvirtd -d``, no systemd).

The daemon is restarted with the command line and environment it was started with, read from
``/proc`` before stopping it, so a test leaves the machine as it found it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SOCKET = Path("/run/libvirt/libvirt-sock")


@dataclass(frozen=True, slots=True)
class DaemonCommand:
    """How to start libvirtd again."""

    argv: tuple[str, ...] = ("libvirtd", "-d")
    env: dict[str, str] = field(default_factory=lambda: {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def libvirtd_pid() -> int | None:
    """The pid of the machine's own libvirtd (``pgrep -x libvirtd``), ignoring zombies and the
    daemons of other mount namespaces (the second host of tests/services runs one: restarting
    it instead of the main daemon would leave the main daemon running under the test)."""
    found = subprocess.run(
        ["pgrep", "-x", "libvirtd"], capture_output=True, text=True, check=False
    ).stdout.split()
    ours = _mount_namespace("self")
    for text in found:
        pid = int(text)
        if _alive(pid) and _mount_namespace(str(pid)) == ours:
            return pid
    return None


def _mount_namespace(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def command_of(pid: int) -> DaemonCommand:
    """The command line and environment of the running daemon."""
    argv = tuple(a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") if a)
    env = {}
    for item in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0"):
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    return DaemonCommand(argv or DaemonCommand().argv, env)


def stop_libvirtd(remember: list[DaemonCommand], timeout: float = 60.0) -> DaemonCommand:
    """SIGTERM libvirtd and wait until it is gone; return how to start it again.

    Args:
        remember: gets the command before the daemon is stopped (for a finalizer).
        timeout: seconds to wait for the daemon to exit.

    Raises:
        AssertionError: libvirtd is not running, or did not exit in time.
    """
    pid = libvirtd_pid()
    assert pid is not None, "libvirtd is not running (pgrep -x libvirtd found nothing)"
    command = command_of(pid)
    remember.append(command)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"libvirtd (pid {pid}) did not exit within {timeout} s of SIGTERM")
        time.sleep(0.05)
    return command


def start_libvirtd(command: DaemonCommand, timeout: float = 60.0) -> None:
    """Start libvirtd (``libvirtd -d`` returns once the daemon runs) and wait for its socket.

    Raises:
        AssertionError: it did not start, or its socket did not appear in time.
    """
    # A file, not a pipe: the daemon must not keep a pipe of ours open.
    with tempfile.TemporaryFile("w+") as errors:
        result = subprocess.run(
            list(command.argv),
            env=command.env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            timeout=timeout,
            check=False,
        )
        errors.seek(0)
        message = errors.read().strip()
    assert result.returncode == 0, f"{' '.join(command.argv)} failed: {message}"
    deadline = time.monotonic() + timeout
    while not (SOCKET.exists() and libvirtd_pid() is not None):
        if time.monotonic() > deadline:
            raise AssertionError(f"libvirtd did not create {SOCKET} within {timeout} s")
        time.sleep(0.05)


def ensure_libvirtd(command: DaemonCommand) -> None:
    """Start libvirtd unless it runs (a finalizer: the machine keeps its daemon)."""
    if libvirtd_pid() is None:
        start_libvirtd(command)
