"""The console window on remote hosts (test driver behind a remote URI): why a display cannot
be reached from here, and what the window offers (tests/fixtures/remote-displays.xml)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.ui.helpers import FakeDialogs, Run
from vmgui.core.model import GuestInfo
from vmgui.ui.console import ConsoleManager, ConsoleWindow, Phase
from vmgui.ui.controller import HostController
from vmgui.virt.connection import HostConnection, HostObserver
from vmgui.virt.opening import open_connection

FIXTURE = "tests/fixtures/remote-displays.xml"

Remote = Callable[[str], tuple[HostController, ConsoleManager, FakeDialogs]]


@pytest.fixture
def remote(qtbot: QtBot, qloop: Run) -> Iterator[Remote]:
    """Connects a remote-looking URI served by the fixture's test driver."""
    made: list[tuple[HostController, ConsoleManager]] = []
    fixture = f"test://{Path(FIXTURE).resolve()}"

    def connect(uri: str) -> tuple[HostController, ConsoleManager, FakeDialogs]:
        def factory(uri: str, observer: HostObserver) -> HostConnection:
            return HostConnection(uri, observer, opener=lambda _uri: open_connection(fixture))

        controller = HostController(factory=factory)
        controller.add_host(uri, save=False)
        qloop(controller.connect_host(uri))
        dialogs = FakeDialogs()
        manager = ConsoleManager(controller, dialogs)
        made.append((controller, manager))
        return controller, manager, dialogs

    yield connect
    for controller, manager in made:
        manager.close_all()
        qloop(wait_until(manager_idle(manager)))
        qloop(controller.close_all())


def manager_idle(manager: ConsoleManager) -> Callable[[], bool]:
    return lambda: not manager.tasks.running


def guest_named(controller: HostController, uri: str, name: str) -> GuestInfo:
    return next(g for g in controller.host(uri).guests.values() if g.name == name)


def unreachable(window: ConsoleWindow) -> bool:
    return window.session.state.phase is Phase.UNREACHABLE


def test_loopback_display_on_a_tcp_host_says_so_and_why_no_tunnel(
    remote: Remote, qloop: Run
) -> None:
    uri = "qemu+tcp://far.invalid/system"
    controller, manager, dialogs = remote(uri)
    (window,) = manager.open([guest_named(controller, uri, "display-loopback")])
    qloop(wait_until(lambda: unreachable(window)))
    text = window.message_label.text()
    assert "the display listens on the host's 127.0.0.1 only" in text
    assert "no SSH tunnel can reach it: no SSH server answers on far.invalid:22 (Name or" in text
    assert window.message_button.text() == "Retry", "no tunnel to offer"
    assert not dialogs.errors


def test_display_without_port_on_an_ssh_host_offers_a_port_on_localhost(
    remote: Remote, qloop: Run
) -> None:
    uri = "qemu+ssh://far.invalid/system"
    controller, manager, dialogs = remote(uri)
    (window,) = manager.open([guest_named(controller, uri, "display-switched")])
    qloop(wait_until(lambda: unreachable(window)))
    assert "its display has no network port (listen type 'none')" in window.message_label.text()
    assert window.message_button.text() == "Listen on 127.0.0.1…"
    window.message_button.click()
    qloop(wait_until(lambda: "From its next start on" in window.message_label.text()))
    assert dialogs.confirms and "127.0.0.1" in dialogs.confirms[0]
    assert window.message_button.text() == "Retry", "nothing more to offer until it restarts"
    conn = controller.host(uri)
    xml = qloop(conn.call(lambda c: c.lookupByName("display-switched").XMLDesc(2), "read"))
    assert "listen='127.0.0.1'" in xml and "autoport='yes'" in xml
