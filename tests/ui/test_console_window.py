"""``consoleWindow`` on the 60-guest test-driver host, with a fake VNC session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import QTabWidget, QWidget
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.consolefakes import FakeOpener
from tests.ui.helpers import FakeDialogs, Run, WindowFixture, names_in
from tests.ui.test_console_widget import NO_GRAB, pixels_of
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, GuestState
from vmgui.core.rfb.keys import KEY_SEQUENCES
from vmgui.ui.console import ConsoleManager, ConsoleWindow, Phase
from vmgui.ui.console.window import GRAB_HINT
from vmgui.ui.main.window import MainWindow
from vmgui.virt.opening import open_connection

Consoles = tuple[MainWindow, ConsoleManager, FakeOpener, FakeDialogs, Run]


@pytest.fixture
def consoles(window: WindowFixture, tmp_path: Path) -> Iterator[Consoles]:
    win, dialogs, run = window
    opener = FakeOpener()

    async def ask_path(_parent: QWidget, suggested: str) -> str:
        return str(tmp_path / suggested)

    manager = ConsoleManager(win.controller, dialogs, opener=opener, ask_path=ask_path)
    yield win, manager, opener, dialogs, run
    manager.close_all()
    run(wait_until(lambda: not manager.tasks.running))


def guest(win: MainWindow, state: GuestState, index: int = 0) -> GuestInfo:
    name = names_in(win, state)[index]
    return next(g for g in win.guest_list.model.guests() if g.name == name)


def action(window: ConsoleWindow, name: str) -> QAction:
    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


def phase(window: ConsoleWindow, expected: Phase) -> bool:
    return window.session.state.phase is expected


#: The offscreen platform cannot raise a window (X11 and Wayland can).
NO_RAISE = "This plugin does not support raise"


@pytest.mark.qt_log_ignore(NO_RAISE)
def test_one_window_per_guest_raised_when_open(consoles: Consoles) -> None:
    win, manager, opener, _d, run = consoles
    first, second = guest(win, GuestState.RUNNING), guest(win, GuestState.RUNNING, 1)
    (window,) = manager.open([first])
    assert window.objectName() == "consoleWindow"
    assert window.windowTitle() == f"{first.name} — console (Test driver (node50.xml))"
    tabs = window.findChild(QTabWidget, "consoleTabs")
    assert tabs is not None and [tabs.tabText(i) for i in range(tabs.count())] == [
        "Graphical",
        "Serial",
    ]
    assert window.findChild(QWidget, "guestConsole") is window.console
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert manager.open([first]) == [window], "open: raised, not duplicated"
    assert len(opener.opened) == 1
    both = manager.open([first, second])
    assert both[0] is window and both[1] is not window
    assert len(manager.windows()) == 2
    window.close()
    run(wait_until(lambda: not manager.tasks.running))
    assert manager.window(first.key) is None
    assert opener.opened[0].closed, "closing the window ends its session"
    assert manager.open([first])[0] is not window


def test_live_screen_and_send_key_menu(qtbot: QtBot, consoles: Consoles) -> None:
    win, manager, opener, _d, run = consoles
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert window.stack.currentWidget() is window.scroll_area
    vnc = opener.opened[0]
    console = window.console
    qtbot.waitUntil(lambda: console.size().width() >= 720 and console.size().height() >= 400)
    assert console.height() == 400, "the window fits the screen's height exactly"
    shown = console.image_rect()
    assert (shown.width(), shown.height()) == (720, 400), "a 720x400 screen opens at 1:1"
    assert not console.scaled
    assert np.array_equal(pixels_of(console.grab(shown).toImage()), vnc.framebuffer)
    labels = [a.text() for a in window.console_actions.send_key_menu.actions()]
    assert labels == list(KEY_SEQUENCES)
    assert "Ctrl+Alt+F12" in labels and "PrintScreen" in labels
    window.console_actions.send_keys["Ctrl+Alt+Del"].trigger()
    assert vnc.keys == KEY_SEQUENCES["Ctrl+Alt+Del"]
    window.console_actions.scale.setChecked(True)
    assert console.scaled


def test_shut_off_guest_offers_start(consoles: Consoles) -> None:
    win, manager, opener, dialogs, run = consoles
    off = guest(win, GuestState.SHUTOFF)
    (window,) = manager.open([off])
    assert phase(window, Phase.STOPPED)
    assert window.message_label.text() == f"{off.name} is shut off."
    assert window.message_button.text() == "Start" and window.message_button.isVisibleTo(window)
    assert opener.opened == [], "nothing to connect to"
    enabled = {a.objectName() for a in window.console_actions.lifecycle.values() if a.isEnabled()}
    assert enabled == {"consoleStart"}
    window.message_button.click()
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert len(opener.opened) == 1
    assert not dialogs.errors


def test_reconnects_after_a_restart_and_a_new_process(consoles: Consoles) -> None:
    win, manager, opener, dialogs, run = consoles
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    dialogs.confirm_answer = True
    action(window, "consoleForceOff").trigger()
    run(wait_until(lambda: phase(window, Phase.STOPPED)))
    assert dialogs.confirms and "Force off" in dialogs.confirms[-1], "the same confirmation"
    assert opener.opened[0].closed
    window.message_button.click()  # Start
    run(wait_until(lambda: phase(window, Phase.LIVE) and len(opener.opened) == 2))
    opener.opened[1].server_closes()  # the display went away, the guest still runs
    assert phase(window, Phase.CONNECTING)
    run(wait_until(lambda: phase(window, Phase.LIVE) and len(opener.opened) == 3))
    assert len(opener.live()) == 1
    assert not dialogs.errors


def test_paused_guest_keeps_its_screen_with_resume(consoles: Consoles) -> None:
    win, manager, opener, _d, run = consoles
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    action(window, "consolePause").trigger()
    run(wait_until(lambda: phase(window, Phase.PAUSED)))
    assert window.stack.currentWidget() is window.scroll_area
    assert window.pause_bar.isVisibleTo(window)
    assert window.pause_label.text().endswith("is paused.")
    window.pause_button.click()
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert not window.pause_bar.isVisibleTo(window)
    assert len(opener.opened) == 1, "the session lived through the pause"


def test_host_reconnect_reconnects_the_console(consoles: Consoles) -> None:
    win, manager, opener, _d, run = consoles
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    run(win.controller.disconnect_host(fixture_uri()))
    assert phase(window, Phase.LIVE), "the display socket does not need libvirtd"
    opener.opened[0].server_closes()
    run(wait_until(lambda: phase(window, Phase.WAITING)))
    run(win.controller.connect_host(fixture_uri()))
    run(wait_until(lambda: phase(window, Phase.LIVE) and len(opener.opened) == 2))


def test_error_has_one_line_and_retry(consoles: Consoles) -> None:
    win, manager, opener, _d, run = consoles
    opener.error = VmguiError("Could not open the console of x", "x has no VNC display")
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.ERROR)))
    assert window.message_label.text() == "Could not open the console of x: x has no VNC display"
    assert window.message_button.text() == "Retry"
    opener.error = None
    window.message_button.click()
    run(wait_until(lambda: phase(window, Phase.LIVE)))


def test_real_opener_says_which_display_a_guest_has(window: WindowFixture) -> None:
    win, dialogs, run = window
    manager = ConsoleManager(win.controller, dialogs)
    spice = next(
        g
        for g in win.guest_list.model.guests()
        if g.state is GuestState.RUNNING and "spice" in _graphics(g)
    )
    (console,) = manager.open([spice])
    run(wait_until(lambda: phase(console, Phase.SPICE)))
    assert console.message_label.text() == (
        f"{spice.name} has a SPICE display; this console shows VNC displays only."
    )
    assert console.message_button.text() == "Switch Display to VNC…"
    assert not dialogs.errors, "said in the window, no dialog"
    manager.close_all()
    run(wait_until(lambda: not manager.tasks.running))


def _graphics(g: GuestInfo) -> str:
    conn = open_connection(fixture_uri())
    try:
        return str(conn.lookupByUUIDString(g.uuid).XMLDesc(0))
    finally:
        conn.close()


def test_window_fits_the_screen_that_arrives_while_connecting(consoles: Consoles) -> None:
    """The first frame comes while "Connecting…" shows (the scroll area is not the current
    page then, and keeps a stale size): the window still fits the screen at 1:1."""
    win, manager, opener, _d, run = consoles
    opener.gate = asyncio.Event()
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    window.resize(1000, 700)
    run(wait_until(lambda: window.size() == QSize(1000, 700)))
    run(wait_until(lambda: phase(window, Phase.CONNECTING)))
    opener.gate.set()
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    run(wait_until(lambda: window.scroll_area.viewport().size().height() == 400))
    assert window.console.image_rect().size() == QSize(720, 400)


def test_screenshot_saves_the_framebuffer(consoles: Consoles, tmp_path: Path) -> None:
    win, manager, opener, dialogs, run = consoles
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    window.console_actions.scale.setChecked(True)
    window.resize(400, 300)  # scaled down: the file still has every pixel
    window.console_actions.screenshot.trigger()
    run(wait_until(lambda: not window.tasks.running))
    assert not dialogs.errors
    (path,) = tmp_path.glob("*.png")
    saved = QImage(str(path))
    assert (saved.width(), saved.height()) == (720, 400)
    assert np.array_equal(pixels_of(saved), opener.opened[0].framebuffer)
    assert window.statusBar().currentMessage() == f"Saved the screenshot to {path}"


@pytest.mark.qt_log_ignore(NO_GRAB)
def test_keyboard_grab_shows_the_release_hint(consoles: Consoles) -> None:
    win, manager, _opener, _d, run = consoles
    (window,) = manager.open([guest(win, GuestState.RUNNING)])
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert window.grab_hint.isVisibleTo(window) and window.grab_hint.text() == ""
    window.console_actions.grab.setChecked(True)
    assert window.console.grabbed
    assert window.grab_hint.isVisibleTo(window) and window.grab_hint.text() == GRAB_HINT
    window.console.set_grab(False)
    assert window.grab_hint.text() == ""
    assert not window.console_actions.grab.isChecked()
