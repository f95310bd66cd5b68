"""The new-guest wizard driven with qtbot on a test-driver host.

The test driver defines and "starts" guests and creates volumes (with backing stores), but
cannot stream-upload: runs through the real engine use an uploader that only creates the
volume, and the other runs use a fake engine (the wizard's ``provisioner_factory``) that
reports every step and defines a real guest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import libvirt
import pytest
import shiboken6
from PySide6.QtWidgets import QFormLayout, QLabel, QWizard
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.testdriver.helpers import CreateOnlyUploader
from tests.ui.helpers import FakeDialogs, WindowFixture, select, selected_names
from vmgui.core.catalog import load_catalog
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestState
from vmgui.core.provisioning import (
    PROVISION_STEPS,
    USER_NETWORK,
    Progress,
    ProgressCallback,
    ProvisionError,
    ProvisionPlan,
    ProvisionResult,
    Step,
    StepTiming,
    VirtType,
)
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.ui.wizard import NewGuestWizard, PageId, RunState, open_new_guest_wizard
from vmgui.ui.wizard.networkpage import default_network
from vmgui.ui.wizard.progress import StepState
from vmgui.ui.wizard.state import CloneRequest, DefaultEngine, GuestEngine, SourceKind
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader
from vmgui.virt.hostchoices import NetworkChoice
from vmgui.virt.provision import Provisioner
from vmgui.virt.storage import UploadProgress, create_volume_blocking

Run = Callable[..., Any]
POOL = "default-pool"
SECRET = "correct horse battery staple"
NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
CANCEL = QWizard.WizardButton.CancelButton


# -- fakes ------------------------------------------------------------------------------------


def _define_blocking(conn: libvirt.virConnect, name: str) -> str:
    xml = (
        f"<domain type='test'><name>{name}</name><memory unit='MiB'>256</memory>"
        "<vcpu>1</vcpu><os><type arch='i686'>hvm</type></os></domain>"
    )
    dom = conn.defineXML(xml)
    dom.create()
    return str(dom.UUIDString())


class FakeEngine:
    """Reports every step (a download with bytes, speed and ETA), defines a real guest.

    Args:
        host: the target host.
        fail_at: raise a ProvisionError at this step instead.
        block_at: wait at this step until cancelled.
    """

    plans: ClassVar[list[ProvisionPlan]] = []
    cancelled: ClassVar[list[str]] = []

    def __init__(
        self, host: HostConnection, fail_at: Step | None = None, block_at: Step | None = None
    ) -> None:
        self.host = host
        self.fail_at = fail_at
        self.block_at = block_at

    async def provision(
        self, plan: ProvisionPlan, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        assert progress is not None
        FakeEngine.plans.append(plan)
        for step in PROVISION_STEPS:
            progress(Progress(step, step.label, 0.0))
            if step is Step.DOWNLOAD:
                progress(Progress(step, "Downloading", 0.5, 5 << 20, 10 << 20, 2e6, 2.5))
            if step is self.fail_at:
                raise ProvisionError(
                    step,
                    f"Could not create {plan.name} (step {step.value}): the pool is full",
                    "0.1 GiB free, 0.4 GiB needed",
                    "Free space in the pool or choose another pool.",
                )
            if step is self.block_at:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    FakeEngine.cancelled.append(plan.name)  # the engine's rollback
                    raise
            progress(Progress(step, f"{step.label}: done", 1.0))
        uuid = await self.host.call(lambda c: _define_blocking(c, plan.name), "define")
        return ProvisionResult(
            host_uri=self.host.uri,
            name=plan.name,
            uuid=uuid,
            virt_type="qemu",
            disk_path=f"/var/lib/libvirt/images/{plan.name}.qcow2",
            base_path="",
            seed_path="",
            started=plan.start,
            timings=tuple(StepTiming(s, 0.01) for s in PROVISION_STEPS),
        )

    async def clone(
        self, request: CloneRequest, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        raise AssertionError("not used")


class BlockingSeedUploader(CreateOnlyUploader):
    """Creates volumes, but the seed upload waits until the run is cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.seed_started = False

    async def upload(
        self,
        host: HostConnection,
        pool: str,
        name: str,
        source: Path | bytes,
        fmt: str,
        progress: UploadProgress | None = None,
    ) -> str:
        if name.endswith("-seed.iso"):
            self.seed_started = True
            await asyncio.Event().wait()
        return await super().upload(host, pool, name, source, fmt, progress)


