"""The new-guest wizard making a batch (pytest-qt, test-driver host, the real batch engine).

The test driver cannot stream: the batch engine gets an uploader that only creates volumes.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import pytest
import shiboken6
from PySide6.QtWidgets import QFormLayout, QLabel, QWizard

from tests.conftest import fixture_uri, wait_until
from tests.testdriver.helpers import CreateOnlyUploader
from tests.ui.helpers import WindowFixture, selected_names
from vmgui.core.batch import GuestPhase
from vmgui.core.provisioning import Step
from vmgui.ui.main.window import MainWindow
from vmgui.ui.wizard import NewGuestWizard, PageId, RunState, open_new_guest_wizard
from vmgui.ui.wizard.state import BatchEngine, DefaultEngine, SourceKind
from vmgui.virt.batch import BatchProvisioner
from vmgui.virt.connection import HostConnection

Run = Callable[..., Any]
T = TypeVar("T")
NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
CANCEL = QWizard.WizardButton.CancelButton


class Gate:
    """A batch step runner that holds guest ``index`` at ``step`` until the run is cancelled."""

    def __init__(self, index: int, step: Step) -> None:
        self.index, self.step = index, step
        self.reached = False

    async def __call__(self, index: int, step: Step, run: Callable[[], Awaitable[T]]) -> T:
        if (index, step) == (self.index, self.step):
            self.reached = True
            await asyncio.Event().wait()
        return await run()


def _batch_engine(gate: Gate | None = None) -> Callable[[Mapping[str, HostConnection]], Any]:
    def make(hosts: Mapping[str, HostConnection]) -> BatchEngine:
        return BatchProvisioner(hosts, uploader=CreateOnlyUploader(), step_runner=gate)

    return make


@pytest.fixture
def wizard_window(window: WindowFixture) -> Iterator[WindowFixture]:
    yield window
    wizard = window[0].findChild(NewGuestWizard)
    if wizard is not None and wizard.isVisible():
        wizard.reject()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 24, 1 << 30)
    path = tmp_path / "tiny.qcow2"
    path.write_bytes(bytes(header))
    return path


def _open(win: MainWindow, run: Run, gate: Gate | None = None) -> NewGuestWizard:
    open_new_guest_wizard(
        win,
        win.selection,
        win.controller,
        on_created=win.guest_list.reveal,
        provisioner_factory=DefaultEngine,
        batch_factory=_batch_engine(gate),
    )
    wizard = win.findChild(NewGuestWizard, "newGuestWizard")
    assert wizard is not None
    run(wait_until(wizard.isVisible))
    return wizard


def _next(run: Run, wizard: NewGuestWizard, expected: PageId) -> None:
    page = wizard.currentPage()
    run(wait_until(page.isComplete))
    wizard.button(COMMIT if page.isCommitPage() else NEXT).click()
    assert wizard.currentId() == expected, (wizard.currentId(), expected)


def _to_batch(run: Run, wizard: NewGuestWizard, image: Path, count: int, pattern: str) -> None:
    _next(run, wizard, PageId.SOURCE)
    wizard.source_page.set_kind(SourceKind.LOCAL)
    wizard.source_page.local_panel.choose(str(image))
    _next(run, wizard, PageId.RESOURCES)
    page = wizard.resources_page
    run(wait_until(page.isComplete))
    assert not page.batch.pattern_row.isVisibleTo(page)  # one guest: a name, no pattern
    page.batch.count_spin.setValue(count)
    assert page.batch.pattern_row.isVisibleTo(page) and not page.name_edit.isVisibleTo(page)
    assert page.batch.pattern_edit.text() == "tiny-{n}"  # from the default name
    page.batch.pattern_edit.setText(pattern)
    page.memory_spin.setValue(256)


def _summary(wizard: NewGuestWizard) -> dict[str, str]:
    form = wizard.summary_page.form
    rows = {}
    for row in range(form.rowCount()):
        title_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        value_item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        assert title_item is not None and value_item is not None
        title, value = title_item.widget(), value_item.widget()
        assert isinstance(title, QLabel) and isinstance(value, QLabel)
        rows[title.text().rstrip(":")] = value.text()
    return rows


def _domains(run: Run, host: HostConnection) -> set[str]:
    names: set[str] = run(host.call(lambda c: {d.name() for d in c.listAllDomains(0)}, "names"))
    return names


def test_a_batch_of_3(wizard_window: WindowFixture, image: Path) -> None:
    win, dialogs, run = wizard_window
    wizard = _open(win, run)
    _to_batch(run, wizard, image, 3, "guest-0{n}")
    page = wizard.resources_page
    message = page.batch.pattern_message
    run(wait_until(lambda: "guest-01 already exists" in message.text()))
    assert not page.isComplete()  # a clash keeps Next disabled
    page.batch.pattern_edit.setText("web-{n}")
    assert message.text() == "Names: web-1, web-2, web-3" and page.isComplete()
    page.batch.count_spin.setValue(40)  # 40 x 2 GiB > 64 GiB
    page.memory_spin.setValue(2048)
    assert "40 guests need 80.0 GiB of memory" in message.text() and not page.isComplete()
    page.batch.count_spin.setValue(3)
    page.memory_spin.setValue(256)
    page.batch.keep_radio.setChecked(True)
    _next(run, wizard, PageId.CLOUD_INIT)
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    rows = _summary(wizard)
    label = win.controller.label(fixture_uri())
    assert rows["Guests"] == f"3 guests web-1 … web-3 on {label}"
    assert rows["If one fails"] == "keep the finished ones"
    assert "each guest's host name from its name" in rows["First boot"]
    assert wizard.button(COMMIT).text() == "&Create 3 Guests"
    _next(run, wizard, PageId.PROGRESS)
    rows_widget = wizard.progress_page.guest_rows
    assert rows_widget.topLevelItemCount() == 3
    run(wait_until(lambda: not shiboken6.isValid(wizard) or not wizard.isVisible(), 15))
    run(wait_until(lambda: selected_names(win) == ["web-1"], 10))  # revealed, the first selected
    host = win.controller.host(fixture_uri())
    assert {"web-1", "web-2", "web-3"} <= _domains(run, host)
    assert {"web-1", "web-2", "web-3"} <= {g.name for g in host.guests.values()}
    assert not dialogs.errors


def test_cancel_mid_batch_rolls_back(wizard_window: WindowFixture, image: Path) -> None:
    win, _dialogs, run = wizard_window
    gate = Gate(3, Step.DEFINE)
    wizard = _open(win, run, gate)
    _to_batch(run, wizard, image, 4, "doomed-{n}")
    _next(run, wizard, PageId.CLOUD_INIT)
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    assert _summary(wizard)["If one fails"] == "remove all (all or none)"
    _next(run, wizard, PageId.PROGRESS)
    rows = wizard.progress_page.guest_rows
    run(wait_until(lambda: gate.reached and rows.phase(2) is GuestPhase.FINISHED, 10))
    assert rows.state_text(1) == "running" and rows.phase(3) is GuestPhase.RUNNING
    wizard.button(CANCEL).click()
    run(wait_until(lambda: wizard.run_state is RunState.CANCELLED, 10))
    text = wizard.progress_page.result_label.text()
    assert (
        "Cancelled." in text
        and "0 of 4 made; cancelled; every guest this run made was removed" in text
    )
    assert [rows.phase(i) for i in (1, 2, 3)] == [GuestPhase.ROLLED_BACK] * 3
    assert rows.phase(4) in (GuestPhase.ROLLED_BACK, GuestPhase.NOT_MADE)
    host = win.controller.host(fixture_uri())
    assert not any(n.startswith("doomed-") for n in _domains(run, host))

    def volumes(conn: libvirt.virConnect) -> set[str]:
        pool = conn.storagePoolLookupByName("default-pool")
        pool.refresh(0)
        return set(pool.listVolumes())

    assert not any(v.startswith("doomed-") for v in run(host.call(volumes, "volumes")))
    wizard.button(CANCEL).click()


def test_a_cancel_with_keep_reveals_the_kept_guests(
    wizard_window: WindowFixture, image: Path
) -> None:
    """Cancelled with "keep the finished ones": once the wizard is closed, the guests that
    stayed are revealed in the list (the first one selected) and the notice says so."""
    win, _dialogs, run = wizard_window
    gate = Gate(3, Step.DEFINE)
    wizard = _open(win, run, gate)
    _to_batch(run, wizard, image, 4, "kept-{n}")
    wizard.resources_page.batch.keep_radio.setChecked(True)
    _next(run, wizard, PageId.CLOUD_INIT)
    _next(run, wizard, PageId.NETWORK)
    _next(run, wizard, PageId.SUMMARY)
    _next(run, wizard, PageId.PROGRESS)
    rows = wizard.progress_page.guest_rows
    run(wait_until(lambda: gate.reached and rows.phase(2) is GuestPhase.FINISHED, 10))
    wizard.button(CANCEL).click()
    run(wait_until(lambda: wizard.run_state is RunState.CANCELLED, 10))
    wizard.button(CANCEL).click()  # closes the wizard
    run(wait_until(lambda: selected_names(win) == ["kept-1"], 10))
    host = win.controller.host(fixture_uri())
    assert {"kept-1", "kept-2"} <= _domains(run, host)
    assert "2 of 4 made" in win.statusBar().currentMessage()
