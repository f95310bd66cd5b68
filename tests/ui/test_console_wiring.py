"""The console in the main window: ``actionOpenConsole``."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from tests.conftest import wait_until
from tests.ui.helpers import WindowFixture, names_in, select
from vmgui.core.model import GuestState


def test_open_console_action_opens_one_window_per_selected_guest(window: WindowFixture) -> None:
    win, dialogs, run = window
    action = win.findChild(QAction, "actionOpenConsole")
    assert action is win.window_actions.open_console
    assert action.shortcut() == QKeySequence("Ctrl+O")
    guest_menu = next(m for m in win.menuBar().findChildren(QMenu) if m.title() == "&Guest")
    assert action in guest_menu.actions()
    toolbar = win.findChild(QToolBar, "mainToolBar")
    assert toolbar is not None and action in toolbar.actions()
    assert not action.isEnabled(), "nothing selected"
    chosen = [
        names_in(win, GuestState.RUNNING)[0],
        names_in(win, GuestState.PAUSED)[0],
        names_in(win, GuestState.SHUTOFF)[0],
    ]
    for name in chosen:
        select(win, [name])
        assert action.isEnabled(), name
    select(win, chosen)
    action.trigger()
    shown = [c.session.guest.name for c in win.consoles.windows() if c.session.guest]
    assert shown == sorted(chosen)
    win.consoles.close_all()
    run(wait_until(lambda: not win.consoles.tasks.running))
    assert not dialogs.errors
