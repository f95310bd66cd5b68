"""The Snapshots tab and the mobility actions in the window (test driver: node50.xml)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from PySide6.QtWidgets import QCheckBox, QMenu, QMessageBox, QPushButton, QTreeWidgetItem, QWidget
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import FakeDialogs, Run, select
from vmgui.core.errors import VmguiError
from vmgui.core.migration import MoveResult
from vmgui.core.provisioning import Progress, ProgressCallback, Step
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.ui.mobility.dialogs import (
    Destination,
    ImportRequest,
    MigrateDialog,
    MigrateRequest,
    QtMobilityDialogs,
    RevertChoice,
    SnapshotRequest,
)
from vmgui.ui.mobility.jobs import JobDialog, run_with_progress, transfer_line
from vmgui.virt.connection import HostConnection


class FakeQuestions:
    """Mobility's questions, answered as the test says."""

    def __init__(self) -> None:
        self.snapshot: SnapshotRequest | None = None
        self.clone: tuple[str, bool] | None = None
        self.destinations: list[Destination] = []
        self.migrate: MigrateRequest | None = None
        self.notes: list[str] = []
        self.revert: RevertChoice | None = None
        self.reverts: list[tuple[str, str]] = []

    async def ask_snapshot(
        self, parent: QWidget, guest: str, default_name: str, disk_only_note: str
    ) -> SnapshotRequest | None:
        self.notes.append(disk_only_note)
        return self.snapshot

    async def ask_revert(self, parent: QWidget, guest: str, snapshot: str) -> RevertChoice | None:
        self.reverts.append((guest, snapshot))
        return self.revert

    async def ask_clone(self, parent: QWidget, guest: str, default: str) -> tuple[str, bool] | None:
        return self.clone

    async def ask_export_path(self, parent: QWidget, guest: str) -> Path | None:
        return None

    async def ask_import(
        self, parent: QWidget, hosts: list[tuple[str, str]]
    ) -> ImportRequest | None:
        return None

    async def ask_migrate(
        self, parent: QWidget, guest: str, destinations: list[Destination]
    ) -> MigrateRequest | None:
        self.destinations = destinations
        return self.migrate


Opened = tuple[MainWindow, FakeDialogs, FakeQuestions, Run]


@pytest.fixture
def opened(qtbot: QtBot, qloop: Run) -> Iterator[Opened]:
    controller = HostController()
    dialogs, questions = FakeDialogs(), FakeQuestions()
    win = MainWindow(controller, dialogs, mobility_dialogs=questions)
    qtbot.addWidget(win)
    win.show()
    controller.add_host(fixture_uri(), save=False)
    try:
        qloop(controller.connect_host(fixture_uri()))
        yield win, dialogs, questions, qloop
    finally:
        qloop(controller.close_all())


def _names(win: MainWindow) -> list[str]:
    tree = win.snapshots_pane.tree
    found = []
    stack = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while stack:
        item = stack.pop(0)
        assert item is not None
        found.append(item.text(0))
        stack += [item.child(i) for i in range(item.childCount())]
    return found


def _first(win: MainWindow) -> QTreeWidgetItem:
    item = win.snapshots_pane.tree.topLevelItem(0)
    assert item is not None
    return item


def _menu(win: MainWindow, title: str) -> list[str]:
    for action in win.menuBar().actions():
        menu = action.menu()
        if action.text() == title and isinstance(menu, QMenu):
            return [a.objectName() for a in menu.actions()]
    raise AssertionError(f"no menu {title}")


def test_snapshots_tab_sits_beside_details(opened: Opened) -> None:
    win = opened[0]
    tabs = win.side_tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Details", "Snapshots", "Limits"]
    pane = win.snapshots_pane
    assert not pane.create_button.isEnabled()
    assert pane.create_button.toolTip() == "Select one guest to see its snapshots."


