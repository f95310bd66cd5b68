"""The event-loop design holds with Qt running: no GLib sharing, events under churn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QAbstractEventDispatcher
from PySide6.QtWidgets import QApplication

from tests.conftest import fixture_uri, wait_until
from vmgui.core.model import GuestAction, GuestInfo, GuestState, HostInfo, HostStatus
from vmgui.virt import guests as svc
from vmgui.virt.connection import HostConnection

Run = Callable[..., Any]


class _Count:
    def __init__(self) -> None:
        self.changed = 0

    def host_status_changed(self, status: HostStatus) -> None:
        pass

    def host_info_changed(self, info: HostInfo) -> None:
        pass

    def guests_listed(self, uri: str, guests: list[GuestInfo]) -> None:
        pass

    def guest_changed(self, guest: GuestInfo) -> None:
        self.changed += 1

    def guest_removed(self, uri: str, uuid: str) -> None:
        pass


def _active(host: HostConnection, uuid: str) -> bool:
    return host.guests[uuid].is_active


def test_qt_does_not_use_glib_dispatcher(qapp: QApplication) -> None:
    """libvirt's event thread owns GLib's default context; Qt must not iterate it."""
    dispatcher = QAbstractEventDispatcher.instance()
    assert dispatcher is not None
    assert "Glib" not in dispatcher.metaObject().className()


def test_connections_churn_while_qt_processes_events(qloop: Run) -> None:
    """Open, act on and close many hosts while Qt runs: every event arrives, no crash.

    Before QT_NO_GLIB this crashed in virEventRunDefaultImpl within a few cycles.
    """

    async def cycle() -> None:
        for _ in range(15):
            counter = _Count()
            host = HostConnection(fixture_uri(), counter)
            await host.connect()
            guest = next(g for g in host.guests.values() if g.state is GuestState.SHUTOFF)
            await svc.run_action(host, guest, GuestAction.START)
            await wait_until(partial(_active, host, guest.uuid), 5.0)
            await host.close()
            await asyncio.sleep(0)

    qloop(cycle(), 120.0)
