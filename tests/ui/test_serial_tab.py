"""The console window's Serial tab on the 60-guest test-driver host, with a fake stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.consolefakes import FakeOpener, FakeVnc
from tests.ui.helpers import FakeDialogs, Run, WindowFixture, names_in
from tests.ui.serialfakes import FakeSerial, FakeSerialOpener
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestAction, GuestInfo, GuestState
from vmgui.ui.console import ConsoleManager, ConsoleWindow, Phase, SerialButton, SerialPhase
from vmgui.ui.main.window import MainWindow
from vmgui.virt.connection import HostConnection
from vmgui.virt.serial import GUEST_STOPPED, TAKEN_OVER, ConsoleBusyError
from vmgui.virt.vnc import VncObserver

Serials = tuple[MainWindow, ConsoleManager, FakeSerialOpener, FakeDialogs, Run]


@pytest.fixture
def serials(window: WindowFixture) -> Iterator[Serials]:
    win, dialogs, run = window
    opener = FakeSerialOpener()
    manager = ConsoleManager(win.controller, dialogs, opener=FakeOpener(), serial_opener=opener)
    yield win, manager, opener, dialogs, run
    manager.close_all()
    run(wait_until(lambda: not manager.tasks.running))


def guest(win: MainWindow, state: GuestState, index: int = 0) -> GuestInfo:
    name = names_in(win, state)[index]
    return next(g for g in win.guest_list.model.guests() if g.name == name)


def serial_phase(window: ConsoleWindow, expected: SerialPhase) -> bool:
    return window.serial.session.state.phase is expected


def open_serial(serials: Serials, state: GuestState = GuestState.RUNNING) -> ConsoleWindow:
    win, manager, _opener, _d, run = serials
    (window,) = manager.open([guest(win, state)])
    window.tabs.setCurrentWidget(window.serial)
    run(wait_until(lambda: window.session.state.phase is not Phase.CONNECTING))
    return window


def live(serials: Serials) -> tuple[ConsoleWindow, FakeSerial]:
    window = open_serial(serials)
    serials[4](wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    return window, serials[2].made[-1]


def test_the_stream_opens_with_the_window_and_shows_the_output(
    qtbot: QtBot, serials: Serials
) -> None:
    win, manager, opener, dialogs, run = serials
    running = guest(win, GuestState.RUNNING)
    (window,) = manager.open([running])
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Graphical", "Serial"]
    assert window.findChild(QWidget, "serialConsole") is window.terminal
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    (stream,) = opener.made
    assert stream.guest.key == running.key and stream.forced == [False]
    assert not window.serial.bar.isVisibleTo(window), "live: no message bar"
    stream.prints(b"\x1b[32mroot@guest\x1b[0m:~# ")
    assert window.terminal.model.text().splitlines()[0] == "root@guest:~#"
    window.tabs.setCurrentWidget(window.serial)
    window.activateWindow()
    qtbot.waitUntil(window.terminal.hasFocus)
    QTest.keyClicks(window.terminal, "uname")
    QTest.keyClick(window.terminal, Qt.Key.Key_Tab)
    QTest.keyClick(window.terminal, Qt.Key.Key_Return)
    assert bytes(stream.sent) == b"uname\t\r"
    assert window.terminal.hasFocus()
    stream.prints(b"\x1b[6n")
    assert bytes(stream.sent).endswith(b"\x1b[1;15R"), "the cursor report went back"
    window.tabs.setCurrentIndex(0)
    assert not window.terminal.hasFocus()
    assert not dialogs.errors
    window.close()
    run(wait_until(lambda: not manager.tasks.running))
    assert stream.closed_by_us, "closing the window closed the stream (awaited)"


def test_busy_console_offers_take_over(serials: Serials) -> None:
    _win, _m, opener, dialogs, run = serials
    opener.error = ConsoleBusyError("another client holds the serial console of x")
    window = open_serial(serials)
    run(wait_until(lambda: serial_phase(window, SerialPhase.BUSY)))
    tab = window.serial
    assert tab.bar.isVisibleTo(window)
    assert tab.message_label.text().startswith("Another client holds the serial console of ")
    assert tab.message_button.text() == "Take Over" and tab.message_button.isVisibleTo(window)
    opener.error = None
    tab.message_button.click()
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert [stream.forced for stream in opener.made] == [[False], [True]]
    assert not dialogs.errors, "said in the tab, no dialog"


def test_taken_over_offers_take_back(serials: Serials) -> None:
    _win, _m, opener, _d, run = serials
    window, stream = live(serials)
    stream.prints(b"last words")
    stream.ends(TAKEN_OVER)
    tab = window.serial
    assert serial_phase(window, SerialPhase.TAKEN_OVER)
    assert tab.message_label.text().startswith("Another client took over the serial console")
    assert tab.message_button.text() == SerialButton.TAKE_BACK.value == "Take Back"
    assert tab.terminal.model.text().startswith("last words"), "the output stays to read"
    assert len(opener.made) == 1, "no reopen by itself: the other client would lose it"
    tab.message_button.click()
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert opener.made[-1].forced == [True]


def test_guest_stopped_then_start_reopens(serials: Serials) -> None:
    _win, _m, opener, dialogs, run = serials
    window, stream = live(serials)
    name = window.session.guest.name if window.session.guest else ""
    stream.ends(GUEST_STOPPED)
    assert serial_phase(window, SerialPhase.STOPPED)
    assert window.serial.message_label.text() == f"{name} stopped."
    assert window.serial.session.last_reason == GUEST_STOPPED
    dialogs.confirm_answer = True
    window.console_actions.lifecycle[GuestAction.FORCE_OFF].trigger()
    run(wait_until(lambda: serial_phase(window, SerialPhase.STOPPED) and _shut_off(window)))
    assert window.serial.message_label.text() == f"{name} is shut off."
    assert window.serial.message_button.text() == "Start"
    window.serial.message_button.click()
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert len(opener.made) == 2 and opener.made[1].is_open, "reopened by itself"
    assert not dialogs.errors


def _shut_off(window: ConsoleWindow) -> bool:
    guest = window.session.guest
    return guest is not None and not guest.is_active


def test_shut_off_guest_offers_start_without_a_stream(serials: Serials) -> None:
    _win, _m, opener, _d, run = serials
    window = open_serial(serials, GuestState.SHUTOFF)
    assert serial_phase(window, SerialPhase.STOPPED)
    assert window.serial.message_button.text() == "Start"
    assert opener.made == []
    window.serial.message_button.click()
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert len(opener.made) == 1


def test_guest_without_a_serial_console_says_so(serials: Serials) -> None:
    _win, _m, opener, dialogs, run = serials
    opener.error = VmguiError(
        "x has no serial console",
        "cannot find character device <null>",
        "Give the guest a serial port of type pty (virsh edit: <serial type='pty'>).",
    )
    window = open_serial(serials)
    run(wait_until(lambda: serial_phase(window, SerialPhase.ERROR)))
    text = window.serial.message_label.text()
    assert text.startswith("x has no serial console: cannot find character device")
    assert "serial port of type pty" in text
    assert window.serial.message_button.text() == "Retry"
    opener.error = None
    window.serial.message_button.click()
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert not dialogs.errors


def test_host_reconnect_reopens_the_stream(serials: Serials) -> None:
    win, _m, opener, _d, run = serials
    window, stream = live(serials)
    stream.ends("the serial console failed: the connection broke")  # before the host's news
    assert serial_phase(window, SerialPhase.ERROR)
    run(win.controller.disconnect_host(fixture_uri()))
    run(wait_until(lambda: serial_phase(window, SerialPhase.WAITING)))
    run(win.controller.connect_host(fixture_uri()))
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert len(opener.made) == 2 and opener.made[1].is_open


def test_host_disconnect_closes_the_stream(serials: Serials) -> None:
    win, _m, opener, _d, run = serials
    window, stream = live(serials)
    run(win.controller.disconnect_host(fixture_uri()))
    run(wait_until(lambda: serial_phase(window, SerialPhase.WAITING)))
    assert stream.closed_by_us, "the stream goes with the connection"
    run(win.controller.connect_host(fixture_uri()))
    run(wait_until(lambda: serial_phase(window, SerialPhase.LIVE)))
    assert len(opener.made) == 2


class HangingOpener(FakeOpener):
    """A graphical console that never connects (its state never changes)."""

    async def __call__(
        self, host: HostConnection, uuid: str, observer: VncObserver, *, via_ssh: bool = False
    ) -> FakeVnc:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_the_stream_opens_on_its_own_while_the_screen_hangs(window: WindowFixture) -> None:
    win, dialogs, run = window
    opener = FakeSerialOpener()
    manager = ConsoleManager(win.controller, dialogs, opener=HangingOpener(), serial_opener=opener)
    (console,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: serial_phase(console, SerialPhase.LIVE)))
    assert console.session.state.phase is Phase.CONNECTING
    assert len(opener.made) == 1
    manager.close_all()
    run(wait_until(lambda: not manager.tasks.running))
    assert opener.made[0].closed_by_us


def test_real_stream_on_the_test_driver_says_why(window: WindowFixture) -> None:
    win, dialogs, run = window
    manager = ConsoleManager(win.controller, dialogs, opener=FakeOpener())
    (console,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: serial_phase(console, SerialPhase.ERROR)))
    assert "Could not open the serial console of" in console.serial.message_label.text()
    assert not dialogs.errors
    manager.close_all()
    run(wait_until(lambda: not manager.tasks.running))
