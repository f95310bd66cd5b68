"""Every lifecycle action through the main window's actions, on a real tiny guest."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import LATE_TIMEOUT, Recorder, Run, promptly
from tests.integration.lab import GUEST_TIMEOUT, Lab, TinyGuest
from tests.ui.helpers import FakeDialogs
from vmgui.core.model import DeletePlan, GuestAction
from vmgui.ui.controller import HostController
from vmgui.ui.guests.model import GuestColumn
from vmgui.ui.main.window import MainWindow

pytestmark = pytest.mark.integration

#: An action's effect must show this fast once the action completed.
PROMPT = 1.0
#: How long an action itself may take (a managed save writes the guest's memory).
ACTION_TIMEOUT = 60.0


class Driver:
    """Drives a MainWindow connected to the lab's host, the way a user would."""

    def __init__(self, lab: Lab, win: MainWindow, dialogs: FakeDialogs, qloop: Run) -> None:
        self.lab = lab
        self.win = win
        self.dialogs = dialogs
        self.qloop = qloop
        self.rec = Recorder()  # what the controller relayed, to spot other guests' activity
        win.controller.guestChanged.connect(self.rec.guest_changed)
        win.controller.guestRemoved.connect(self.rec.guest_removed)

    def row_of(self, name: str) -> int | None:
        proxy = self.win.guest_list.proxy
        for row in range(proxy.rowCount()):
            if proxy.index(row, GuestColumn.NAME).data() == name:
                return row
        return None

    def state_shown(self, name: str) -> str:
        """The text of the State column (the column whose header is "State")."""
        model = self.win.guest_list.view.model()
        column = next(
            c
            for c in range(model.columnCount())
            if model.headerData(c, Qt.Orientation.Horizontal) == "State"
        )
        row = self.row_of(name)
        return "" if row is None else str(model.index(row, column).data())

    def select(self, name: str) -> None:
        row = self.row_of(name)
        assert row is not None, f"{name} is not listed"
        view = self.win.guest_list.view
        view.clearSelection()
        view.selectionModel().select(
            self.win.guest_list.proxy.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )

    async def idle(self) -> None:
        """Wait until every task the window started has ended."""
        await wait_until(lambda: not self.win.tasks.running, ACTION_TIMEOUT)

    def promptly(
        self, what: str, predicate: Callable[[], bool], guest: TinyGuest, timeout: float = PROMPT
    ) -> None:
        self.qloop(
            promptly(what, predicate, timeout, self.rec, {guest.uuid}), timeout + LATE_TIMEOUT + 30
        )

    def trigger(
        self, guest: TinyGuest, action: GuestAction, shown: str, timeout: float = PROMPT
    ) -> None:
        """Select the guest, trigger the action, await it, then await the State column."""
        self.select(guest.name)
        qaction = self.win.lifecycle_actions[action]
        name = qaction.objectName()
        assert qaction.isEnabled(), f"{name} is disabled for {self.state_shown(guest.name)}"
        qaction.trigger()
        assert self.win.tasks.running, f"{name} started nothing"
        self.qloop(self.idle(), ACTION_TIMEOUT + 30)
        assert not self.dialogs.errors, [str(e) for e in self.dialogs.errors]

        def describe() -> str:
            known = self.win.controller.host(self.lab.uri).guests.get(guest.uuid)
            return (
                f": the row showed {self.state_shown(guest.name)!r}, its connection knew "
                f"{known.state.label if known else 'nothing'}, libvirt said state "
                f"{self.lab.domain(guest).info()[0]}"
            )

        self.qloop(
            promptly(
                f"{guest.name} showing {shown!r} after {name}",
                lambda: self.state_shown(guest.name) == shown,
                timeout,
                self.rec,
                {guest.uuid},
                describe,
            ),
            timeout + LATE_TIMEOUT + 30,
        )


@pytest.fixture
def driver(lab: Lab, qtbot: QtBot, qloop: Run) -> Iterator[Driver]:
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    controller.add_host(lab.uri, save=False)
    try:
        qloop(controller.connect_host(lab.uri))
        yield Driver(lab, win, dialogs, qloop)
    finally:
        qloop(controller.close_all())


def _all_removable(plans: list[DeletePlan]) -> list[str]:
    return [item.path for plan in plans for item in plan.storage if item.removable]


def test_every_action_through_the_window(lab: Lab, driver: Driver, qloop: Run) -> None:
    ui = driver
    guest = lab.define_guest()
    ui.promptly("the new guest listed", lambda: ui.state_shown(guest.name) == "shut off", guest)

    ui.trigger(guest, GuestAction.START, "running")
    qloop(lab.wait_ready(guest), GUEST_TIMEOUT + 30)  # the power button needs acpid
    ui.trigger(guest, GuestAction.PAUSE, "paused")
    ui.trigger(guest, GuestAction.RESUME, "running")
    ui.trigger(guest, GuestAction.SAVE, "saved")
    assert lab.domain(guest).hasManagedSaveImage(0)
    ui.trigger(guest, GuestAction.START, "running")
    assert not lab.domain(guest).hasManagedSaveImage(0)
    ui.trigger(guest, GuestAction.SHUTDOWN, "shut off", GUEST_TIMEOUT)

    ui.trigger(guest, GuestAction.START, "running")
    domain_id = lab.domain(guest).ID()
    ui.trigger(guest, GuestAction.REBOOT, "running")
    assert lab.domain(guest).ID() == domain_id, "a reboot keeps the QEMU process"
    ui.dialogs.confirm_answer = True
    ui.trigger(guest, GuestAction.FORCE_OFF, "shut off")
    assert ui.dialogs.confirms and guest.name in ui.dialogs.confirms[-1]

    ui.dialogs.delete_answer = _all_removable
    ui.select(guest.name)
    ui.win.lifecycle_actions[GuestAction.DELETE].trigger()
    assert ui.win.tasks.running, "actionDelete started nothing"
    qloop(ui.idle(), ACTION_TIMEOUT + 30)
    assert not ui.dialogs.errors, [str(e) for e in ui.dialogs.errors]
    ui.promptly("the deleted guest's row going", lambda: ui.row_of(guest.name) is None, guest)
    (plan,) = ui.dialogs.plans[-1]
    assert [item.path for item in plan.storage if item.removable] == [guest.disk]
    assert not lab.volume_exists(guest.disk)
    assert lab.volume_exists(lab.base_path)
