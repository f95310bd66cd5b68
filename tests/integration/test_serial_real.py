"""The serial console engine on the real daemon: one tiny guest with a shell on ttyS0.

The guest (``serialguest.py``) boots once for the module (~1.5 s under TCG); the tests run in
file order on it: the boot marker and a command's output through the console, a second open
refused, a forced take-over, and last the guest destroyed while its console is open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import libvirt
import pytest

from tests.conftest import wait_until
from tests.integration.helpers import Run, connect
from tests.integration.lab import GUEST_TIMEOUT, Lab
from tests.integration.serialguest import SERIAL_READY, SerialGuests
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestAction, GuestInfo
from vmgui.core.terminal import TerminalModel
from vmgui.core.terminalkeys import Key
from vmgui.virt.connection import HostConnection
from vmgui.virt.guests import run_action
from vmgui.virt.serial import GUEST_STOPPED, TAKEN_OVER, ConsoleBusyError, SerialConsole

pytestmark = pytest.mark.integration


class Screen:
    """A SerialObserver that keeps everything and paints it on a TerminalModel (as a widget)."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.reasons: list[tuple[float, str]] = []
        self.terminal = TerminalModel(80, 24, scrollback=500)
        self.console: SerialConsole | None = None

    def data(self, chunk: bytes) -> None:
        """Keep the bytes; send the terminal's replies (busybox asks for the cursor position)."""
        self.received += chunk
        replies = self.terminal.feed(chunk)
        if replies and self.console is not None and self.console.is_open:
            self.console.send(replies)

    def closed(self, reason: str) -> None:
        """Note when and why."""
        self.reasons.append((time.monotonic(), reason))

    def output(self) -> str:
        """Everything received, decoded."""
        return self.received.decode("utf-8", "replace")

    def all_text(self) -> str:
        """The terminal's scrollback and screen as text."""
        return "\n".join([*self.terminal.scrollback_text(), self.terminal.text()])


@dataclass
class Booted:
    """The running guest and the console opened at its start."""

    host: HostConnection
    guest: GuestInfo
    console: SerialConsole
    screen: Screen


async def _open(host: HostConnection, guest: GuestInfo, *, force: bool = False) -> Screen:
    screen = Screen()
    console = SerialConsole(host, guest, screen)
    await console.open(force=force)
    screen.console = console
    return screen


def _console(screen: Screen) -> SerialConsole:
    assert screen.console is not None
    return screen.console


async def _run_line(screen: Screen, word: str, timeout: float = 10.0) -> float:
    """Type ``echo WORD-$((6*7))`` + Enter; await ``WORD-42``; return the seconds it took."""
    mark = len(screen.received)
    started = time.monotonic()
    _console(screen).send(f"echo {word}-$((6*7))".encode() + screen.terminal.keys_for(Key.ENTER))
    expected = f"\n{word}-42\r"  # the line the shell prints, not the echoed command
    await wait_until(lambda: expected in screen.received[mark:].decode(errors="replace"), timeout)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def serial_guests(lab: Lab) -> Iterator[SerialGuests]:
    """The module's kernel, initramfs and guests (removed at the end, also after failures)."""
    guests = SerialGuests(lab.conn, lab.image)
    yield guests
    guests.close()


@pytest.fixture(scope="module")
def host(lab: Lab, mrun: Run) -> Iterator[HostConnection]:
    """vmgui's connection to the lab's host."""
    the_host, _rec = connect(mrun, lab.uri)
    yield the_host
    mrun(the_host.close())


def _info(mrun: Run, host: HostConnection, dom: libvirt.virDomain) -> GuestInfo:
    info = mrun(host.refresh_guest(dom.UUIDString()))
    assert isinstance(info, GuestInfo)
    return info


@pytest.fixture(scope="module")
def booted(serial_guests: SerialGuests, host: HostConnection, mrun: Run) -> Iterator[Booted]:
    """The pty guest, started with its console opened at once (so it sees the whole boot)."""
    dom = serial_guests.define("pty")
    dom.create()
    guest = _info(mrun, host, dom)
    screen = mrun(_open(host, guest))

    async def ready() -> None:
        try:
            await wait_until(lambda: SERIAL_READY in screen.output(), GUEST_TIMEOUT)
        except AssertionError as exc:
            raise AssertionError(f"no {SERIAL_READY}; console:\n{screen.output()[-2000:]}") from exc

    mrun(ready())
    yield Booted(host, guest, _console(screen), screen)
    mrun(_console(screen).close())


