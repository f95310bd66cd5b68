"""Fakes and helpers the UI tests (and the UI integration tests) share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri
from vmgui.core.errors import VmguiError
from vmgui.core.model import DeletePlan, GuestState
from vmgui.ui.controller import HostController
from vmgui.ui.guests.model import GuestColumn, GuestRole
from vmgui.ui.main.window import MainWindow

Run = Callable[..., Any]


class FakeDialogs:
    """Answers every question as the test says and records what was asked."""

    def __init__(self) -> None:
        self.delete_answer: Callable[[list[DeletePlan]], list[str] | None] = lambda _p: None
        self.confirm_answer = True
        self.plans: list[list[DeletePlan]] = []
        self.confirms: list[str] = []
        self.errors: list[VmguiError] = []

    async def confirm_delete(self, parent: QWidget, plans: list[DeletePlan]) -> list[str] | None:
        self.plans.append(plans)
        return self.delete_answer(plans)

    async def confirm(self, parent: QWidget, title: str, text: str, ok_label: str) -> bool:
        self.confirms.append(text)
        return self.confirm_answer

    def show_error(self, parent: QWidget, error: VmguiError) -> None:
        self.errors.append(error)

    def show_info(self, parent: QWidget, title: str, text: str) -> None:
        pass


WindowFixture = tuple[MainWindow, FakeDialogs, Run]


@contextlib.contextmanager
def open_window(qtbot: QtBot, qloop: Run, uri: str = "") -> Iterator[WindowFixture]:
    """A shown main window connected to ``uri`` (default: node50.xml); closed afterwards."""
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    uri = uri or fixture_uri()
    controller.add_host(uri, save=False)
    try:
        qloop(controller.connect_host(uri))
        yield win, dialogs, qloop
    finally:
        qloop(controller.close_all())


def row_of(win: MainWindow, name: str) -> int:
    """The guest's row in the guest view (AssertionError if it is not listed)."""
    proxy = win.guest_list.proxy
    for row in range(proxy.rowCount()):
        if proxy.index(row, GuestColumn.NAME).data() == name:
            return row
    raise AssertionError(f"{name} not listed")


def select(win: MainWindow, names: list[str]) -> None:
    """Select exactly these guests in the guest view."""
    view = win.guest_list.view
    view.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for name in names:
        index = win.guest_list.proxy.index(row_of(win, name), 0)
        view.selectionModel().select(index, flags)


def names_in(win: MainWindow, state: GuestState) -> list[str]:
    """The listed persistent guests in ``state``, sorted by name."""
    proxy = win.guest_list.proxy
    result = []
    for row in range(proxy.rowCount()):
        guest = proxy.index(row, 0).data(GuestRole)
        if guest.state is state and guest.persistent:
            result.append(guest.name)
    return sorted(result)


def state_shown(win: MainWindow, name: str) -> str:
    """The text of the guest's State column (the column whose header is "State")."""
    model = win.guest_list.view.model()
    column = next(
        c
        for c in range(model.columnCount())
        if model.headerData(c, Qt.Orientation.Horizontal) == "State"
    )
    return str(model.index(row_of(win, name), column).data())


def selected_names(win: MainWindow) -> list[str]:
    """The names of the selected guests, in view order."""
    return [g.name for g in win.selection.guests()]
