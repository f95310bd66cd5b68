"""The Storage and Networks windows keep following the host's events after it reconnects
(test driver): a disconnect and connect through the HostController ends the old connection's
event registrations; the windows make new ones, so a change made behind their back shows."""

from __future__ import annotations

import libvirt
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.ui.helpers import Run, open_window
from vmgui.core.model import ConnectionState
from vmgui.core.xml.build import dir_pool_xml
from vmgui.ui.networks.window import NetworksWindow
from vmgui.ui.storage.window import StorageWindow
from vmgui.virt.networks import create_network


def test_watches_renewed_after_disconnect_and_connect(qtbot: QtBot, qloop: Run) -> None:
    with open_window(qtbot, qloop) as (win, dialogs, run):
        win.window_actions.storage.trigger()
        win.window_actions.networks.trigger()
        storage = win.findChild(StorageWindow, "storageWindow")
        networks = win.findChild(NetworksWindow, "networksWindow")
        assert storage is not None and networks is not None
        run(wait_until(lambda: storage.watching and networks.watching, 5))
        run(wait_until(lambda: not storage.tasks.running and not networks.tasks.running, 5))
        host = storage.host
        controller = win.controller
        run(controller.disconnect_host(host.uri))
        assert host.state is ConnectionState.DISCONNECTED
        run(wait_until(lambda: not storage.watching and not networks.watching, 5))
        run(controller.connect_host(host.uri))
        run(wait_until(lambda: storage.watching and networks.watching, 5))

        def define(conn: libvirt.virConnect) -> None:
            conn.storagePoolDefineXML(dir_pool_xml("after-reconnect", "/after"), 0)

        run(host.call(define, "define"))
        run(create_network(host, "after-reconnect", "isolated"))
        run(wait_until(lambda: "after-reconnect" in [p.name for p in storage.pools.rows], 5))
        run(wait_until(lambda: "after-reconnect" in [n.name for n in networks.networks.rows], 5))
        assert not dialogs.errors, [(e.summary, e.details) for e in dialogs.errors]
