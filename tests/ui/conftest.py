"""UI test set-up: the session's qasync loop, and a main window on a 60-guest host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from tests.qtloop import close_loop
from tests.qtloop import qloop as qloop  # the one qasync loop of the session
from tests.ui.helpers import Run, WindowFixture, open_window


@pytest.fixture
def window(qtbot: QtBot, qloop: Run) -> Iterator[WindowFixture]:
    """A shown main window with node50.xml's 60 guests listed, and its fake dialogs."""
    with open_window(qtbot, qloop) as opened:
        assert opened[0].guest_list.proxy.rowCount() == 60
        yield opened


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the shared qasync loop before Qt goes away."""
    close_loop()
