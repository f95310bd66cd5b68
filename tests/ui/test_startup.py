"""Which hosts open at start: --connect, saved hosts, first run, and the demo fallback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import FakeDialogs
from vmgui.app import demo_fixture
from vmgui.core.model import ConnectionState
from vmgui.core.settings import HostEntry, demo_host_uri
from vmgui.ui.controller import HostController
from vmgui.ui.main.startup import DEMO_LABEL, open_initial_hosts
from vmgui.ui.main.window import MainWindow

Run = Callable[..., Any]


def _window(
    qtbot: QtBot, saved: list[list[HostEntry]] | None = None, dialogs: FakeDialogs | None = None
) -> MainWindow:
    save = (lambda entries: saved.append(list(entries))) if saved is not None else None
    controller = HostController(save=save)
    fake = dialogs or FakeDialogs()
    win = MainWindow(controller, fake, demo_uri=demo_host_uri(demo_fixture()))
    qtbot.addWidget(win)
    return win


def test_first_run_without_hypervisor_offers_demo_host(qtbot: QtBot, qloop: Run) -> None:
    saved: list[list[HostEntry]] = []
    win = _window(qtbot, saved)
    controller = win.controller
    missing = "test:///nonexistent/vmgui-no-hypervisor.xml"
    open_initial_hosts(win, controller, [], None, local_uri=missing)
    qloop(wait_until(lambda: win.demo_uri in controller.uris(), 5.0))
    qloop(wait_until(lambda: win.guest_list.proxy.rowCount() == 12, 5.0))
    assert controller.label(win.demo_uri) == DEMO_LABEL
    assert not win.guest_list.banner.isHidden()
    assert "Demo host" in win.guest_list.banner.text()
    assert "nonexistent" in win.guest_list.banner.text()  # says why
    assert controller.host(missing).state is ConnectionState.FAILED
    assert saved[-1] == [HostEntry(missing)]  # the demo host is never saved
    qloop(controller.close_all())


def test_first_run_opens_local_host(qtbot: QtBot, qloop: Run) -> None:
    win = _window(qtbot)
    controller = win.controller
    open_initial_hosts(win, controller, [], None, local_uri=fixture_uri())
    qloop(wait_until(lambda: win.guest_list.proxy.rowCount() == 60, 5.0))
    assert win.guest_list.banner.isHidden()
    assert controller.uris() == [fixture_uri()]
    qloop(controller.close_all())


def test_connect_option_opens_exactly_those_hosts_and_saves_nothing(
    qtbot: QtBot, qloop: Run
) -> None:
    saved: list[list[HostEntry]] = []
    win = _window(qtbot, saved)
    controller = win.controller
    uris = [fixture_uri(), demo_host_uri(demo_fixture())]
    open_initial_hosts(win, controller, uris, [HostEntry("qemu:///session")])
    qloop(wait_until(lambda: win.guest_list.proxy.rowCount() == 72, 5.0))
    assert controller.uris() == uris
    assert controller.label(uris[1]) == DEMO_LABEL
    assert saved == []
    qloop(controller.close_all())


def test_saved_hosts_respect_autoconnect(qtbot: QtBot, qloop: Run, tmp_path: Path) -> None:
    win = _window(qtbot)
    controller = win.controller
    entries = [HostEntry(fixture_uri()), HostEntry(demo_host_uri(demo_fixture()), False)]
    open_initial_hosts(win, controller, [], entries)
    qloop(wait_until(lambda: win.guest_list.proxy.rowCount() == 60, 5.0))
    assert controller.host(entries[1].uri).state is ConnectionState.DISCONNECTED
    qloop(controller.close_all())


def test_bad_saved_uri_is_reported_not_fatal(qtbot: QtBot, qloop: Run) -> None:
    dialogs = FakeDialogs()
    win = _window(qtbot, dialogs=dialogs)
    open_initial_hosts(win, win.controller, [], [HostEntry("bogus uri"), HostEntry(fixture_uri())])
    qloop(wait_until(lambda: win.guest_list.proxy.rowCount() == 60, 5.0))
    assert dialogs.errors
    assert "bogus uri" in str(dialogs.errors[0])
    qloop(win.controller.close_all())


def test_autoconnect_toggle_is_saved(qtbot: QtBot, qloop: Run) -> None:
    saved: list[list[HostEntry]] = []
    win = _window(qtbot, saved)
    controller = win.controller
    controller.add_host(fixture_uri())
    win.host_view.setCurrentIndex(win.host_model.index(win.host_model.row_of(fixture_uri()), 0))
    assert win.action_autoconnect.isEnabled()
    assert win.action_autoconnect.isChecked()
    win.action_autoconnect.trigger()
    assert saved[-1] == [HostEntry(fixture_uri(), False)]
    qloop(controller.close_all())
