"""libvirtd dies and comes back under a connected vmgui: it notices, retries and relists.

The tests stop the machine's real libvirtd (SIGTERM) and start it again with its own command
line; a finalizer starts it whatever happens. QEMU keeps running meanwhile and the new
daemon reattaches to it, so a running guest is still running afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.daemon import DaemonCommand, ensure_libvirtd, start_libvirtd, stop_libvirtd
from tests.integration.helpers import OpenHost, Run
from tests.integration.lab import Lab, TinyGuest
from tests.ui.helpers import FakeDialogs
from vmgui.core.model import ConnectionState, GuestState
from vmgui.ui.controller import HostController
from vmgui.ui.guests.model import GuestColumn
from vmgui.ui.hosts.model import HostColumn
from vmgui.ui.main.window import MainWindow
from vmgui.virt.connection import HostConnection, HostObserver

pytestmark = pytest.mark.integration

BACKOFF = (0.2, 0.5, 1.0)
#: How long the daemon may take to come back and vmgui to reconnect (2 busy cores).
RECONNECT_TIMEOUT = 60.0


@pytest.fixture
def daemon() -> Iterator[list[DaemonCommand]]:
    """Records how to restart libvirtd; the finalizer makes sure it runs again."""
    commands: list[DaemonCommand] = []
    yield commands
    ensure_libvirtd(commands[-1] if commands else DaemonCommand())


@pytest.fixture(scope="module")
def running(lab: Lab) -> Iterator[TinyGuest]:
    """A running tiny guest that must survive the restarts."""
    guest = lab.define_guest()
    lab.domain(guest).create()
    yield guest
    lab.remove_guest(guest)


def test_connection_survives_a_daemon_restart(
    lab: Lab, running: TinyGuest, daemon: list[DaemonCommand], open_host: OpenHost, mrun: Run
) -> None:
    host, rec = open_host(backoff=BACKOFF)
    assert host.guests[running.uuid].state is GuestState.RUNNING
    connected_at = len(rec.statuses)

    stop_libvirtd(daemon)
    mrun(wait_until(lambda: host.state is ConnectionState.DISCONNECTED, RECONNECT_TIMEOUT))
    lost = next(s for s in rec.statuses[connected_at:] if s.state is ConnectionState.DISCONNECTED)
    assert lost.reason, "a dropped host says why"
    assert lost.retry_in is not None, "a dropped host says when it retries"
    assert lost.retry_in in BACKOFF
    assert host.guests == {}
    assert rec.listed[-1] == [], "the guests of a dropped host leave the list"
    assert host.wants_connection

    start_libvirtd(daemon[-1])
    mrun(wait_until(lambda: host.state is ConnectionState.CONNECTED, RECONNECT_TIMEOUT))
    mrun(wait_until(lambda: running.uuid in host.guests, RECONNECT_TIMEOUT))
    assert host.guests[running.uuid].state is GuestState.RUNNING, "QEMU kept running"
    assert any(running.uuid in {g.uuid for g in listed} for listed in rec.listed[1:])
    assert lab.domain(running).isActive()
    # The reconnected host works: calls and events.
    hostname = mrun(host.call(lambda c: c.getHostname(), "hostname"))
    assert hostname
    before = len(rec.changed)
    lab.domain(running).suspend()
    mrun(
        wait_until(
            lambda: any(
                g.uuid == running.uuid and g.state is GuestState.PAUSED
                for g in rec.changed[before:]
            ),
            5.0,
        )
    )
    lab.domain(running).resume()
    mrun(wait_until(lambda: host.guests[running.uuid].state is GuestState.RUNNING, 5.0))


def _short_backoff(uri: str, observer: HostObserver) -> HostConnection:
    return HostConnection(uri, observer, backoff=BACKOFF)


def test_window_follows_a_daemon_restart(
    lab: Lab, running: TinyGuest, daemon: list[DaemonCommand], qtbot: QtBot, qloop: Run
) -> None:
    controller = HostController(factory=_short_backoff)
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    controller.add_host(lab.uri, save=False)
    try:
        qloop(controller.connect_host(lab.uri))

        def host_state() -> str:
            row = win.host_model.row_of(lab.uri)
            return str(win.host_model.index(row, HostColumn.STATE).data())

        def listed() -> bool:
            proxy = win.guest_list.proxy
            names = {proxy.index(r, GuestColumn.NAME).data() for r in range(proxy.rowCount())}
            return running.name in names

        assert host_state() == "connected"
        assert listed()

        stop_libvirtd(daemon)
        qloop(wait_until(lambda: host_state().startswith("disconnected — retrying in"), 30.0), 60.0)
        assert not listed()

        start_libvirtd(daemon[-1])
        qloop(wait_until(lambda: host_state() == "connected", RECONNECT_TIMEOUT), 90.0)
        qloop(wait_until(listed, RECONNECT_TIMEOUT), 90.0)
        assert not dialogs.errors
    finally:
        qloop(controller.close_all())
