"""The window offers to remove what interrupted jobs left on a host when it connects
(test driver: node50.xml, whose guest-08 plays the leftover guest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import FakeDialogs, Run
from vmgui.core.leftovers import LeftoverBook, guest_leftover, volume_leftover
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow

URI = fixture_uri()
UUID, NAME = "bdc4716d-ee94-515d-b9a9-1044488aaaa8", "guest-08"
DISK = "/var/lib/libvirt/images/guest-08.qcow2"


@pytest.fixture
def book() -> Iterator[LeftoverBook]:
    """The user's book (a private XDG folder in tests), with guest-08 and its disk in it."""
    book = LeftoverBook()
    book.add(
        [
            guest_leftover(URI, UUID, NAME, "Could not move guest-08 to node50"),
            volume_leftover(URI, DISK, "Could not move guest-08 to node50"),
        ]
    )
    yield book
    book.path.unlink(missing_ok=True)


def _window(qtbot: QtBot) -> tuple[MainWindow, HostController]:
    controller = HostController()
    win = MainWindow(controller, FakeDialogs())
    qtbot.addWidget(win)
    win.show()
    controller.add_host(URI, save=False)
    return win, controller


def _connect_and_answer(
    win: MainWindow, controller: HostController, qloop: Run, button: str
) -> None:
    """Connect the host and answer the question, with the loop running throughout (the check
    runs as a window task from the connect on)."""

    async def answer() -> None:
        await controller.connect_host(URI)
        await wait_until(lambda: win.findChild(QMessageBox, "leftoversDialog") is not None)
        box = win.findChild(QMessageBox, "leftoversDialog")
        assert box is not None and box.isVisible()
        assert box.text() == "Interrupted jobs left 2 things on Test driver (node50.xml)"
        info = box.informativeText()
        assert f"guest {NAME} (shut off)" in info and f"volume {DISK} (538 MiB)" in info
        assert "Could not move guest-08 to node50" in info
        assert box.defaultButton() is box.findChild(QPushButton, "leftoversLaterButton")
        clicked = box.findChild(QPushButton, button)
        assert clicked is not None
        clicked.click()

    qloop(answer())


def _names(controller: HostController) -> set[str]:
    return {g.name for g in controller.host(URI).guests.values()}


def test_remove_takes_them_off_the_host(qtbot: QtBot, qloop: Run, book: LeftoverBook) -> None:
    win, controller = _window(qtbot)
    try:
        _connect_and_answer(win, controller, qloop, "leftoversRemoveButton")
        qloop(wait_until(lambda: NAME not in _names(controller) and not book.all()))
        qloop(wait_until(lambda: "Removed 2 leftovers from" in win.statusBar().currentMessage()))

        def volumes(conn: object) -> list[str]:
            pool = conn.storagePoolLookupByName("default-pool")  # type: ignore[attr-defined]
            return [str(v.path()) for v in pool.listAllVolumes(0)]

        assert DISK not in qloop(controller.host(URI).call(volumes, "read"))
        assert "guest-01" in _names(controller)
    finally:
        qloop(controller.close_all())


@pytest.mark.parametrize(
    ("button", "kept"), [("leftoversKeepButton", 0), ("leftoversLaterButton", 2)]
)
def test_keep_forgets_them_and_later_asks_again(
    qtbot: QtBot, qloop: Run, book: LeftoverBook, button: str, kept: int
) -> None:
    win, controller = _window(qtbot)
    try:
        _connect_and_answer(win, controller, qloop, button)
        qloop(wait_until(lambda: win.findChild(QMessageBox, "leftoversDialog") is None))
        assert NAME in _names(controller)  # nothing removed either way
        assert len(book.all()) == kept
    finally:
        qloop(controller.close_all())