def test_open_errors_name_the_guest(
    serial_guests: SerialGuests, host: HostConnection, mrun: Run
) -> None:
    """Not running, no serial port, a file-backed serial port: one-line errors."""
    bare = serial_guests.define("none")
    to_file = serial_guests.define("file")
    bare_info = _info(mrun, host, bare)
    with pytest.raises(VmguiError) as stopped:
        mrun(_open(host, bare_info))
    assert stopped.value.summary == f"{bare_info.name} is not running"
    for dom in (bare, to_file):
        dom.create()
        info = _info(mrun, host, dom)
        try:
            with pytest.raises(VmguiError) as missing:
                mrun(_open(host, info))
        finally:
            dom.destroy()
        assert missing.value.summary == f"{info.name} has no serial console", missing.value
        assert not isinstance(missing.value, ConsoleBusyError)
    assert "not using a PTY" in missing.value.details


def test_reads_the_boot_marker(booted: Booted) -> None:
    """What the guest printed at boot came through the console and onto the terminal."""
    assert booted.console.is_open
    assert SERIAL_READY in booted.screen.output()
    assert SERIAL_READY in booted.screen.all_text()


def test_line_round_trip(booted: Booted, mrun: Run) -> None:
    """A typed command's output comes back; the round trip is printed."""
    times = [mrun(_run_line(booted.screen, f"hello{n}")) for n in range(5)]
    mrun(_run_line(booted.screen, "hello"))
    assert "hello-42" in booted.screen.terminal.text().splitlines()
    median, worst = sorted(times)[2] * 1000, max(times) * 1000
    print(f"\nserial round trip of a line: median {median:.1f} ms, max {worst:.1f} ms")


def test_second_open_without_force_is_refused(booted: Booted, mrun: Run) -> None:
    """The other client's error, naming the guest; the first console keeps working."""
    with pytest.raises(ConsoleBusyError) as busy:
        mrun(_open(booted.host, booted.guest))
    assert busy.value.summary == f"another client holds the serial console of {booted.guest.name}"
    assert "Active console session exists" in busy.value.details
    assert booted.console.is_open
    mrun(_run_line(booted.screen, "still"))


def test_force_takes_over(booted: Booted, mrun: Run) -> None:
    """With force the first console is told it was taken over; the new one works and closes."""
    second = mrun(_open(booted.host, booted.guest, force=True))

    async def first_closed() -> None:
        await wait_until(lambda: bool(booted.screen.reasons), 10.0)

    mrun(first_closed())
    assert [reason for _t, reason in booted.screen.reasons] == [TAKEN_OVER]
    assert not booted.console.is_open
    with pytest.raises(VmguiError):
        booted.console.send(b"x")
    mrun(_run_line(second, "taken"))  # qemu's pty passes output again after ~1 s
    mrun(_console(second).close())
    mrun(_console(second).close())  # idempotent
    assert not second.reasons  # closing it ourselves is not an "end"
    third = mrun(_open(booted.host, booted.guest))  # closed for real: no force needed
    mrun(_run_line(third, "again"))
    mrun(_console(third).close())


def test_destroy_while_open(
    booted: Booted, mrun: Run, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Destroying the guest ends its console with "guest stopped" within a second, quietly."""
    caplog.set_level(logging.DEBUG)
    screen = mrun(_open(booted.host, booted.guest, force=True))  # also when run on its own
    mrun(_run_line(screen, "before"))

    async def destroy() -> tuple[float, float]:
        started = time.monotonic()
        await run_action(booted.host, booted.guest, GuestAction.FORCE_OFF)
        destroyed = time.monotonic()
        await wait_until(lambda: bool(screen.reasons), 1.0)
        await asyncio.sleep(0.2)  # anything else that would follow
        return started, destroyed

    started, destroyed = mrun(destroy())
    assert [reason for _t, reason in screen.reasons] == [GUEST_STOPPED]
    closed = screen.reasons[0][0]
    with capfd.disabled():
        print(
            f"\nconsole closed {(closed - started) * 1000:.0f} ms after the destroy call "
            f"(which took {(destroyed - started) * 1000:.0f} ms)"
        )
    assert closed - started < 1.0  # libvirt's destroy itself waits for qemu's clean-up
    console = _console(screen)
    assert not console.is_open
    with pytest.raises(VmguiError, match="is not open"):
        console.send(b"echo late\r")
    mrun(console.close())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in capfd.readouterr().err
