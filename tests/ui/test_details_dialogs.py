"""Tests for the guest and host details panes and the dialogs (pytest-qt, offscreen)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)
from pytestqt.qtbot import QtBot

from vmgui.core.errors import VmguiError
from vmgui.core.model import (
    ConnectionState,
    DeletePlan,
    GuestConfigEdit,
    GuestInfo,
    GuestOverview,
    GuestState,
    HostInfo,
    HostStatus,
    StorageItem,
)
from vmgui.core.xml.domain import DiskInfo, GuestDetails, NicInfo
from vmgui.ui.dialogs import DeleteGuestDialog, QtDialogs, exec_async
from vmgui.ui.guests.details import GuestDetailsPane
from vmgui.ui.hosts.details import HostDetailsPane
from vmgui.ui.widgets import AMBER_COLOR, NORMAL_COLOR, RED_COLOR

URI = "test:///default"
GIB_KIB = 1024 * 1024
T = TypeVar("T")
W = TypeVar("W", bound=QWidget)
Run = Callable[[Awaitable[Any]], Any]


def make_guest(
    name: str,
    state: GuestState = GuestState.RUNNING,
    vcpus: int = 2,
    memory_mib: int = 2048,
    persistent: bool = True,
) -> GuestInfo:
    return GuestInfo(
        host_uri=URI,
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{URI}/{name}")),
        name=name,
        state=state,
        vcpus=vcpus,
        memory_kib=memory_mib * 1024,
        max_memory_kib=memory_mib * 1024,
        persistent=persistent,
    )


def make_overview(guest: GuestInfo, autostart: bool = False) -> GuestOverview:
    details = GuestDetails(
        name=guest.name,
        uuid=guest.uuid,
        title="Web server",
        description="Front-end nginx\nbehind the load balancer",
        domain_type="kvm",
        os_type="hvm",
        arch="x86_64",
        machine="pc-q35-7.2",
        osinfo_id="http://debian.org/debian/12",
        os_name="Debian 12",
        vcpus=guest.vcpus,
        max_vcpus=8,
        cpu_mode="host-passthrough",
        memory_kib=guest.memory_kib,
        max_memory_kib=4 * GIB_KIB,
        disks=(
            DiskInfo(
                "disk",
                "vda",
                "virtio",
                "file",
                "/var/lib/libvirt/images/web.qcow2",
                driver_type="qcow2",
                backing_paths=("/var/cache/vmgui/debian-12.qcow2",),
            ),
            DiskInfo("cdrom", "sda", "sata", "file", "/tmp/seed.iso", readonly=True),
            DiskInfo("disk", "vdb", "virtio", "volume", "", pool="default", volume="data.raw"),
        ),
        nics=(NicInfo("network", "default", "52:54:00:6b:3c:58", "virtio", "vnet0"),),
        has_balloon=True,
    )
    return GuestOverview(guest=guest, details=details, autostart=autostart, has_managed_save=True)


@pytest.fixture
def guest_pane(qtbot: QtBot) -> GuestDetailsPane:
    pane = GuestDetailsPane()
    qtbot.addWidget(pane)
    pane.resize(720, 800)
    return pane


def _dialog_open() -> bool:
    return any(isinstance(w, QDialog) and w.isVisible() for w in QApplication.topLevelWidgets())


async def answered(coro: Coroutine[Any, Any, T], answer: Callable[[], None]) -> T:
    """Await ``coro``; once it has opened a dialog, call ``answer`` (which closes it)."""
    task = asyncio.ensure_future(coro)
    for _ in range(1000):
        if _dialog_open() or task.done():
            break
        await asyncio.sleep(0)
    answer()
    return await asyncio.wait_for(task, timeout=5)


@pytest.fixture
def parent(qtbot: QtBot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _child(parent: QWidget, kind: type[W]) -> W:
    children = [c for c in parent.findChildren(kind) if c.isVisible()]
    assert len(children) == 1, children
    return children[0]


def cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None
    return item


# -- guest pane ------------------------------------------------------------------------


def test_guest_pane_shows_overview_values(guest_pane: GuestDetailsPane) -> None:
    guest = make_guest("web-01", vcpus=2, memory_mib=2048)
    guest_pane.show_overview(make_overview(guest, autostart=True))

    assert guest_pane.objectName() == "guestDetails"
    assert guest_pane.name_label.text() == "web-01"
    assert guest_pane.state_badge.text() == "running"
    assert guest_pane.uuid_label.text() == guest.uuid
    assert guest_pane.title_edit.text() == "Web server"
    assert guest_pane.description_label.full_text().startswith("Front-end nginx")
    assert guest_pane.os_label.text() == "Debian 12"
    assert guest_pane.virt_label.text() == "kvm · x86_64 · pc-q35-7.2"
    assert guest_pane.autostart_check.isChecked()
    assert guest_pane.vcpus_spin.value() == 2
    assert guest_pane.vcpus_spin.maximum() == 4096
    assert guest_pane.memory_spin.value() == 2048
    assert guest_pane.memory_spin.maximum() == 16 * 1024 * 1024
    assert guest_pane.balloon_label.text() == "Present"
    assert "restored" in guest_pane.managed_save_label.text()
    assert guest_pane.cpu_model_label.text() == "host-passthrough"

    disks = guest_pane.disk_table
    assert disks.rowCount() == 3
    assert [cell(disks, 0, c).text() for c in range(6)] == [
        "vda",
        "disk",
        "virtio",
        "/var/lib/libvirt/images/web.qcow2",
        "qcow2",
        "",
    ]
    assert "/var/cache/vmgui/debian-12.qcow2" in cell(disks, 0, 3).toolTip()
    assert cell(disks, 1, 5).text() == "read-only"
    assert cell(disks, 2, 3).text() == "default/data.raw"
    assert guest_pane.nic_table.rowCount() == 1
    assert cell(guest_pane.nic_table, 0, 3).text() == "52:54:00:6b:3c:58"

    assert not guest_pane.apply_button.isEnabled()
    assert not guest_pane.revert_button.isEnabled()
    assert "next boot" in guest_pane.note_label.text()


def test_editing_vcpus_enables_apply_and_emits_only_vcpus(
    qtbot: QtBot, guest_pane: GuestDetailsPane
) -> None:
    guest = make_guest("web-01", vcpus=2)
    guest_pane.show_overview(make_overview(guest))

    guest_pane.vcpus_spin.setValue(4)
    assert guest_pane.apply_button.isEnabled()
    assert guest_pane.apply_button.objectName() == "applyGuestConfig"

    with qtbot.waitSignal(guest_pane.configEditRequested, timeout=1000) as blocker:
        guest_pane.apply_button.click()
    assert blocker.args == [GuestConfigEdit(guest=guest, vcpus=4)]


def test_editing_title_and_autostart_emits_both(qtbot: QtBot, guest_pane: GuestDetailsPane) -> None:
    guest = make_guest("web-01")
    guest_pane.show_overview(make_overview(guest))
    guest_pane.title_edit.setText("  Front end  ")
    guest_pane.autostart_check.setChecked(True)
    with qtbot.waitSignal(guest_pane.configEditRequested, timeout=1000) as blocker:
        guest_pane.apply_button.click()
    assert blocker.args == [GuestConfigEdit(guest=guest, title="Front end", autostart=True)]


def test_revert_restores_values(guest_pane: GuestDetailsPane) -> None:
    guest_pane.show_overview(make_overview(make_guest("web-01", vcpus=2, memory_mib=2048)))
    guest_pane.vcpus_spin.setValue(6)
    guest_pane.memory_spin.setValue(4096)
    assert guest_pane.revert_button.isEnabled()

    guest_pane.revert_button.click()

    assert guest_pane.vcpus_spin.value() == 2
    assert guest_pane.memory_spin.value() == 2048
    assert guest_pane.pending_edit() is None
    assert not guest_pane.apply_button.isEnabled()


def test_refresh_of_same_guest_keeps_unapplied_edits(guest_pane: GuestDetailsPane) -> None:
    guest = make_guest("web-01", vcpus=2)
    guest_pane.show_overview(make_overview(guest))
    guest_pane.vcpus_spin.setValue(3)
    guest_pane.show_overview(make_overview(guest))
    assert guest_pane.vcpus_spin.value() == 3
    assert guest_pane.apply_button.isEnabled()

    guest_pane.show_overview(make_overview(make_guest("db-01", vcpus=1)))
    assert guest_pane.vcpus_spin.value() == 1
    assert not guest_pane.apply_button.isEnabled()


def test_transient_guest_is_read_only(guest_pane: GuestDetailsPane) -> None:
    guest_pane.show_overview(make_overview(make_guest("tmp", persistent=False)))
    assert not guest_pane.vcpus_spin.isEnabled()
    assert not guest_pane.title_edit.isEnabled()
    assert "transient" in guest_pane.note_label.text()


def test_loading_and_error_states(guest_pane: GuestDetailsPane) -> None:
    guest_pane.show()
    guest = make_guest("web-01")
    guest_pane.show_loading(guest)
    assert guest_pane.message_label.isVisible()
    assert "web-01" in guest_pane.message_label.text()
    assert guest_pane.name_label.text() == "web-01"

    guest_pane.show_error("Could not read web-01: connection lost")
    assert guest_pane.message_label.text() == "Could not read web-01: connection lost"
    assert guest_pane.overview is None

    guest_pane.show_overview(make_overview(guest))
    assert not guest_pane.message_label.isVisible()
    assert guest_pane.apply_button.isVisible()


# -- host pane -------------------------------------------------------------------------


def _host_info(cpus: int = 4, memory_gib: int = 16, known: bool = True) -> HostInfo:
    return HostInfo(
        uri=URI,
        hostname="kvm01",
        hypervisor="QEMU",
        hypervisor_version="7.2.0",
        libvirt_version="9.0.0",
        cpus=cpus,
        memory_kib=memory_gib * GIB_KIB,
        arch="x86_64",
        cpu_model="Skylake-Client" if known else "",
        capabilities_known=known,
    )


def test_host_pane_shows_identity_and_consolidation(qtbot: QtBot) -> None:
    pane = HostDetailsPane()
    qtbot.addWidget(pane)
    guests = [
        make_guest("a", vcpus=2, memory_mib=2048),
        make_guest("b", vcpus=4, memory_mib=4096),
        make_guest("c", vcpus=2, memory_mib=2048),
        make_guest("off", GuestState.SHUTOFF, vcpus=8, memory_mib=8192),
    ]
    pane.show_host("Test", HostStatus(URI, ConnectionState.CONNECTED), _host_info(), guests)

    assert pane.objectName() == "hostDetails"
    assert pane.state_badge.text() == "connected"
    assert pane.hypervisor_label.text() == "QEMU 7.2.0"
    assert pane.cpu_model_label.text() == "Skylake-Client"
    assert pane.memory_label.text() == "16.0 GiB"
    assert pane.guests_total_label.text() == "4 guests"
    assert pane.guest_states_label.text() == "3 running · 0 paused · 1 shut off"
    assert pane.vcpu_bar.text() == "8 vCPUs on 4 CPUs (2.00\N{MULTIPLICATION SIGN})"
    assert pane.vcpu_bar.color() == AMBER_COLOR
    assert pane.vcpu_bar.fraction() == 1.0
    assert pane.memory_bar.text() == "8.0 GiB of 16.0 GiB (50%)"
    assert pane.memory_bar.color() == NORMAL_COLOR
    assert pane.memory_bar.fraction() == pytest.approx(0.5)
    assert pane.defined_label.text() == (
        "16 vCPUs (4.00\N{MULTIPLICATION SIGN}) · 16.0 GiB (100%) for all 4 guests"
    )
    assert pane.insecure_label.isHidden(), "a local or encrypted link needs no warning"


def test_host_pane_warns_about_an_unencrypted_connection(qtbot: QtBot) -> None:
    pane = HostDetailsPane()
    qtbot.addWidget(pane)
    status = HostStatus(URI, ConnectionState.CONNECTED)
    pane.show_host("Lab", status, dataclasses.replace(_host_info(), secure=False), [])
    assert not pane.insecure_label.isHidden()
    assert "not encrypted" in pane.insecure_label.text()
    assert "qemu+tls://" in pane.insecure_label.text()
    pane.show_host("Lab", status, _host_info(), [])
    assert pane.insecure_label.isHidden()


def test_host_pane_red_when_heavily_overcommitted(qtbot: QtBot) -> None:
    pane = HostDetailsPane()
    qtbot.addWidget(pane)
    guests = [make_guest("big", vcpus=9, memory_mib=20 * 1024)]
    pane.show_host("Test", HostStatus(URI, ConnectionState.CONNECTED), _host_info(), guests)
    assert pane.vcpu_bar.color() == RED_COLOR
    assert pane.memory_bar.color() == RED_COLOR
    assert pane.memory_bar.text() == "20.0 GiB of 16.0 GiB (125%)"


def test_host_pane_failed_and_probing(qtbot: QtBot) -> None:
    pane = HostDetailsPane()
    qtbot.addWidget(pane)
    pane.show()
    status = HostStatus(URI, ConnectionState.FAILED, "Connection refused", retry_in=4.2)
    pane.show_host("Test", status, None, [])
    assert pane.state_badge.text() == "failed"
    assert pane.reason_label.text() == "Connection refused — retrying in 5 s"
    assert pane.uri_label.text() == URI
    assert not pane.vcpu_bar.isVisible()

    info = _host_info(known=False)
    pane.show_host("Test", HostStatus(URI, ConnectionState.CONNECTED), info, [])
    assert not pane.reason_label.isVisible()
    assert pane.cpu_model_label.text() == "probing…"
    assert pane.vcpu_bar.isVisible()


# -- dialogs ---------------------------------------------------------------------------


def _plans() -> list[DeletePlan]:
    return [
        DeletePlan(
            make_guest("web-01", GuestState.SHUTOFF),
            (
                StorageItem("/images/web-01.qcow2", "vda", True),
                StorageItem("/images/web-01-seed.iso", "sda", True),
                StorageItem("/cache/base.qcow2", "vdb", False, "backs another image"),
            ),
        ),
        DeletePlan(
            make_guest("db-01", GuestState.SHUTOFF),
            (StorageItem("/dev/vg0/shared", "vdc", False, "used by another guest"),),
        ),
    ]


def test_delete_dialog_checkboxes_and_chosen_paths(qtbot: QtBot) -> None:
    dialog = DeleteGuestDialog(_plans())
    qtbot.addWidget(dialog)
    assert dialog.objectName() == "deleteGuestDialog"
    assert dialog.title_label.text() == "Delete 2 guests?"
    boxes = {path: box for box, path in dialog.checkboxes()}
    assert boxes["/images/web-01.qcow2"].isChecked()
    assert boxes["/images/web-01.qcow2"].isEnabled()
    assert not boxes["/cache/base.qcow2"].isChecked()
    assert not boxes["/cache/base.qcow2"].isEnabled()
    assert "backs another image" in boxes["/cache/base.qcow2"].toolTip()
    assert not boxes["/dev/vg0/shared"].isEnabled()
    assert dialog.chosen_paths() == ["/images/web-01.qcow2", "/images/web-01-seed.iso"]

    boxes["/images/web-01-seed.iso"].setChecked(False)
    assert dialog.chosen_paths() == ["/images/web-01.qcow2"]

    assert dialog.cancel_button.isDefault()
    assert not dialog.delete_button.isDefault()
    assert not dialog.delete_button.autoDefault()


def test_delete_dialog_single_title(qtbot: QtBot) -> None:
    dialog = DeleteGuestDialog(_plans()[:1])
    qtbot.addWidget(dialog)
    assert dialog.title_label.text() == "Delete web-01?"


def test_exec_async_returns_accepted(qloop: Run, parent: QWidget) -> None:
    dialog = QDialog(parent)
    result = qloop(answered(exec_async(dialog), dialog.accept))
    assert result == QDialog.DialogCode.Accepted.value
    assert not dialog.isVisible()


def test_exec_async_destroyed_dialog_counts_as_rejected(qloop: Run, parent: QWidget) -> None:
    dialog = QDialog(parent)
    assert qloop(answered(exec_async(dialog), dialog.deleteLater)) == 0


def test_qt_dialogs_confirm_delete(qloop: Run, parent: QWidget) -> None:
    def answer() -> None:
        dialog = _child(parent, DeleteGuestDialog)
        dialog.checkboxes()[0][0].setChecked(False)
        dialog.delete_button.click()

    paths = qloop(answered(QtDialogs().confirm_delete(parent, _plans()), answer))
    assert paths == ["/images/web-01-seed.iso"]

    def cancel() -> None:
        _child(parent, DeleteGuestDialog).cancel_button.click()

    assert qloop(answered(QtDialogs().confirm_delete(parent, _plans()), cancel)) is None


@pytest.mark.parametrize(("click_ok", "expected"), [(True, True), (False, False)])
def test_qt_dialogs_confirm(qloop: Run, parent: QWidget, click_ok: bool, expected: bool) -> None:
    def answer() -> None:
        box = _child(parent, QMessageBox)
        assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
        ok = next(b for b in box.buttons() if b.text() == "Force Off")
        (ok if click_ok else box.button(QMessageBox.StandardButton.Cancel)).click()

    asking = QtDialogs().confirm(parent, "Force off?", "Really?", "Force Off")
    result = qloop(answered(asking, answer))
    assert result is expected


def test_qt_dialogs_show_error_is_modal_and_logged(
    qtbot: QtBot, parent: QWidget, caplog: pytest.LogCaptureFixture
) -> None:
    error = VmguiError("Could not start web-01", "libvirt: no space left", hint="Free disk space.")
    with caplog.at_level(logging.WARNING, logger="vmgui.ui"):
        QtDialogs().show_error(parent, error)
    box = _child(parent, QMessageBox)
    assert box.text() == "Could not start web-01"
    assert box.informativeText() == "Free disk space."
    assert box.detailedText() == "libvirt: no space left"
    assert box.icon() == QMessageBox.Icon.Critical
    assert box.isModal()
    assert "no space left" in caplog.text
    box.close()
