"""The event-loop design holds with Qt running: no GLib sharing, events under churn."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
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


def _fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter whose environment has no QT_NO_GLIB."""
    env = {k: v for k, v in os.environ.items() if k != "QT_NO_GLIB"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def test_app_main_keeps_qt_off_glib_and_importing_the_ui_changes_nothing() -> None:
    """``QT_NO_GLIB`` comes from app.main, before its QApplication; no import sets it."""
    imported = _fresh_python(
        "import os, vmgui.ui, vmgui.ui.main.window, vmgui.app\nprint('QT_NO_GLIB' in os.environ)\n"
    )
    assert imported == "False"
    dispatcher = _fresh_python(
        "import sys, vmgui.app as app\n"
        "def stop(loop):\n"
        "    from PySide6.QtCore import QAbstractEventDispatcher\n"
        "    print(QAbstractEventDispatcher.instance().metaObject().className())\n"
        "    sys.exit(0)\n"
        "app.install_hooks = stop  # runs once the QApplication and its loop exist\n"
        "app.main(['--connect', 'test:///default'])\n"
    )
    assert dispatcher and "Glib" not in dispatcher, dispatcher
