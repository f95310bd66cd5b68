"""The new-guest wizard onto a remote host (qemu+ssh through the loopback sshd): the window's
host is the ssh URI, and the guest ends up running there, in a pool made over ssh."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import libvirt
import pytest
import shiboken6
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import Run
from tests.integration.test_remote_provision_real import POOL, POOL_PATH, PREFIX, cleanup
from tests.integration.test_wizard_real import _next
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.fixtures import tiny_image
from tests.services.secondhost import open_connection
from tests.services.sshd import LoopbackSshd
from tests.ui.helpers import FakeDialogs
from vmgui.core.model import GuestState
from vmgui.core.provisioning import USER_NETWORK
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.ui.wizard import NewGuestWizard, PageId
from vmgui.ui.wizard.state import SourceKind

pytestmark = pytest.mark.integration


@pytest.fixture
def local() -> Iterator[libvirt.virConnect]:
    """The main host seen locally, with the remote test pool defined empty (removed after)."""
    if not tiny_image().is_file():
        pytest.skip(f"no tiny guest image at {tiny_image()}")
    conn = open_connection("qemu:///system")
    cleanup(conn)
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{POOL}</name><target><path>{POOL_PATH}</path></target></pool>"
    )
    pool.build(0)
    pool.create(0)
    try:
        yield conn
    finally:
        cleanup(conn)
        conn.close()


def test_wizard_provisions_onto_the_ssh_host(
    local: libvirt.virConnect, loopback_sshd: LoopbackSshd, qtbot: QtBot, qloop: Run
) -> None:
    uri = loopback_sshd.uri_ssh()
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    controller.add_host(uri, save=False)
    name = f"{PREFIX}wz-{secrets.token_hex(2)}"
    try:
        qloop(controller.connect_host(uri), 60)
        win.host_view.setCurrentIndex(win.host_model.index(0, 0))
        win.action_new_guest.trigger()
        wizard = win.findChild(NewGuestWizard, "newGuestWizard")
        assert wizard is not None
        qloop(wait_until(wizard.isVisible))
        assert wizard.host_page.chosen_uri() == uri
        _next(qloop, wizard, PageId.SOURCE)
        wizard.source_page.set_kind(SourceKind.LOCAL)
        wizard.source_page.local_panel.choose(str(tiny_image()))
        _next(qloop, wizard, PageId.RESOURCES)
        resources = wizard.resources_page
        qloop(wait_until(resources.isComplete, 60.0), 90.0)
        resources.name_edit.setText(name)
        resources.memory_spin.setValue(256)
        resources.disk_spin.setValue(1)
        index = resources.pool_combo.findData(POOL)
        assert index >= 0, "the wizard does not list the remote test pool"
        resources.pool_combo.setCurrentIndex(index)
        _next(qloop, wizard, PageId.CLOUD_INIT)
        wizard.cloud_init_page.enable_check.setChecked(False)
        _next(qloop, wizard, PageId.NETWORK)
        net = wizard.network_page
        qloop(wait_until(net.isComplete, 60.0), 90.0)
        net.network_combo.setCurrentIndex(net.network_combo.findData(USER_NETWORK))
        net.qemu_radio.setChecked(True)
        _next(qloop, wizard, PageId.SUMMARY)
        _next(qloop, wizard, PageId.PROGRESS)
        closed = wizard  # the wizard closes itself once the guest runs

        def done() -> bool:
            return not shiboken6.isValid(closed) or not closed.isVisible()

        qloop(wait_until(done, 120.0), 150.0)
        running = [GuestState.RUNNING]
        qloop(wait_until(lambda: [g.state for g in win.selection.guests()] == running, 60), 90)
        assert [g.host_uri for g in win.selection.guests()] == [uri]
        assert not dialogs.errors, [str(e) for e in dialogs.errors]
        assert local.lookupByName(name).isActive()
    finally:
        wizard = win.findChild(NewGuestWizard)
        if wizard is not None and shiboken6.isValid(wizard) and wizard.isVisible():
            wizard.reject()
        qloop(controller.close_all())