def test_create_revert_delete_from_the_tab(opened: Opened) -> None:
    win, dialogs, questions, qloop = opened
    pane = win.snapshots_pane
    select(win, ["guest-04"])  # shut off, qcow2 disk (+ a read-only CD-ROM)
    qloop(wait_until(lambda: pane.listing is not None and pane.listing.guest == "guest-04"))
    assert pane.create_button.isEnabled()
    assert pane.revert_button.toolTip() == "Select a snapshot first."
    questions.snapshot = SnapshotRequest("s1", "before the upgrade", False)
    pane.create_button.click()
    qloop(wait_until(lambda: "s1 (current)" in _names(win)))
    assert questions.notes == [""]  # shut off: no disk-only choice to explain

    pane.tree.setCurrentItem(_first(win))
    assert pane.revert_button.isEnabled() and pane.delete_button.isEnabled()
    confirms = len(dialogs.confirms)
    questions.revert = RevertChoice.SNAPSHOT_FIRST
    pane.revert_button.click()
    qloop(wait_until(lambda: len(_names(win)) == 2))
    assert questions.reverts == [("guest-04", "s1")]
    assert len(dialogs.confirms) == confirms  # one question, no second confirm

    pane.tree.setCurrentItem(_first(win))
    pane.with_children.setChecked(True)
    pane.delete_button.click()
    qloop(wait_until(lambda: _names(win) == []))
    assert "and 1 snapshots below it" in dialogs.confirms[-1] or _names(win) == []


def test_refusal_reasons_show_before_clicking(opened: Opened) -> None:
    win, _dialogs, _questions, qloop = opened
    pane = win.snapshots_pane
    select(win, ["guest-02"])  # saved, with a writable raw disk
    qloop(wait_until(lambda: pane.listing is not None and pane.listing.guest == "guest-02"))
    reason = "Disk sdb is raw: internal snapshots need every writable disk in qcow2 format."
    assert not pane.create_button.isEnabled() and pane.create_button.toolTip() == reason
    assert reason in pane.reason.text()


def test_mobility_actions_say_why_they_are_off(opened: Opened) -> None:
    win, dialogs, questions, qloop = opened
    m = win.mobility
    select(win, ["guest-01"])  # running
    assert not m.clone.isEnabled() and "shut it down first" in m.clone.toolTip()
    assert not m.migrate.isEnabled()
    assert m.migrate.toolTip() == "Connect another host to move the guest to."
    assert m.import_.isEnabled()
    select(win, ["guest-04"])
    assert m.clone.isEnabled() and m.export.isEnabled()
    names = _menu(win, "&Guest")
    assert {"actionCloneGuest", "actionExportGuest", "actionMigrateGuest"} <= set(names)
    assert "actionImportGuest" in _menu(win, "&File")

    host = win.controller.host(fixture_uri())
    questions.clone = ("guest-04-copy", False)
    m.clone.trigger()
    qloop(wait_until(lambda: "guest-04-copy" in [g.name for g in host.guests.values()]))
    qloop(wait_until(lambda: [g.name for g in win.selection.guests()] == ["guest-04-copy"]))
    select(win, ["guest-04"])
    m.clone.trigger()  # the same name again: refused before anything is made, and shown
    qloop(wait_until(lambda: bool(dialogs.errors)))
    assert "A guest named 'guest-04-copy' already exists" in str(dialogs.errors[-1])

    m.migrate.setEnabled(True)  # one host only: the dialog would list nothing to move to
    m.migrate.trigger()
    qloop(wait_until(lambda: questions.destinations == [] and win.tasks.running == 0))


class _RecordingJobDialog(JobDialog):
    made: ClassVar[list[_RecordingJobDialog]] = []

    def __init__(self, title: str, parent: QWidget) -> None:
        super().__init__(title, parent)
        _RecordingJobDialog.made.append(self)


def test_job_dialog_shows_progress_and_cancel_cancels(qtbot: QtBot, qloop: Run) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def job(progress: ProgressCallback) -> str:
        progress(Progress(Step.EXPORT, "vda", 0.25, 25 << 20, 100 << 20, 5 << 20, 15.0))
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "done"

    async def scenario() -> str | None:
        task = asyncio.ensure_future(run_with_progress(parent, "Export", job, _RecordingJobDialog))
        await started.wait()
        dialog = _RecordingJobDialog.made[-1]
        assert dialog.bar.value() == 250
        assert dialog.transfer_label.text() == "25.0 MiB of 100 MiB · 5.0 MiB/s · 15 s left"
        dialog.buttons.rejected.emit()
        return await task

    assert qloop(scenario()) is None and cancelled == [True]
    assert transfer_line(Progress(Step.COPY, "")) == ""


def test_job_failures_propagate(qtbot: QtBot, qloop: Run) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)

    async def job(progress: ProgressCallback) -> None:
        raise VmguiError("boom")

    with pytest.raises(VmguiError, match="boom"):
        qloop(run_with_progress(parent, "X", job))


