"""The console window on the real daemon: one booted ``vmgui-con-*`` guest from rfbguest.py.

Opened from the main window's ``actionOpenConsole``; the ``guestConsole`` image is compared
with ``virDomainScreenshot``; keys typed with QTest reach the guest's shell (read back from
its serial log); the window follows a reboot, a destroy and a start by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import libvirt
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration import rfbguest
from tests.integration.helpers import Run
from tests.integration.lab import Lab
from tests.integration.test_vnc_real import equal_share, screenshot
from tests.ui.helpers import FakeDialogs, select
from tests.ui.test_console_widget import pixels_of
from vmgui.ui.console import ConsoleWindow, Phase
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow

pytestmark = pytest.mark.integration

PREFIX = "vmgui-con-"
BOOT_TIMEOUT = 60.0
READY = "VMGUI-RFB-READY"


@pytest.fixture(scope="module")
def guest(lab: Lab) -> Iterator[rfbguest.RfbGuest]:
    """The module's guest, booted to its shell prompt."""
    made = rfbguest.create(lab.conn())
    name = made.name.replace(rfbguest.PREFIX, PREFIX)
    renamed = made.xml.replace(f"<name>{made.name}</name>", f"<name>{name}</name>")
    conn = lab.conn()
    conn.lookupByName(made.name).undefine()
    conn.defineXML(renamed)
    ours = rfbguest.RfbGuest(name, made.directory, made.console_log, renamed)
    try:
        conn.lookupByName(ours.name).create()
        rfbguest.wait_for(lambda: rfbguest.PROMPT in ours.console(), BOOT_TIMEOUT, "prompt")
        yield ours
    finally:
        rfbguest.remove(conn, ours)


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


def open_console(win: MainWindow, guest: rfbguest.RfbGuest, qloop: Run) -> ConsoleWindow:
    qloop(wait_until(lambda: any(g.name == guest.name for g in win.guest_list.model.guests())))
    select(win, [guest.name])
    action = win.findChild(QAction, "actionOpenConsole")
    assert action is not None and action.isEnabled()
    action.trigger()
    (window,) = [w for w in win.consoles.windows() if w.windowTitle().startswith(guest.name)]
    return window


def painted(window: ConsoleWindow) -> bool:
    """Whether the guest's screen is shown (not the black one before the first update)."""
    image = window.console.screenshot()
    return not image.isNull() and bool(np.any(pixels_of(image) != np.uint32(0xFF000000)))


async def matches(window: ConsoleWindow, dom: libvirt.virDomain, timeout: float = 10.0) -> float:
    """Await ``guestConsole``'s 1:1 image equal to the screenshot on >= 99.9 % of pixels."""
    deadline = time.monotonic() + timeout
    while True:
        console = window.console
        shot = screenshot(dom)
        shown = pixels_of(console.grab(console.image_rect()).toImage())
        share = equal_share(shown, shot) if shown.shape == shot.shape else 0.0
        if share >= 0.999 or time.monotonic() > deadline:
            return share
        await asyncio.sleep(0.2)


def test_open_from_the_action_first_frame_and_pixels(
    lab: Lab, guest: rfbguest.RfbGuest, main: MainWindow, qloop: Run
) -> None:
    start = time.perf_counter()
    window = open_console(main, guest, qloop)
    qloop(wait_until(lambda: painted(window), 10))
    elapsed = time.perf_counter() - start  # the first update painted (not just the handshake)
    print(f"\nactionOpenConsole -> first frame: {elapsed * 1000:.1f} ms (target <= 150 ms)")
    assert window.objectName() == "consoleWindow"
    qloop(wait_until(lambda: window.session.state.phase is Phase.LIVE, 10))
    share = qloop(matches(window, lab.conn().lookupByName(guest.name)))
    print(f"guestConsole vs screenshot: {share:.5%} equal")
    assert share >= 0.999
    assert not window.console.scaled


def test_typing_with_qtest_reaches_the_shell(
    guest: rfbguest.RfbGuest, main: MainWindow, qloop: Run
) -> None:
    window = open_console(main, guest, qloop)
    qloop(wait_until(lambda: window.session.state.phase is Phase.LIVE, 10))
    console = window.console
    console.setFocus()
    QTest.keyClicks(console, "echo typed-$((6*7))")
    QTest.keyClick(console, Qt.Key.Key_Return)
    qloop(wait_until(lambda: "typed-42" in guest.console(), 20))
    assert "echo typed-$((6*7))" in guest.console(), "Shift reached $ ( * )"


def test_reboot_destroy_and_start_reconnect_by_themselves(
    lab: Lab, guest: rfbguest.RfbGuest, main: MainWindow, qloop: Run
) -> None:
    dom = lab.conn().lookupByName(guest.name)
    window = open_console(main, guest, qloop)
    qloop(wait_until(lambda: window.session.state.phase is Phase.LIVE, 10))
    boots = guest.console().count(READY)
    window.console.setFocus()
    QTest.keyClicks(window.console, "reboot -f")
    QTest.keyClick(window.console, Qt.Key.Key_Return)
    qloop(wait_until(lambda: guest.console().count(READY) > boots, BOOT_TIMEOUT))
    qloop(wait_until(lambda: rfbguest.PROMPT in guest.console().rsplit(READY, 1)[1], 30))
    qloop(wait_until(lambda: window.session.state.phase is Phase.LIVE, 10))
    share = qloop(matches(window, dom))
    print(f"\nafter reboot, guestConsole vs screenshot: {share:.5%} equal")
    assert share >= 0.999

    dom.destroy()
    qloop(wait_until(lambda: window.session.state.phase is Phase.STOPPED, 10))
    assert window.message_label.text() == f"{guest.name} is shut off."
    assert window.message_button.text() == "Start"
    window.message_button.click()
    qloop(wait_until(lambda: window.session.state.phase is Phase.LIVE, 30))
    qloop(wait_until(lambda: rfbguest.PROMPT in guest.console(), BOOT_TIMEOUT))
    share = qloop(matches(window, dom, 15.0))
    print(f"after destroy + Start, guestConsole vs screenshot: {share:.5%} equal")
    assert share >= 0.999
    assert painted(window)
