"""The Serial tab on the real daemon: one ``vmgui-stab-*`` guest from serialguest.py.

The guest (a shell on its pty ttyS0) is defined shut off for the module; the tests run in file
order on it: opened from the main window's ``actionOpenConsole``, the Serial tab offers Start
and, once started, shows the boot and the shell prompt; a command typed with QTest comes back;
another client's forced open shows the take-back state; a destroy says "stopped", quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import libvirt
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import Run, connect
from tests.integration.lab import GUEST_TIMEOUT, Lab
from tests.integration.serialguest import SERIAL_READY, SerialGuests
from tests.ui.helpers import FakeDialogs, select
from vmgui.core.model import GuestInfo
from vmgui.ui.console import ConsoleWindow, SerialPhase
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.virt.serial import GUEST_STOPPED, TAKEN_OVER, SerialConsole

pytestmark = pytest.mark.integration

PREFIX = "vmgui-stab-"


@pytest.fixture(scope="module")
def dom(lab: Lab) -> Iterator[libvirt.virDomain]:
    """The module's guest, defined and shut off (removed at the end, also after failures)."""
    guests = SerialGuests(lab.conn, lab.image)
    guests.prefix = guests.prefix.replace("vmgui-serial-", PREFIX)  # the guests' names
    try:
        yield guests.define("pty")
    finally:
        guests.close()


@pytest.fixture
def main(lab: Lab, qtbot: QtBot, qloop: Run) -> Iterator[MainWindow]:
    controller = HostController()
    win = MainWindow(controller, FakeDialogs())
    qtbot.addWidget(win)
    win.show()
    controller.add_host(lab.uri, save=False)
    try:
        qloop(controller.connect_host(lab.uri))
        yield win
    finally:
        win.close()
        qloop(wait_until(lambda: not win.consoles.tasks.running, 10))
        qloop(controller.close_all())


def open_serial(win: MainWindow, dom: libvirt.virDomain, qloop: Run) -> ConsoleWindow:
    """Open the guest's console window from ``actionOpenConsole`` and show its Serial tab."""
    name = dom.name()
    qloop(wait_until(lambda: any(g.name == name for g in win.guest_list.model.guests())))
    select(win, [name])
    action = win.findChild(QAction, "actionOpenConsole")
    assert action is not None and action.isEnabled()
    action.trigger()
    (window,) = [w for w in win.consoles.windows() if w.windowTitle().startswith(name)]
    window.tabs.setCurrentWidget(window.serial)
    return window


def phase_is(window: ConsoleWindow, phase: SerialPhase) -> bool:
    return window.serial.session.state.phase is phase


def everything(window: ConsoleWindow) -> str:
    """The terminal's scrollback and screen as text."""
    model = window.terminal.model
    return "\n".join([*model.scrollback_text(), model.text()])


def live(win: MainWindow, dom: libvirt.virDomain, qloop: Run) -> ConsoleWindow:
    """The Serial tab live on the running guest (started here when a test runs on its own)."""
    started = not dom.isActive()
    if started:
        dom.create()
    window = open_serial(win, dom, qloop)
    qloop(wait_until(lambda: phase_is(window, SerialPhase.LIVE), 30))
    if started:
        qloop(wait_until(lambda: SERIAL_READY in everything(window), GUEST_TIMEOUT))
    return window


def prompt_shown(window: ConsoleWindow) -> bool:
    """Whether the cursor's line is busybox's root prompt ("/ # ")."""
    model = window.terminal.model
    return model.text().splitlines()[model.cursor.row].rstrip().endswith("#")


