"""The main window on a 60-guest test-driver host: models, filter, actions, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QAbstractItemModel, QItemSelectionModel, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.modeltest import ModelTester

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import WindowFixture, names_in, row_of, select, state_shown
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, GuestAction, GuestState
from vmgui.ui.guests import commands
from vmgui.ui.guests.model import GuestColumn, GuestRole
from vmgui.ui.main.window import MainWindow


def test_contract_object_names(window: WindowFixture) -> None:
    win, _d, _run = window
    assert win.objectName() == "mainWindow"
    assert win.findChild(QWidget, "hostView") is win.host_view
    assert win.findChild(QWidget, "guestView") is win.guest_list.view
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
        state_shown(win, win.guest_list.proxy.index(r, 0).data())
        for r in range(win.guest_list.proxy.rowCount())
    }
    assert states == {"running", "paused", "shut off", "crashed", "suspended", "saved"}


_MODELS: dict[str, Callable[[MainWindow], QAbstractItemModel]] = {
    "guest_model": lambda win: win.guest_list.model,
    "guest_proxy": lambda win: win.guest_list.proxy,
    "host_model": lambda win: win.host_model,
    "fleet_model": lambda win: win.fleet.model,
}


@pytest.mark.parametrize("which", list(_MODELS))
def test_models_pass_qtmodeltester(
    window: WindowFixture, qtmodeltester: ModelTester, which: str
) -> None:
    """Each model passes, also while guests change and hosts reconnect."""
    win, _d, run = window
    qtmodeltester.check(_MODELS[which](win), force_py=True)  # type: ignore[no-untyped-call]
    chosen = names_in(win, GuestState.SHUTOFF)[:2]
    assert len(chosen) == 2
    select(win, chosen)
    win.lifecycle_actions[GuestAction.START].trigger()
    run(wait_until(lambda: all(state_shown(win, n) == "running" for n in chosen), 5.0))
    uri = fixture_uri()
    run(win.controller.disconnect_host(uri))
    run(win.controller.connect_host(uri))
    assert win.guest_list.proxy.rowCount() == 60


def test_host_row_shows_state_and_counts(window: WindowFixture) -> None:
    win, _d, _run = window
    model = win.host_model
    assert model.rowCount() == 2  # "All hosts", then the host
    row = model.row_of(fixture_uri())
    assert row == 1
    assert model.index(row, 1).data() == ConnectionState.CONNECTED.label
    assert model.index(row, 2).data() == "38/60"  # running + paused + suspended


def test_filter_by_name_and_state(window: WindowFixture) -> None:
    win, _d, _run = window
    win.guest_list.filter_edit.setText("GUEST-0")
    assert win.guest_list.proxy.rowCount() == 9
    win.guest_list.filter_edit.clear()
    win.guest_list.state_filter.setCurrentText("Paused")
    assert win.guest_list.proxy.rowCount() == 6
    win.guest_list.state_filter.setCurrentText("Shut off")
    assert win.guest_list.proxy.rowCount() == 20  # includes saved guests
    win.guest_list.state_filter.setCurrentText("All states")
    assert win.guest_list.proxy.rowCount() == 60


def test_sorting_by_memory(window: WindowFixture) -> None:
    win, _d, _run = window
    win.guest_list.view.sortByColumn(GuestColumn.MEMORY, Qt.SortOrder.DescendingOrder)
    proxy = win.guest_list.proxy
    memories = [proxy.index(r, 0).data(GuestRole).memory_kib for r in range(proxy.rowCount())]
    assert memories == sorted(memories, reverse=True)


def test_actions_enabled_per_state(window: WindowFixture) -> None:
    win, _d, _run = window
    acts = win.lifecycle_actions

    def enabled() -> set[GuestAction]:
        return {k for k, a in acts.items() if a.isEnabled()}

    assert enabled() == set()
    select(win, names_in(win, GuestState.RUNNING)[:1])
    assert enabled() == {
        GuestAction.SHUTDOWN,
        GuestAction.REBOOT,
        GuestAction.FORCE_OFF,
        GuestAction.PAUSE,
        GuestAction.SAVE,
    }
    select(win, names_in(win, GuestState.SHUTOFF)[:2])
    assert enabled() == {GuestAction.START, GuestAction.DELETE}
    select(win, names_in(win, GuestState.PAUSED)[:1])
    assert GuestAction.RESUME in enabled() and GuestAction.PAUSE not in enabled()
    select(win, names_in(win, GuestState.RUNNING)[:1] + names_in(win, GuestState.SHUTOFF)[:1])
    assert enabled() == set()  # nothing is valid for both


def test_bulk_start_through_the_action(window: WindowFixture) -> None:
    win, dialogs, run = window
    names = names_in(win, GuestState.SHUTOFF)[:3]
    select(win, names)
    win.lifecycle_actions[GuestAction.START].trigger()
    run(wait_until(lambda: all(state_shown(win, n) == "running" for n in names), 5.0))
    assert not dialogs.errors


def test_force_off_asks_first(window: WindowFixture) -> None:
    win, dialogs, run = window
    name = names_in(win, GuestState.RUNNING)[0]
    select(win, [name])
    dialogs.confirm_answer = False
    win.lifecycle_actions[GuestAction.FORCE_OFF].trigger()
    run(wait_until(lambda: len(dialogs.confirms) == 1))
    assert state_shown(win, name) == "running"
    dialogs.confirm_answer = True
    win.lifecycle_actions[GuestAction.FORCE_OFF].trigger()
    run(wait_until(lambda: state_shown(win, name) == "shut off", 5.0))


def test_delete_confirms_and_cancel_keeps_guest(
    window: WindowFixture,
) -> None:
    win, dialogs, run = window
    name = names_in(win, GuestState.SHUTOFF)[0]
    select(win, [name])
    dialogs.delete_answer = lambda _plans: None
    win.lifecycle_actions[GuestAction.DELETE].trigger()
    run(wait_until(lambda: len(dialogs.plans) == 1))
    assert dialogs.plans[0][0].guest.name == name
    row_of(win, name)  # still listed

    dialogs.delete_answer = lambda plans: [s.path for p in plans for s in p.storage]
    win.lifecycle_actions[GuestAction.DELETE].trigger()
    run(wait_until(lambda: win.guest_list.proxy.rowCount() == 59, 5.0))
    with pytest.raises(AssertionError):
        row_of(win, name)
    assert not dialogs.errors


def test_action_error_is_shown_with_guest_name(
    window: WindowFixture,
) -> None:
    win, dialogs, run = window
    name = names_in(win, GuestState.RUNNING)[0]
    select(win, [name])
    # Remove the guest behind vmgui's back, then act on the stale selection.
    guest = win.selection.guests()[0]
    host = win.controller.host(guest.host_uri)

    def destroy_and_undefine(conn: Any) -> None:
        dom = conn.lookupByUUIDString(guest.uuid)
        dom.destroy()
        if dom.isPersistent():
            dom.undefine()

    run(host.call(destroy_and_undefine, "raw"))
    run(commands.run_lifecycle(win, win.controller, dialogs, GuestAction.PAUSE, [guest]))
    assert dialogs.errors and name in dialogs.errors[-1].summary
    run(wait_until(lambda: win.guest_list.proxy.rowCount() == 59, 5.0))


def test_details_follow_selection(window: WindowFixture) -> None:
    win, _d, _run = window
    name = names_in(win, GuestState.RUNNING)[0]
    select(win, [name])
    assert win.details.currentWidget() is win.guest_details
    win.guest_list.view.clearSelection()
    host_index = win.host_model.index(win.host_model.row_of(fixture_uri()), 0)
    win.host_view.selectionModel().select(
        host_index,
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert win.details.currentWidget() is win.host_details


def test_disconnect_and_reconnect_host(window: WindowFixture) -> None:
    win, _d, run = window
    uri = fixture_uri()
    run(win.controller.disconnect_host(uri))
    assert win.guest_list.proxy.rowCount() == 0
    assert win.host_model.index(win.host_model.row_of(uri), 1).data() == "disconnected"
    run(win.controller.connect_host(uri))
    assert win.guest_list.proxy.rowCount() == 60


def test_add_host_validates_uri(window: WindowFixture) -> None:
    win, _d, _run = window
    with pytest.raises(VmguiError, match="Could not add the host"):
        win.controller.add_host("not a uri", save=False)
    with pytest.raises(VmguiError, match="already"):
        win.controller.add_host(fixture_uri(), save=False)


def test_remove_seed_action_follows_selection_and_reports(
    window: WindowFixture,
) -> None:
    win, dialogs, run = window
    action = win.window_actions.remove_seed
    select(win, names_in(win, GuestState.RUNNING)[:1])
    assert not action.isEnabled()
    select(win, names_in(win, GuestState.SHUTOFF)[:1])
    assert action.isEnabled()
    action.trigger()  # the fixture's guests have no seed: a clear error, nothing else
    run(wait_until(lambda: bool(dialogs.errors), 5.0))
    assert "no cloud-init seed" in str(dialogs.errors[-1])
    assert dialogs.confirms