def _real_engine(uploader: CreateOnlyUploader) -> Callable[[HostConnection], GuestEngine]:
    def make(host: HostConnection) -> GuestEngine:
        return DefaultEngine(host, Provisioner(host, uploader=uploader))

    return make


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_engine_records() -> None:
    FakeEngine.plans = []
    FakeEngine.cancelled = []


@pytest.fixture
def wizard_window(window: WindowFixture) -> Iterator[WindowFixture]:
    """The main window (see tests/ui/conftest.py); a wizard left open is rejected after."""
    yield window
    wizard = window[0].findChild(NewGuestWizard)
    if wizard is not None and wizard.isVisible():
        wizard.reject()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A qcow2 header with a 5 GiB virtual disk (enough for the header checks)."""
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 24, 5 << 30)
    path = tmp_path / "tiny.qcow2"
    path.write_bytes(bytes(header))
    return path


def _open(
    win: MainWindow, run: Run, factory: Callable[[HostConnection], GuestEngine]
) -> NewGuestWizard:
    open_new_guest_wizard(
        win,
        win.selection,
        win.controller,
        on_created=win.guest_list.reveal,
        provisioner_factory=factory,
    )
    wizard = win.findChild(NewGuestWizard, "newGuestWizard")
    assert wizard is not None
    run(wait_until(wizard.isVisible))
    return wizard


def _next(run: Run, wizard: NewGuestWizard, expected: PageId, timeout: float = 5.0) -> None:
    """Wait until Next (or Create) is enabled, click it, and check the page reached."""
    page = wizard.currentPage()
    run(wait_until(page.isComplete, timeout))
    button = wizard.button(COMMIT if page.isCommitPage() else NEXT)
    assert button.isEnabled()
    button.click()
    assert wizard.currentId() == expected, (wizard.currentId(), expected)


def _to_resources(run: Run, wizard: NewGuestWizard, image: Path | None = None) -> None:
    _next(run, wizard, PageId.SOURCE)
    if image is not None:
        wizard.source_page.set_kind(SourceKind.LOCAL)
        wizard.source_page.local_panel.choose(str(image))
    _next(run, wizard, PageId.RESOURCES)
    run(wait_until(wizard.resources_page.isComplete))


def _closed(wizard: NewGuestWizard) -> bool:
    return not shiboken6.isValid(wizard) or not wizard.isVisible()


def _summary_texts(wizard: NewGuestWizard) -> list[str]:
    form = wizard.summary_page.form
    texts = []
    for row in range(form.rowCount()):
        item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        widget = item.widget() if item is not None else None
        if isinstance(widget, QLabel):
            texts.append(widget.text())
    return texts


def _fields(config: object) -> list[object]:
    return [getattr(config, f.name) for f in dataclasses.fields(config)]  # type: ignore[arg-type]


# -- tests ----------------------------------------------------------------------------------


def test_action_opens_the_wizard_on_the_selected_host(
    wizard_window: WindowFixture,
) -> None:
    win, _dialogs, run = wizard_window
    action = win.action_new_guest
    assert action.isEnabled()
    assert action.toolTip() == "Create a guest from an OS image (Ctrl+N)"
    win.host_view.setCurrentIndex(win.host_model.index(1, 0))  # the host, after "All hosts"
    action.trigger()
    wizard = win.findChild(NewGuestWizard, "newGuestWizard")
    assert wizard is not None
    run(wait_until(wizard.isVisible))
    assert wizard.currentId() == PageId.HOST
    assert wizard.host_page.chosen_uri() == fixture_uri()
    action.trigger()  # a second trigger raises the open wizard
    assert len(win.findChildren(NewGuestWizard)) == 1
    wizard.button(CANCEL).click()
    run(wait_until(lambda: _closed(wizard)))


def test_full_run_selects_the_new_guest_and_hashes_the_password(
    wizard_window: WindowFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    win, dialogs, run = wizard_window
    wizard = _open(win, run, FakeEngine)
    _to_resources(run, wizard)
    resources = wizard.resources_page
    assert resources.name_edit.text() == "debian-13"  # the first catalog entry, unique
    resources.name_edit.setText("web-01")
    _next(run, wizard, PageId.CLOUD_INIT)
    ci = wizard.cloud_init_page
    assert ci.enable_check.isChecked()
    assert ci.hostname_edit.text() == "web-01"
    ci.user_edit.setText("alice")
    ci.password_edit.setText(SECRET)
    ci.confirm_edit.setText(SECRET)
    ci.keys_edit.setPlainText("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0Bz4h3jXKq alice@laptop")
    ci.packages_edit.setText("qemu-guest-agent, htop")
    _next(run, wizard, PageId.NETWORK)
    assert ci.password_edit.text() == "" and ci.confirm_edit.text() == ""
    net = wizard.network_page
    run(wait_until(net.isComplete))
    assert net.network_combo.currentData() == "default"
    assert [net.network_combo.itemData(i) for i in range(net.network_combo.count())] == [
        "default",
        "isolated",
        USER_NETWORK,
    ]
    assert not net.kvm_radio.isEnabled() and net.qemu_radio.isChecked()  # test driver: no kvm
    _next(run, wizard, PageId.SUMMARY)
    summary = wizard.summary_page
    assert summary.start_check.isChecked()
    texts = set(_summary_texts(wizard))
    assert "web-01" in texts and any("password set (hashed)" in t for t in texts)
    _next(run, wizard, PageId.PROGRESS)

    run(wait_until(lambda: _closed(wizard), 10))
    run(wait_until(lambda: selected_names(win) == ["web-01"], 10))
    assert win.guest_list.view.currentIndex().data() == "web-01"
    assert not dialogs.errors

    plan = FakeEngine.plans[-1]
    assert plan.name == "web-01" and plan.vcpus == 2 and plan.memory_mib == 2048
    assert plan.disk_bytes == 20 << 30 and plan.pool == POOL
    assert plan.virt_type is VirtType.QEMU and plan.network == "default" and plan.start
    assert plan.osinfo == "http://debian.org/debian/13"
    config = plan.cloud_init
    assert config is not None and config.user == "alice"
    assert config.password_hash.startswith("$6$")
    assert config.packages == ("qemu-guest-agent", "htop")
    assert SECRET not in repr(plan)
    assert all(SECRET not in str(value) for value in _fields(config))
    assert SECRET not in caplog.text


def test_real_engine_from_a_local_image(wizard_window: WindowFixture, image: Path) -> None:
    win, dialogs, run = wizard_window
    uploader = CreateOnlyUploader()
    wizard = _open(win, run, _real_engine(uploader))
    _to_resources(run, wizard, image)
    resources = wizard.resources_page
    assert resources.name_edit.text() == "tiny"
    assert resources.disk_spin.value() == 10  # the image's 5 GiB, at least 10 GiB
    assert resources.pool_combo.currentData() == POOL
    _next(run, wizard, PageId.CLOUD_INIT)
    wizard.cloud_init_page.enable_check.setChecked(False)
    _next(run, wizard, PageId.NETWORK)
    run(wait_until(wizard.network_page.isComplete))
    net = wizard.network_page
    net.network_combo.setCurrentIndex(net.network_combo.findData("isolated"))
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: _closed(wizard), 15))
    run(wait_until(lambda: selected_names(win) == ["tiny"], 10))
    assert not dialogs.errors
    (base, _size), *seeds = uploader.uploads
    assert base.startswith("vmgui-base-tiny-") and not seeds  # no cloud-init: no seed
    run(wait_until(lambda: [g.state for g in win.selection.guests()] == [GuestState.RUNNING]))


def test_installer_iso_with_the_real_engine(wizard_window: WindowFixture, tmp_path: Path) -> None:
    win, dialogs, run = wizard_window
    iso = tmp_path / "installer.iso"
    data = bytearray(128 * 1024)
    data[0x8001 : 0x8001 + 5] = b"CD001"
    iso.write_bytes(bytes(data))
    uploader = CreateOnlyUploader()
    wizard = _open(win, run, _real_engine(uploader))
    _next(run, wizard, PageId.SOURCE)
    wizard.source_page.set_kind(SourceKind.ISO)
    wizard.source_page.iso_panel.choose(str(iso))
    _next(run, wizard, PageId.RESOURCES)
    assert wizard.resources_page.name_edit.text() == "installer"
    assert wizard.resources_page.disk_spin.value() == 20
    _next(run, wizard, PageId.NETWORK)  # an installer gets no cloud-init seed
    _next(run, wizard, PageId.SUMMARY)
    assert "installer from the ISO" in _summary_texts(wizard)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: selected_names(win) == ["installer"], 15))
    assert not dialogs.errors
    host = win.controller.host(fixture_uri())
    xml = run(host.call(lambda c: c.lookupByName("installer").XMLDesc(0), "xml"))
    details = parse_domain_xml(xml)
    assert [(d.device, d.target) for d in details.disks] == [("disk", "vda"), ("cdrom", "sda")]


def test_import_an_existing_volume(wizard_window: WindowFixture) -> None:
    win, dialogs, run = wizard_window
    host = win.controller.host(fixture_uri())
    run(
        host.call(
            lambda c: create_volume_blocking(c, POOL, "old-disk.qcow2", 3 << 30, "qcow2"), "mk"
        )
    )
    wizard = _open(win, run, _real_engine(CreateOnlyUploader()))
    _next(run, wizard, PageId.SOURCE)
    wizard.source_page.set_kind(SourceKind.VOLUME)
    tree = wizard.source_page.volume_panel.tree
    run(wait_until(lambda: tree.topLevelItemCount() > 0))
    first = tree.topLevelItem(0)
    assert first is not None and first.text(0) == f"{POOL}/old-disk.qcow2"
    assert not first.isDisabled()
    in_use = tree.topLevelItem(tree.topLevelItemCount() - 1)
    assert in_use is not None and in_use.isDisabled()  # used by a guest: not offered
    _next(run, wizard, PageId.RESOURCES)
    run(wait_until(wizard.resources_page.isComplete))
    assert not wizard.resources_page.disk_spin.isEnabled()
    # "old-disk" would clash with the volume old-disk.qcow2 the guest's disk is named after
    assert wizard.resources_page.name_edit.text() == "old-disk-2"
    _next(run, wizard, PageId.CLOUD_INIT)
    assert not wizard.cloud_init_page.enable_check.isChecked()
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: selected_names(win) == ["old-disk-2"], 15))
    assert not dialogs.errors
    xml = run(host.call(lambda c: c.lookupByName("old-disk-2").XMLDesc(0), "xml"))
    assert [d.path for d in parse_domain_xml(xml).disks] == [
        "/var/lib/libvirt/images/old-disk.qcow2"
    ]


def test_validation_blocks_next_with_a_message(wizard_window: WindowFixture, image: Path) -> None:
    win, _dialogs, run = wizard_window
    wizard = _open(win, run, FakeEngine)
    _to_resources(run, wizard, image)
    page = wizard.resources_page
    next_button = wizard.button(NEXT)
    assert next_button.isEnabled()

    cases: list[tuple[Callable[[], None], str, str]] = [
        (lambda: page.name_edit.setText("bad name"), "name", "Name may only contain"),
        (lambda: page.name_edit.setText(""), "name", "Name must not be empty"),
        (lambda: page.name_edit.setText("guest-01"), "name", "already exists"),
        (lambda: page.vcpus_spin.setValue(64), "vcpus", "the host has 16 CPUs"),
        (lambda: page.memory_spin.setValue(100_000), "memory", "host's memory"),
        (lambda: page.disk_spin.setValue(2), "disk", "at least 5 GiB"),
    ]
    for break_it, field, words in cases:
        break_it()
        label = page.messages[field]
        assert label.isVisible() and words in label.text(), (field, label.text())
        assert not next_button.isEnabled(), field
        page.name_edit.setText("ok-name")
        page.vcpus_spin.setValue(2)
        page.memory_spin.setValue(1024)
        page.disk_spin.setValue(10)
        assert not label.isVisible()
        assert next_button.isEnabled()


def test_a_file_that_is_not_a_disk_image_is_refused(
    wizard_window: WindowFixture, tmp_path: Path, image: Path
) -> None:
    win, _dialogs, run = wizard_window
    wizard = _open(win, run, FakeEngine)
    _next(run, wizard, PageId.SOURCE)
    source = wizard.source_page
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is text\n" * 8192)
    source.set_kind(SourceKind.LOCAL)
    source.local_panel.choose(str(text))
    panel = source.local_panel
    run(
        wait_until(lambda: panel.message.isVisible() and "not a disk image" in panel.message.text())
    )
    assert not wizard.button(NEXT).isEnabled()
    source.set_kind(SourceKind.ISO)
    source.iso_panel.choose(str(image))
    iso = source.iso_panel
    run(wait_until(lambda: "not an installer ISO" in iso.message.text()))
    assert not wizard.button(NEXT).isEnabled()


def test_catalog_marks_downloaded_images(wizard_window: WindowFixture) -> None:
    win, _dialogs, run = wizard_window
    entry = next(e for e in load_catalog() if e.id == "debian-12")
    cached = Downloader().cached_path(entry)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"x")
    cached.with_name(cached.name + ".verified").write_text("sha512 00 1")
    try:
        wizard = _open(win, run, FakeEngine)
        _next(run, wizard, PageId.SOURCE)
        tree = wizard.source_page.catalog_panel.tree
        run(wait_until(lambda: tree.topLevelItemCount() > 0))
        status = {
            tree.topLevelItem(r).text(0): tree.topLevelItem(r).text(2)  # type: ignore[union-attr]
            for r in range(tree.topLevelItemCount())
        }
        assert status[entry.name] == "Downloaded"
        assert status[next(e.name for e in load_catalog() if e.id == "debian-13")] != "Downloaded"
        assert "2 vCPUs · 2.0 GiB RAM · 20 GiB disk" in {
            tree.topLevelItem(r).text(1)  # type: ignore[union-attr]
            for r in range(tree.topLevelItemCount())
        }
    finally:
        cached.unlink()


def test_cancel_during_progress_rolls_back(wizard_window: WindowFixture, image: Path) -> None:
    win, _dialogs, run = wizard_window
    uploader = BlockingSeedUploader()
    wizard = _open(win, run, _real_engine(uploader))
    _to_resources(run, wizard, image)
    wizard.resources_page.name_edit.setText("doomed")
    _next(run, wizard, PageId.CLOUD_INIT)
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: uploader.seed_started, 10))
    progress = wizard.progress_page
    assert progress.step_state(Step.OVERLAY) is StepState.DONE
    assert progress.step_state(Step.SEED) is StepState.RUNNING
    host = win.controller.host(fixture_uri())

    def volumes(conn: libvirt.virConnect) -> set[str]:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        return set(pool.listVolumes())

    assert "doomed.qcow2" in run(host.call(volumes, "list"))
    wizard.button(CANCEL).click()
    run(wait_until(lambda: wizard.run_state is RunState.CANCELLED, 10))
    assert wizard.isVisible()  # it stays open to say what happened
    assert progress.step_state(Step.SEED) is StepState.CANCELLED
    assert "rolled back" in progress.result_label.text()
    assert "doomed.qcow2" not in run(host.call(volumes, "list"))
    assert "doomed" not in {g.name for g in host.guests.values()}
    assert wizard.button(CANCEL).text() == "&Close"
    wizard.button(CANCEL).click()
    run(wait_until(lambda: _closed(wizard)))


def test_failure_names_the_step_and_why(wizard_window: WindowFixture) -> None:
    win, dialogs, run = wizard_window
    attempts: list[int] = []

    def fail_once(host: HostConnection) -> GuestEngine:
        attempts.append(1)
        return FakeEngine(host, fail_at=Step.UPLOAD if len(attempts) == 1 else None)

    wizard = _open(win, run, fail_once)
    _to_resources(run, wizard)
    _next(run, wizard, PageId.CLOUD_INIT)
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: wizard.run_state is RunState.FAILED))
    page = wizard.progress_page
    assert page.step_state(Step.DOWNLOAD) is StepState.DONE
    assert page.step_state(Step.UPLOAD) is StepState.FAILED
    assert page.step_state(Step.OVERLAY) is StepState.PENDING
    text = page.result_label.text()
    assert "Uploading the base image to the host" in text
    assert "the pool is full" in text and "Free space in the pool" in text
    assert "removed again" in text
    assert page.details_button.isVisible()
    page.details_button.click()
    assert page.details_edit.isVisible()
    assert "0.4 GiB needed" in page.details_edit.toPlainText()
    assert not dialogs.errors  # shown in the wizard, not twice
    change = wizard.button(QWizard.WizardButton.CustomButton1)
    assert change.isVisible()
    change.click()
    assert wizard.currentId() == PageId.SUMMARY  # change the settings and try again
    wizard.back()
    assert wizard.currentId() == PageId.NETWORK
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)  # the second attempt succeeds
    run(wait_until(lambda: _closed(wizard), 10))
    run(wait_until(lambda: selected_names(win) == ["debian-13"], 10))


def test_template_mark_and_linked_clone(wizard_window: WindowFixture) -> None:
    win, dialogs, run = wizard_window
    host = win.controller.host(fixture_uri())
    template = next(
        g
        for g in sorted(host.guests.values(), key=lambda g: g.name)
        if g.state is GuestState.SHUTOFF and g.persistent
    )
    mark = win.window_actions.mark_template
    new_from = win.window_actions.new_from_template
    assert mark.objectName() == "actionMarkTemplate"
    assert new_from.objectName() == "actionNewFromTemplate"
    select(win, [template.name])
    run(wait_until(mark.isEnabled))
    assert mark.text() == "Mark as &Template" and not new_from.isEnabled()
    mark.trigger()
    run(wait_until(lambda: mark.text() == "Unmark &Template" and new_from.isEnabled()))
    new_from.trigger()
    wizard = win.findChild(NewGuestWizard, "newGuestWizard")
    assert wizard is not None
    run(wait_until(wizard.isVisible))
    assert wizard.currentId() == PageId.SOURCE
    assert wizard.source_page.kind() is SourceKind.TEMPLATE
    run(wait_until(wizard.source_page.isComplete))
    _next(run, wizard, PageId.RESOURCES)
    name = f"{template.name}-clone"
    assert wizard.resources_page.name_edit.text() == name
    assert not wizard.resources_page.vcpus_spin.isEnabled()
    _next(run, wizard, PageId.CLOUD_INIT)
    assert not wizard.cloud_init_page.enable_check.isChecked()
    _next(run, wizard, PageId.SUMMARY)  # a clone keeps the template's network
    wizard.summary_page.start_check.setChecked(False)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: _closed(wizard), 10))
    run(wait_until(lambda: selected_names(win) == [name], 10))
    assert not dialogs.errors
    assert win.selection.guests()[0].state is GuestState.SHUTOFF

    select(win, [template.name])
    run(wait_until(lambda: mark.text() == "Unmark &Template"))
    mark.trigger()
    run(wait_until(lambda: mark.text() == "Mark as &Template" and not new_from.isEnabled()))


def test_no_connected_host_says_so(qtbot: QtBot, qloop: Run) -> None:
    controller = HostController()
    win = MainWindow(controller, FakeDialogs())
    qtbot.addWidget(win)
    controller.add_host(fixture_uri(), save=False)  # not connected
    wizard = _open(win, qloop, FakeEngine)
    assert not wizard.button(NEXT).isEnabled()
    assert wizard.host_page.message.isVisible()
    assert "Connect a host first" in wizard.host_page.message.text()
    wizard.reject()
    qloop(controller.close_all())


def test_default_network() -> None:
    nets = (NetworkChoice("isolated", True, "isolated"), NetworkChoice("lan", True, "bridge"))
    assert default_network("qemu:///session", nets) == USER_NETWORK
    assert default_network("qemu:///system", (*nets, NetworkChoice("default", False, "nat"))) == (
        "default"
    )
    assert default_network("qemu:///system", nets) == "isolated"
    assert default_network("qemu:///system", ()) == USER_NETWORK


def test_wizard_is_not_imported_before_it_is_used() -> None:
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from vmgui.ui.dialogs import QtDialogs\n"
        "from vmgui.ui.controller import HostController\n"
        "from vmgui.ui.main.window import MainWindow\n"
        "app = QApplication([])\n"
        "win = MainWindow(HostController(), QtDialogs())\n"
        "win.show()\n"
        "app.processEvents()\n"
        "print(any(m.startswith('vmgui.ui.wizard') for m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_engine_errors_other_than_provision_errors_are_shown(
    wizard_window: WindowFixture,
) -> None:
    win, _dialogs, run = wizard_window

    class Broken(FakeEngine):
        async def provision(
            self, plan: ProvisionPlan, progress: ProgressCallback | None = None
        ) -> ProvisionResult:
            raise VmguiError("Test driver disconnected", "the host went away")

    wizard = _open(win, run, Broken)
    _to_resources(run, wizard)
    wizard.cloud_init_page.enable_check.setChecked(False)
    _next(run, wizard, PageId.CLOUD_INIT)
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)
    run(wait_until(lambda: wizard.run_state is RunState.FAILED))
    assert "Test driver disconnected" in wizard.progress_page.result_label.text()
    wizard.reject()
