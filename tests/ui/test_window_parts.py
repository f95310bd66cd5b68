"""The window's parts working together: remembered layout, details edits, usage sorting, counts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import (
    FakeDialogs,
    Run,
    WindowFixture,
    names_in,
    row_of,
    select,
    state_shown,
)
from vmgui.core.model import GuestAction, GuestState
from vmgui.ui.controller import HostController
from vmgui.ui.guests.model import GuestColumn, GuestRole
from vmgui.ui.hosts.model import HostColumn
from vmgui.ui.hosts.view import HOST_PANE_MAX_WIDTH, HOST_PANE_MIN_WIDTH
from vmgui.ui.main.window import MainWindow
from vmgui.ui.shell import UsageKind
from vmgui.ui.uistate import UiState


def _window(qtbot: QtBot, state: UiState | None) -> MainWindow:
    win = MainWindow(HostController(), FakeDialogs(), ui_state=state)
    qtbot.addWidget(win)
    return win


def test_geometry_and_splitters_are_remembered(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "ui.ini"
    first = _window(qtbot, UiState(path))
    first.show()
    first.resize(700, 500)  # within the offscreen screen (800x800): geometry is clamped to it
    qtbot.waitUntil(lambda: first.width() == 700)
    first.main_splitter.setSizes([260, 428])
    first.right_splitter.setSizes([150, 250])
    main_sizes, right_sizes = first.main_splitter.sizes(), first.right_splitter.sizes()
    first.close()
    assert path.is_file()

    second = _window(qtbot, UiState(path))
    second.show()
    qtbot.waitUntil(lambda: second.width() == 700)
    assert (second.width(), second.height()) == (700, 500)
    assert second.main_splitter.sizes() == main_sizes
    assert second.right_splitter.sizes() == right_sizes

    fresh = _window(qtbot, UiState(tmp_path / "other.ini"))
    assert fresh.main_splitter.sizes() != main_sizes, "nothing saved there: the defaults"


def test_ui_state_values_round_trip(tmp_path: Path) -> None:
    state = UiState(tmp_path / "ui.ini")
    state.set_value("charts/window", 300.0)
    state.set_value("stats/name", "cpu")
    state.set_value("window/geometry", QByteArray(b"\x01\x02"))
    state.sync()
    again = UiState(tmp_path / "ui.ini")
    assert again.value("charts/window", 60.0) == 300.0
    assert again.value("stats/name", "") == "cpu"
    assert again.value("window/geometry", QByteArray()) == QByteArray(b"\x01\x02")
    assert again.value("missing", 7) == 7
    assert again.value("stats/name", 1.5) == 1.5, "not a number: the default"


def test_one_host_leaves_the_width_to_guests_and_details(window: WindowFixture) -> None:
    win, _d, _run = window
    assert win.host_model.rowCount() == 2  # "All hosts", then the host
    host_width = win.host_view.width()
    assert HOST_PANE_MIN_WIDTH <= host_width <= HOST_PANE_MAX_WIDTH, host_width
    assert host_width < win.width() / 3, (host_width, win.width())
    assert win.guest_list.width() >= 2 * host_width
    assert win.side_tabs.width() >= 2 * host_width
    header = win.host_view.header()
    used = sum(header.sectionSize(c) for c in HostColumn)
    assert used <= win.host_view.viewport().width(), "the host's name, state and count fit"
    label = win.host_view.sizeHintForColumn(HostColumn.NAME)
    assert header.sectionSize(HostColumn.NAME) >= label, "the host's label is not elided"


def test_host_pane_stops_fitting_once_the_user_drags_it(window: WindowFixture) -> None:
    win, _d, _run = window
    fitted = win.main_splitter.sizes()
    win.main_splitter.splitterMoved.emit(fitted[0] + 40, 1)  # what a drag reports
    win.main_splitter.setSizes([fitted[0] + 40, fitted[1] - 40])
    row = win.host_model.row_of(fixture_uri())
    win.host_model.dataChanged.emit(win.host_model.index(row, 0), win.host_model.index(row, 0))
    assert win.main_splitter.sizes()[0] == fitted[0] + 40


def test_details_edit_is_applied_and_reloaded(window: WindowFixture) -> None:
    win, dialogs, run = window
    name = names_in(win, GuestState.SHUTOFF)[0]
    select(win, [name])
    pane = win.guest_details
    run(wait_until(lambda: pane.overview is not None and pane.overview.guest.name == name))
    vcpus = pane.vcpus_spin.value()
    pane.vcpus_spin.setValue(vcpus + 1)
    pane.title_edit.setText("Front end")
    pane.apply_button.click()
    run(
        wait_until(
            lambda: (
                pane.overview is not None
                and pane.overview.editable.vcpus == vcpus + 1
                and pane.overview.editable.title == "Front end"
            ),
            5.0,
        )
    )
    assert not dialogs.errors
    assert win.statusBar().currentMessage() == f"Saved the configuration of {name}"
    assert not pane.apply_button.isEnabled()

    pane.vcpus_spin.setValue(pane.vcpus_spin.maximum())  # more than the host has
    pane.title_edit.setText("two\nlines")
    pane.apply_button.click()
    run(wait_until(lambda: bool(dialogs.errors), 5.0))
    assert dialogs.errors[-1].summary == f"2 changes to {name} failed"
    assert "vCPUs" in dialogs.errors[-1].details and "single line" in dialogs.errors[-1].details


class _Usage:
    def __init__(self, figures: dict[tuple[str, str], float]) -> None:
        self.figures = figures
        self.kinds: set[UsageKind] = set()

    def usage_value(self, key: tuple[str, str], kind: UsageKind) -> float:
        self.kinds.add(kind)
        return self.figures.get(key, -1.0) * (1 if kind is UsageKind.CPU else 10)


def test_usage_columns_sort_by_the_usage_source(window: WindowFixture) -> None:
    win, _d, _run = window
    model, proxy = win.guest_list.model, win.guest_list.proxy
    keys = [g.key for g in model.guests()]
    usage = _Usage({key: float(i % 7) for i, key in enumerate(keys)})
    model.set_usage_source(usage)
    for column, kind in ((GuestColumn.CPU_USE, UsageKind.CPU), (GuestColumn.MEMORY_USE, None)):
        win.guest_list.view.sortByColumn(column, Qt.SortOrder.DescendingOrder)
        shown = [proxy.index(r, 0).data(GuestRole).key for r in range(proxy.rowCount())]
        values = [usage.figures[k] for k in shown]
        assert values == sorted(values, reverse=True)
        if kind is not None:
            assert kind in usage.kinds
    assert usage.kinds == {UsageKind.CPU, UsageKind.MEMORY}
    model.set_usage_source(None)
    assert model.sort_key(0, GuestColumn.CPU_USE) == -1.0


def test_counts_and_actions_follow_guest_changes(window: WindowFixture) -> None:
    win, _d, run = window
    row = win.host_model.row_of(fixture_uri())
    assert win.host_model.index(row, HostColumn.GUESTS).data() == "38/60"
    name = names_in(win, GuestState.SHUTOFF)[0]
    select(win, [name])
    start = win.lifecycle_actions[GuestAction.START]
    shutdown = win.lifecycle_actions[GuestAction.SHUTDOWN]
    assert start.isEnabled() and not shutdown.isEnabled()
    start.trigger()
    run(wait_until(lambda: state_shown(win, name) == "running", 5.0))
    # The selection did not change, its guest did: the actions and the counts follow.
    run(wait_until(lambda: shutdown.isEnabled() and not start.isEnabled(), 5.0))
    assert win.host_model.index(row, HostColumn.GUESTS).data() == "39/60"


def test_reveal_clears_filters_that_hide_the_guest(window: WindowFixture) -> None:
    win, _d, _run = window
    guests = win.guest_list
    target = guests.model.guests()[5]
    guests.filter_edit.setText("no such guest")
    guests.state_filter.setCurrentText("Crashed")
    assert guests.reveal(target.host_uri, target.uuid)
    assert [g.key for g in win.selection.guests()] == [target.key]
    assert guests.filter_edit.text() == "" and guests.state_filter.currentIndex() == 0
    assert not guests.reveal(fixture_uri(), "no-such-uuid")


def test_no_host_no_details_panes_before_they_are_needed(qtbot: QtBot, qloop: Run) -> None:
    win = _window(qtbot, None)
    assert win.details.currentWidget() is win.empty_details
    assert win.details.count() == 1, "the panes are built after the first paint, on demand"
    win.controller.add_host(fixture_uri(), save=False)
    assert win.details.currentWidget() is win.host_details, "the first host is in focus"
    qloop(win.controller.close_all())


def test_double_click_opens_the_guest_console(window: WindowFixture) -> None:
    win, dialogs, run = window
    running, off = names_in(win, GuestState.RUNNING)[0], names_in(win, GuestState.SHUTOFF)[0]
    proxy = win.guest_list.proxy
    win.guest_list.view.doubleClicked.emit(proxy.index(row_of(win, off), 0))
    (console,) = win.consoles.windows()
    assert console.objectName() == "consoleWindow"
    assert console.session.guest is not None and console.session.guest.name == off
    assert console.message_button.text() == "Start", "a shut-off guest's console offers Start"
    assert state_shown(win, off) == "shut off", "double-click no longer starts the guest"
    win.guest_list.view.doubleClicked.emit(proxy.index(row_of(win, running), 0))
    assert [c.session.guest.name for c in win.consoles.windows() if c.session.guest] == [
        off,
        running,
    ]
    win.close()
    run(wait_until(lambda: not win.consoles.tasks.running))
    assert win.consoles.windows() == [], "the consoles close with the main window"
    assert not dialogs.errors