def test_start_from_the_serial_tab_shows_the_boot_and_the_prompt(
    main: MainWindow, dom: libvirt.virDomain, qloop: Run
) -> None:
    window = open_serial(main, dom, qloop)
    assert window.objectName() == "consoleWindow"
    qloop(wait_until(lambda: phase_is(window, SerialPhase.STOPPED), 10))
    assert window.serial.message_label.text() == f"{dom.name()} is shut off."
    assert window.serial.message_button.text() == "Start"
    window.serial.message_button.click()
    qloop(wait_until(lambda: phase_is(window, SerialPhase.LIVE), 30))
    try:
        qloop(wait_until(lambda: SERIAL_READY in everything(window), GUEST_TIMEOUT))
        qloop(wait_until(lambda: prompt_shown(window), 10))
    except AssertionError as exc:
        raise AssertionError(f"no prompt; terminal:\n{everything(window)}") from exc
    assert not window.serial.bar.isVisibleTo(window)


def test_typing_with_qtest_comes_back_in_the_terminal(
    qtbot: QtBot, main: MainWindow, dom: libvirt.virDomain, qloop: Run
) -> None:
    window = live(main, dom, qloop)
    terminal = window.terminal
    window.activateWindow()
    terminal.setFocus()
    qtbot.waitUntil(terminal.hasFocus)
    QTest.keyClicks(terminal, "echo hello-$((6*7))")
    QTest.keyClick(terminal, Qt.Key.Key_Return)
    qloop(wait_until(lambda: "hello-42" in terminal.model.text().splitlines(), 20))
    assert "echo hello-$((6*7))" in terminal.model.text(), "the shell echoed the typed line"
    assert terminal.hasFocus()


class Other:
    """The second client: a SerialConsole observer."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.reasons: list[str] = []

    def data(self, chunk: bytes) -> None:
        self.received += chunk

    def closed(self, reason: str) -> None:
        self.reasons.append(reason)


def test_another_client_takes_over_and_we_take_back(
    lab: Lab, main: MainWindow, dom: libvirt.virDomain, qloop: Run
) -> None:
    window = live(main, dom, qloop)
    host, _rec = connect(qloop, lab.uri)
    try:
        guest = qloop(host.refresh_guest(dom.UUIDString()))
        assert isinstance(guest, GuestInfo)
        other = Other()
        console = SerialConsole(host, guest, other)
        qloop(console.open(force=True))
        qloop(wait_until(lambda: phase_is(window, SerialPhase.TAKEN_OVER), 10))
        tab = window.serial
        assert tab.message_label.text() == (
            f"Another client took over the serial console of {dom.name()}."
        )
        assert tab.message_button.text() == "Take Back" and tab.bar.isVisibleTo(window)
        tab.message_button.click()
        qloop(wait_until(lambda: phase_is(window, SerialPhase.LIVE), 10))
        qloop(wait_until(lambda: other.reasons == [TAKEN_OVER], 10))
        QTest.keyClicks(window.terminal, "echo back-$((6*7))")
        QTest.keyClick(window.terminal, Qt.Key.Key_Return)
        qloop(wait_until(lambda: "back-42" in window.terminal.model.text().splitlines(), 20))
        qloop(console.close())
    finally:
        qloop(host.close())


def test_destroy_says_the_guest_stopped_without_a_traceback(
    main: MainWindow,
    dom: libvirt.virDomain,
    qloop: Run,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    window = live(main, dom, qloop)
    states: list[SerialPhase] = []
    window.serial.session.stateChanged.connect(lambda s: states.append(s.phase))
    dom.destroy()
    qloop(wait_until(lambda: phase_is(window, SerialPhase.STOPPED), 10))
    # The stream's end (EOF: "<name> stopped.") and the guest's shut-off news race; either
    # way the tab says it stopped, never an error.
    reason = window.serial.session.last_reason
    with capfd.disabled():
        text = window.serial.message_label.text()
        print(f"\nafter the destroy: {text!r}, the stream's end: {reason!r}")
    assert reason in (GUEST_STOPPED, "")
    qloop(wait_until(lambda: window.serial.message_label.text().endswith("is shut off."), 10))
    assert window.serial.message_button.text() == "Start"
    assert window.serial.session.stream is None
    assert states and set(states) == {SerialPhase.STOPPED}, states
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in capfd.readouterr().err
