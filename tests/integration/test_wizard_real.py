"""The new-guest wizard end to end on the real daemon (qemu:///system) with the tiny guest.

The wizard runs the real engine (stream upload of the base image, qcow2 overlay, cloud-init
seed, define, start): local image → emulated, user-mode networking, 256 MiB, in a dedicated
pool ``vmgui-wz-it``; guests are ``vmgui-wz-*``. The guest ends up running and selected in the
window. Everything (domains, volumes, pool) is removed afterwards, also on failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
import shiboken6
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import Run
from tests.labclean import remove_lab
from tests.ui.helpers import FakeDialogs
from vmgui.core.model import GuestState
from vmgui.core.provisioning import USER_NETWORK
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.ui.wizard import NewGuestWizard, PageId
from vmgui.ui.wizard.state import SourceKind
from vmgui.virt.events import ensure_event_loop

pytestmark = pytest.mark.integration

URI = "qemu:///system"
PREFIX = "vmgui-wz-"
POOL = "vmgui-wz-it"
POOL_PATH = Path("/var/lib/libvirt/images") / POOL
TINY = Path(os.environ.get("VMGUI_TINY_IMAGE", "/var/tmp/vmgui-tiny-guest/tiny.qcow2"))
TIMEOUT = 120.0


def _conn() -> libvirt.virConnect:
    ensure_event_loop()
    return libvirt.open(URI)


def cleanup() -> None:
    """Remove every vmgui-wz-* guest and the wizard's pool with its volumes."""
    conn = _conn()
    try:
        remove_lab(conn, PREFIX, POOL)
    finally:
        conn.close()


def _make_pool() -> None:
    conn = _conn()
    try:
        pool = conn.storagePoolDefineXML(
            "<pool type='dir'>\n"
            f"  <name>{POOL}</name>\n"
            f"  <target><path>{POOL_PATH}</path>\n"
            "    <permissions><mode>0755</mode></permissions>\n"
            "  </target>\n"
            "</pool>\n",
            0,
        )
        pool.build(0)
        pool.create(0)
    finally:
        conn.close()


@pytest.fixture
def wz_pool() -> Iterator[str]:
    """The wizard's pool, created empty and removed with all it holds (even on failure)."""
    if not TINY.is_file():
        pytest.fail(
            f"the tiny guest image {TINY} is missing: build it with "
            f"`bash tests/integration/tinyguest/build.sh {TINY.parent}`",
            pytrace=False,
        )
    cleanup()
    try:
        _make_pool()
        yield POOL
    finally:
        cleanup()


@pytest.fixture
def window(qtbot: QtBot, qloop: Run, wz_pool: str) -> Iterator[tuple[MainWindow, FakeDialogs]]:
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    controller.add_host(URI, save=False)
    try:
        qloop(controller.connect_host(URI))
        yield win, dialogs
    finally:
        wizard = win.findChild(NewGuestWizard)
        if wizard is not None and shiboken6.isValid(wizard) and wizard.isVisible():
            wizard.reject()
        qloop(controller.close_all())


def _next(run: Run, wizard: NewGuestWizard, expected: PageId) -> None:
    page = wizard.currentPage()
    run(wait_until(page.isComplete, 60.0), 90.0)
    which = (
        QWizard.WizardButton.CommitButton
        if page.isCommitPage()
        else QWizard.WizardButton.NextButton
    )
    wizard.button(which).click()
    assert wizard.currentId() == expected, (wizard.currentId(), expected)


def test_wizard_end_to_end_on_the_real_daemon(
    window: tuple[MainWindow, FakeDialogs], qloop: Run
) -> None:
    win, dialogs = window
    name = f"{PREFIX}{secrets.token_hex(3)}"
    win.host_view.setCurrentIndex(win.host_model.index(1, 0))  # the host, after "All hosts"
    win.action_new_guest.trigger()
    wizard = win.findChild(NewGuestWizard, "newGuestWizard")
    assert wizard is not None
    qloop(wait_until(wizard.isVisible))
    assert wizard.host_page.chosen_uri() == URI
    _next(qloop, wizard, PageId.SOURCE)

    wizard.source_page.set_kind(SourceKind.LOCAL)
    wizard.source_page.local_panel.choose(str(TINY))
    _next(qloop, wizard, PageId.RESOURCES)
    resources = wizard.resources_page
    qloop(wait_until(resources.isComplete, 60.0), 90.0)
    resources.name_edit.setText(name)
    resources.vcpus_spin.setValue(1)
    resources.memory_spin.setValue(256)
    resources.disk_spin.setValue(1)
    index = resources.pool_combo.findData(POOL)
    assert index >= 0, "the wizard does not list the test pool"
    resources.pool_combo.setCurrentIndex(index)
    _next(qloop, wizard, PageId.CLOUD_INIT)

    cloud = wizard.cloud_init_page
    assert cloud.enable_check.isChecked()
    cloud.user_edit.setText("tester")
    cloud.password_edit.setText("not-a-real-secret")
    cloud.confirm_edit.setText("not-a-real-secret")
    _next(qloop, wizard, PageId.NETWORK)

    net = wizard.network_page
    qloop(wait_until(net.isComplete, 60.0), 90.0)  # capabilities may be slow
    net.network_combo.setCurrentIndex(net.network_combo.findData(USER_NETWORK))
    net.qemu_radio.setChecked(True)
    _next(qloop, wizard, PageId.SUMMARY)
    assert wizard.summary_page.start_check.isChecked()
    _next(qloop, wizard, PageId.PROGRESS)

    def done() -> bool:
        return not shiboken6.isValid(wizard) or not wizard.isVisible()

    try:
        qloop(wait_until(done, TIMEOUT), TIMEOUT + 30)
    except AssertionError:
        page = wizard.progress_page
        raise AssertionError(
            f"the wizard did not finish: {wizard.run_state}; {page.status_label.text()}; "
            f"{page.result_label.text()}; {page.details_edit.toPlainText()}"
        ) from None
    qloop(wait_until(lambda: [g.name for g in win.selection.guests()] == [name], 30.0), 60.0)
    # Selected when first listed (its define event); the start event follows.
    qloop(
        wait_until(lambda: [g.state for g in win.selection.guests()] == [GuestState.RUNNING], 30),
        60.0,
    )
    assert not dialogs.errors, [str(e) for e in dialogs.errors]

    conn = _conn()
    try:
        dom = conn.lookupByName(name)
        assert dom.isActive()
        details = parse_domain_xml(dom.XMLDesc(0))
        assert details.domain_type == "qemu"
        assert details.memory_kib == 256 * 1024
        assert [n.type for n in details.nics] == ["user"]
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        volumes = set(pool.listVolumes())
        assert {f"{name}.qcow2", f"{name}-seed.iso"} <= volumes
        assert any(v.startswith("vmgui-base-tiny-") for v in volumes)
        assert [d.path for d in details.disks if d.target == "vda"] == [
            str(POOL_PATH / f"{name}.qcow2")
        ]
    finally:
        conn.close()
