"""The shared seams: Selection (one focus rule) and TaskOwner (one task set)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, GuestState
from vmgui.ui.shell import Selection
from vmgui.ui.tasks import TaskOwner

GUEST_ROLE = Qt.ItemDataRole.UserRole + 10
HOST_ROLE = Qt.ItemDataRole.UserRole + 11


def _guest(name: str, uri: str) -> GuestInfo:
    return GuestInfo(
        host_uri=uri,
        uuid=f"uuid-{name}",
        name=name,
        state=GuestState.RUNNING,
        vcpus=1,
        memory_kib=1024,
        max_memory_kib=1024,
        persistent=True,
    )


def _models() -> tuple[QStandardItemModel, QStandardItemModel]:
    guests, hosts = QStandardItemModel(), QStandardItemModel()
    for name, uri in (("a", "test:///one"), ("b", "test:///two")):
        item = QStandardItem(name)
        item.setData(_guest(name, uri), GUEST_ROLE)
        guests.appendRow(item)
    for uri in ("test:///one", "test:///two"):
        item = QStandardItem(uri)
        item.setData(uri, HOST_ROLE)
        hosts.appendRow(item)
    return guests, hosts


def test_selection_focus_rule(qapp: Any) -> None:
    guests, hosts = _models()
    guest_sel, host_sel = QItemSelectionModel(guests), QItemSelectionModel(hosts)
    known = ["test:///two", "test:///one"]
    sel = Selection(guest_sel, host_sel, lambda: known, guest_role=GUEST_ROLE, host_role=HOST_ROLE)
    changes: list[None] = []
    sel.changed.connect(lambda: changes.append(None))

    assert sel.guests() == [] and sel.hosts() == []
    assert sel.focused_host() == "test:///two"  # nothing selected: the first known host

    rows = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    guest_sel.select(guests.index(1, 0), rows)
    assert [g.name for g in sel.guests()] == ["b"]
    assert sel.focused_host() == "test:///two"  # the selected guest's host
    guest_sel.select(guests.index(0, 0), rows)
    assert [g.name for g in sel.guests()] == ["a", "b"]  # view order
    assert sel.focused_host() == "test:///one"

    host_sel.select(hosts.index(1, 0), rows)
    assert sel.hosts() == ["test:///two"]
    assert sel.focused_host() == "test:///two"  # a selected host wins over guests
    assert len(changes) == 3

    known.clear()
    guest_sel.clear()
    host_sel.clear()
    assert sel.focused_host() == ""


def test_task_owner_reports_and_goes_idle(qloop: Callable[[Awaitable[Any]], Any]) -> None:
    errors: list[VmguiError] = []
    owner = TaskOwner(errors.append)
    idle: list[None] = []
    owner.idle.connect(lambda: idle.append(None))

    async def fail(error: BaseException) -> None:
        raise error

    async def run() -> None:
        tasks = [
            owner.spawn(fail(VmguiError("Could not start x", "boom"))),
            owner.spawn(fail(RuntimeError("bug"))),
            owner.spawn(asyncio.sleep(60)),
        ]
        assert owner.running == 3
        await asyncio.sleep(0.01)
        owner.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)

    qloop(run())
    assert [e.summary for e in errors] == ["Could not start x", "Unexpected internal error"]
    assert "RuntimeError('bug')" in errors[1].details
    assert owner.running == 0
    assert len(idle) == 1


def test_task_owner_returns_the_result(qloop: Callable[[Awaitable[Any]], Any]) -> None:
    owner = TaskOwner(None)

    async def answer() -> int:
        return 42

    assert qloop(owner.spawn(answer())) == 42


@pytest.mark.parametrize("on_error", [None])
def test_task_owner_without_sink_only_logs(
    qloop: Callable[[Awaitable[Any]], Any], on_error: None, caplog: pytest.LogCaptureFixture
) -> None:
    owner = TaskOwner(on_error, name="wizard task")

    async def fail() -> None:
        raise RuntimeError("bug")

    task = owner.spawn(fail())
    qloop(asyncio.gather(task, return_exceptions=True))
    assert "unexpected failure in a wizard task" in caplog.text


def test_selection_changes_when_a_selected_guest_changes_or_hosts_come_and_go(qapp: Any) -> None:
    guests, hosts = _models()
    guest_sel, host_sel = QItemSelectionModel(guests), QItemSelectionModel(hosts)
    sel = Selection(guest_sel, host_sel, list, guest_role=GUEST_ROLE, host_role=HOST_ROLE)
    changes: list[None] = []
    sel.changed.connect(lambda: changes.append(None))
    rows = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    guest_sel.select(guests.index(0, 0), rows)
    assert len(changes) == 1

    guests.item(1).setText("b2")  # not selected: nothing to say
    assert len(changes) == 1
    paused = dataclasses.replace(_guest("a", "test:///one"), state=GuestState.PAUSED)
    guests.item(0).setData(paused, GUEST_ROLE)  # the selected guest changed
    assert len(changes) == 2
    assert sel.guests()[0].state is GuestState.PAUSED

    hosts.appendRow(QStandardItem("test:///three"))  # the focused host may follow
    assert len(changes) == 3
    hosts.removeRow(2)
    assert len(changes) == 4
    guests.beginResetModel()  # a reset clears the selection without a selectionChanged
    guests.endResetModel()
    assert len(changes) == 5 and sel.guests() == []

    host_sel.select(hosts.index(0, 0), rows)
    assert sel.hosts() == ["test:///one"]
    sel.clear_hosts()
    assert sel.hosts() == []