@pytest.mark.parametrize(("choice", "snapshots"), [(None, ["s1"]), (RevertChoice.DISCARD, ["s1"])])
def test_revert_cancelled_or_discarding_takes_no_snapshot(
    opened: Opened, choice: RevertChoice | None, snapshots: list[str]
) -> None:
    win, dialogs, questions, qloop = opened
    pane = win.snapshots_pane
    select(win, ["guest-04"])
    qloop(wait_until(lambda: pane.listing is not None and pane.listing.guest == "guest-04"))
    questions.snapshot = SnapshotRequest("s1", "", False)
    pane.create_button.click()
    qloop(wait_until(lambda: "s1 (current)" in _names(win)))
    pane.tree.setCurrentItem(_first(win))
    questions.revert = choice
    pane.revert_button.click()
    qloop(wait_until(lambda: questions.reverts == [("guest-04", "s1")]))
    qloop(asyncio.sleep(0.2))
    assert [n.removesuffix(" (current)") for n in _names(win)] == snapshots
    assert dialogs.confirms == []
    reverted = "reverted to s1" in win.statusBar().currentMessage()
    assert reverted is (choice is RevertChoice.DISCARD)


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        ("snapshotFirstButton", RevertChoice.SNAPSHOT_FIRST),
        ("revertDiscardButton", RevertChoice.DISCARD),
        ("cancel", None),
    ],
)
def test_the_revert_question_has_three_answers(
    qtbot: QtBot, qloop: Run, button: str, expected: RevertChoice | None
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()

    async def answer() -> RevertChoice | None:
        task = asyncio.ensure_future(QtMobilityDialogs().ask_revert(parent, "web1", "s1"))
        await wait_until(lambda: parent.findChild(QMessageBox, "snapshotRevertDialog") is not None)
        box = parent.findChild(QMessageBox, "snapshotRevertDialog")
        assert box is not None and box.isVisible()
        assert box.text() == "Revert web1 to s1?" and "lost" in box.informativeText()
        assert box.defaultButton() is box.findChild(QPushButton, "snapshotFirstButton")
        if button == "cancel":
            box.escapeButton().click()
        else:
            clicked = box.findChild(QPushButton, button)
            assert clicked is not None
            clicked.click()
        return await asyncio.wait_for(task, 5)

    assert qloop(answer()) is expected


def test_migrate_dialog_says_where_and_whether_read_only_media_stay(qtbot: QtBot) -> None:
    destinations = [
        Destination("test:///a", "Host A", ""),
        Destination("test:///b", "Host B", "not connected"),
    ]
    dialog = MigrateDialog("web-1", destinations, None)
    qtbot.addWidget(dialog)
    assert dialog.request() is None  # nothing chosen yet
    dialog.hosts.setCurrentRow(1)
    assert dialog.request() is None  # a host that cannot take it
    dialog.hosts.setCurrentRow(0)
    assert dialog.request() == MigrateRequest("test:///a", False)
    detach = dialog.findChild(QCheckBox, "detachReadonlyCheck")
    assert detach is not None and not detach.isChecked()
    detach.setChecked(True)
    assert dialog.request() == MigrateRequest("test:///a", True)


def test_the_move_gets_the_dialogs_choice(opened: Opened, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrate... hands the dialog's "leave read-only media behind" to the move."""
    win, dialogs, questions, qloop = opened
    other = fixture_uri("sharing.xml")
    win.controller.add_host(other, save=False)
    qloop(win.controller.connect_host(other))
    moves: list[dict[str, object]] = []

    async def fake_move(
        src: HostConnection, dst: HostConnection, uuid: str, **options: object
    ) -> MoveResult:
        moves.append({"dst": dst.uri, "uuid": uuid, **options})
        return MoveResult("guest-04", uuid, src.uri, dst.uri, False, ())

    monkeypatch.setattr("vmgui.ui.mobility.actions.move_guest", fake_move)
    select(win, ["guest-04"])
    questions.migrate = MigrateRequest(other, detach_readonly=True)
    win.mobility.migrate.setEnabled(True)
    win.mobility.migrate.trigger()
    qloop(wait_until(lambda: bool(moves) and win.tasks.running == 0))
    assert moves[0]["dst"] == other and moves[0]["detach_readonly"] is True
    assert not dialogs.errors
