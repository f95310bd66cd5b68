"""The main window on a 60-guest test-driver host: models, filter, actions, delete."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, DeletePlan, GuestAction, GuestState
from vmgui.ui.hosts import HostController
from vmgui.ui.mainwindow import MainWindow
from vmgui.ui.models import GuestColumn, GuestRole

Run = Callable[..., Any]


class FakeDialogs:
    """Answers every question as the test says and records what was asked."""

    def __init__(self) -> None:
        self.delete_answer: Callable[[list[DeletePlan]], list[str] | None] = lambda _p: None
        self.confirm_answer = True
        self.plans: list[list[DeletePlan]] = []
        self.confirms: list[str] = []
        self.errors: list[VmguiError] = []
        self.host_answer: tuple[str, bool] | None = None

    async def confirm_delete(self, parent: QWidget, plans: list[DeletePlan]) -> list[str] | None:
        self.plans.append(plans)
        return self.delete_answer(plans)

    async def confirm(self, parent: QWidget, title: str, text: str, ok_label: str) -> bool:
        self.confirms.append(text)
        return self.confirm_answer

    async def ask_host(self, parent: QWidget) -> tuple[str, bool] | None:
        return self.host_answer

    def show_error(self, parent: QWidget, error: VmguiError) -> None:
        self.errors.append(error)

    def show_info(self, parent: QWidget, title: str, text: str) -> None:
        pass


@pytest.fixture
def window(qtbot: QtBot, qloop: Run) -> Iterator[tuple[MainWindow, FakeDialogs, Run]]:
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    uri = fixture_uri()
    controller.add_host(uri, save=False)
    qloop(controller.connect_host(uri))
    assert win.guest_proxy.rowCount() == 60
    yield win, dialogs, qloop
    qloop(controller.close_all())


def _row_of(win: MainWindow, name: str) -> int:
    proxy = win.guest_proxy
    for row in range(proxy.rowCount()):
        if proxy.index(row, GuestColumn.NAME).data() == name:
            return row
    raise AssertionError(f"{name} not listed")


def _select(win: MainWindow, names: list[str]) -> None:
    view = win.guest_view
    view.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for name in names:
        index = win.guest_proxy.index(_row_of(win, name), 0)
        view.selectionModel().select(index, flags)


def _names_in(win: MainWindow, state: GuestState) -> list[str]:
    proxy = win.guest_proxy
    result = []
    for row in range(proxy.rowCount()):
        guest = proxy.index(row, 0).data(GuestRole)
        if guest.state is state and guest.persistent:
            result.append(guest.name)
    return sorted(result)


def _state_shown(win: MainWindow, name: str) -> str:
    model = win.guest_view.model()
    column = next(
        c
        for c in range(model.columnCount())
        if model.headerData(c, Qt.Orientation.Horizontal) == "State"
    )
    return str(model.index(_row_of(win, name), column).data())


def test_contract_object_names(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    assert win.objectName() == "mainWindow"
    assert win.findChild(QWidget, "hostView") is win.host_view
    assert win.findChild(QWidget, "guestView") is win.guest_view
    names = {a.objectName() for a in win.findChildren(type(win.action_quit))}
    for name in (
        "actionNewGuest",
        "actionStart",
        "actionShutdown",
        "actionReboot",
        "actionForceOff",
        "actionPause",
        "actionResume",
        "actionSave",
        "actionDelete",
    ):
        assert name in names
    states = {
        _state_shown(win, win.guest_proxy.index(r, 0).data())
        for r in range(win.guest_proxy.rowCount())
    }
    assert states == {"running", "paused", "shut off", "crashed", "suspended", "saved"}


@pytest.mark.parametrize("which", ["guest_model", "guest_proxy", "host_model"])
def test_models_pass_qtmodeltester(
    window: tuple[MainWindow, FakeDialogs, Run], qtmodeltester: ModelTester, which: str
) -> None:
    """Each model passes, also while guests change, vanish and hosts reconnect."""
    win, _d, run = window
    qtmodeltester.check(getattr(win, which), force_py=True)  # type: ignore[no-untyped-call]
    _select(win, _names_in(win, GuestState.SHUTOFF)[:2])
    win.lifecycle_actions[GuestAction.START].trigger()
    run(
        wait_until(
            lambda: (
                not _names_in(win, GuestState.SHUTOFF)[:0]
                and sum(1 for n in _names_in(win, GuestState.RUNNING)) >= 30
            ),
            5.0,
        )
    )
    uri = fixture_uri()
    run(win._controller.disconnect_host(uri))
    run(win._controller.connect_host(uri))


def test_host_row_shows_state_and_counts(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    model = win.host_model
    assert model.rowCount() == 1
    assert model.index(0, 1).data() == ConnectionState.CONNECTED.label
    assert model.index(0, 2).data() == "38/60"  # running + paused + suspended


def test_filter_by_name_and_state(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    win.filter_edit.setText("GUEST-0")
    assert win.guest_proxy.rowCount() == 9
    win.filter_edit.clear()
    win.state_filter.setCurrentText("Paused")
    assert win.guest_proxy.rowCount() == 6
    win.state_filter.setCurrentText("Shut off")
    assert win.guest_proxy.rowCount() == 20  # includes saved guests
    win.state_filter.setCurrentText("All states")
    assert win.guest_proxy.rowCount() == 60


def test_sorting_by_memory(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    win.guest_view.sortByColumn(GuestColumn.MEMORY, Qt.SortOrder.DescendingOrder)
    proxy = win.guest_proxy
    memories = [proxy.index(r, 0).data(GuestRole).memory_kib for r in range(proxy.rowCount())]
    assert memories == sorted(memories, reverse=True)


def test_actions_enabled_per_state(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    acts = win.lifecycle_actions

    def enabled() -> set[GuestAction]:
        return {k for k, a in acts.items() if a.isEnabled()}

    assert enabled() == set()
    _select(win, _names_in(win, GuestState.RUNNING)[:1])
    assert enabled() == {
        GuestAction.SHUTDOWN,
        GuestAction.REBOOT,
        GuestAction.FORCE_OFF,
        GuestAction.PAUSE,
        GuestAction.SAVE,
    }
    _select(win, _names_in(win, GuestState.SHUTOFF)[:2])
    assert enabled() == {GuestAction.START, GuestAction.DELETE}
    _select(win, _names_in(win, GuestState.PAUSED)[:1])
    assert GuestAction.RESUME in enabled() and GuestAction.PAUSE not in enabled()
    _select(win, _names_in(win, GuestState.RUNNING)[:1] + _names_in(win, GuestState.SHUTOFF)[:1])
    assert enabled() == set()  # nothing is valid for both


def test_bulk_start_through_the_action(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, dialogs, run = window
    names = _names_in(win, GuestState.SHUTOFF)[:3]
    _select(win, names)
    win.lifecycle_actions[GuestAction.START].trigger()
    run(wait_until(lambda: all(_state_shown(win, n) == "running" for n in names), 5.0))
    assert not dialogs.errors


def test_force_off_asks_first(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, dialogs, run = window
    name = _names_in(win, GuestState.RUNNING)[0]
    _select(win, [name])
    dialogs.confirm_answer = False
    win.lifecycle_actions[GuestAction.FORCE_OFF].trigger()
    run(wait_until(lambda: len(dialogs.confirms) == 1))
    assert _state_shown(win, name) == "running"
    dialogs.confirm_answer = True
    win.lifecycle_actions[GuestAction.FORCE_OFF].trigger()
    run(wait_until(lambda: _state_shown(win, name) == "shut off", 5.0))


def test_delete_confirms_and_cancel_keeps_guest(
    window: tuple[MainWindow, FakeDialogs, Run],
) -> None:
    win, dialogs, run = window
    name = _names_in(win, GuestState.SHUTOFF)[0]
    _select(win, [name])
    dialogs.delete_answer = lambda _plans: None
    win.lifecycle_actions[GuestAction.DELETE].trigger()
    run(wait_until(lambda: len(dialogs.plans) == 1))
    assert dialogs.plans[0][0].guest.name == name
    _row_of(win, name)  # still listed

    dialogs.delete_answer = lambda plans: [s.path for p in plans for s in p.storage]
    win.lifecycle_actions[GuestAction.DELETE].trigger()
    run(wait_until(lambda: win.guest_proxy.rowCount() == 59, 5.0))
    with pytest.raises(AssertionError):
        _row_of(win, name)
    assert not dialogs.errors


def test_action_error_is_shown_with_guest_name(
    window: tuple[MainWindow, FakeDialogs, Run],
) -> None:
    win, dialogs, run = window
    name = _names_in(win, GuestState.RUNNING)[0]
    _select(win, [name])
    # Remove the guest behind vmgui's back, then act on the stale selection.
    guest = win.selected_guests()[0]
    host = win._controller.host(guest.host_uri)

    def destroy_and_undefine(conn: Any) -> None:
        dom = conn.lookupByUUIDString(guest.uuid)
        dom.destroy()
        if dom.isPersistent():
            dom.undefine()

    run(host.call(destroy_and_undefine, "raw"))
    from vmgui.ui import lifecycle

    run(lifecycle.run_lifecycle(win, win._controller, dialogs, GuestAction.PAUSE, [guest]))
    assert dialogs.errors and name in dialogs.errors[-1].summary
    run(wait_until(lambda: win.guest_proxy.rowCount() == 59, 5.0))


def test_details_follow_selection(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    name = _names_in(win, GuestState.RUNNING)[0]
    _select(win, [name])
    assert win.details.currentWidget() is win.guest_details
    win.guest_view.clearSelection()
    host_index = win.host_model.index(0, 0)
    win.host_view.selectionModel().select(
        host_index,
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert win.details.currentWidget() is win.host_details


def test_disconnect_and_reconnect_host(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, run = window
    uri = fixture_uri()
    run(win._controller.disconnect_host(uri))
    assert win.guest_proxy.rowCount() == 0
    assert win.host_model.index(0, 1).data() == "disconnected"
    run(win._controller.connect_host(uri))
    assert win.guest_proxy.rowCount() == 60


def test_add_host_validates_uri(window: tuple[MainWindow, FakeDialogs, Run]) -> None:
    win, _d, _run = window
    with pytest.raises(VmguiError, match="Could not add the host"):
        win._controller.add_host("not a uri", save=False)
    with pytest.raises(VmguiError, match="already"):
        win._controller.add_host(fixture_uri(), save=False)


def test_remove_seed_action_follows_selection_and_reports(
    window: tuple[MainWindow, FakeDialogs, Run],
) -> None:
    win, dialogs, run = window
    action = win.window_actions.remove_seed
    _select(win, _names_in(win, GuestState.RUNNING)[:1])
    assert not action.isEnabled()
    _select(win, _names_in(win, GuestState.SHUTOFF)[:1])
    assert action.isEnabled()
    action.trigger()  # the fixture's guests have no seed: a clear error, nothing else
    run(wait_until(lambda: bool(dialogs.errors), 5.0))
    assert "no cloud-init seed" in str(dialogs.errors[-1])
    assert dialogs.confirms
