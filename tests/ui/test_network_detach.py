"""Networks window → Attached guests → Detach NIC… on the test driver (node50.xml).

The test driver lists the NICs but cannot detach devices at all: the question, the
only-NIC warning and the refusal are checked here; the detach itself on the real daemon
(``tests/integration/test_networks_real.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.ui.helpers import FakeDialogs, Run, open_window
from vmgui.core.networks import AttachedNic, detach_question
from vmgui.ui.networks.window import NetworksWindow


@pytest.fixture
def networks(qtbot: QtBot, qloop: Run) -> Iterator[tuple[NetworksWindow, FakeDialogs, Run]]:
    with open_window(qtbot, qloop) as (win, dialogs, run):
        win.window_actions.networks.trigger()
        found = win.findChild(NetworksWindow, "networksWindow")
        assert isinstance(found, NetworksWindow)
        run(wait_until(lambda: found.networks.rowCount() == 2, 5))
        yield found, dialogs, run


def _select_nic(view: NetworksWindow, nics: int) -> AttachedNic:
    row = next(i for i, n in enumerate(view.attached.rows) if n.nics == nics)
    view.attached_view.selectRow(row)
    return view.attached.rows[row]


def test_attached_guests_listed_and_detach_asks(
    networks: tuple[NetworksWindow, FakeDialogs, Run],
) -> None:
    view, dialogs, run = networks
    names = [n.name for n in view.networks.rows]
    view.network_view.selectRow(names.index("default"))
    run(wait_until(lambda: view.attached.rowCount() > 0, 5))
    network = view.networks.rows[names.index("default")]
    assert sorted({n.guest for n in view.attached.rows}) == sorted(network.guests)
    assert not view.detach_button.isEnabled(), "no NIC selected yet"
    two = _select_nic(view, 2)
    assert view.detach_button.isEnabled()
    dialogs.confirm_answer = False
    view.detach_button.click()
    run(wait_until(lambda: len(dialogs.confirms) == 1, 5))
    question = dialogs.confirms[0]
    assert question.startswith(f"Detach NIC {two.mac} of {two.guest} from network default?")
    assert "only network interface" not in question
    assert two in view.attached.rows, "cancelled: nothing changed"
    one = _select_nic(view, 1)
    view.detach_button.click()
    run(wait_until(lambda: len(dialogs.confirms) == 2, 5))
    assert f"It is {one.guest}'s only network interface" in dialogs.confirms[1]
    # Confirmed: the test driver cannot detach; one line says so, the NIC stays.
    dialogs.confirm_answer = True
    view.detach_button.click()
    run(wait_until(lambda: bool(view.message.text()), 5))
    assert view.message.text().startswith(f"Could not detach NIC {one.mac} of {one.guest}")
    assert "\n" not in view.message.text() and one in view.attached.rows


def test_detach_question_says_where() -> None:
    nic = AttachedNic("web", "u", "52:54:00:00:00:01", running=False, persistent=True, nics=2)
    assert detach_question(nic, "lab") == (
        "Detach NIC 52:54:00:00:00:01 of web from network lab? It is removed from its saved config."
    )
    live = AttachedNic("web", "u", "52:54:00:00:00:01", running=True, persistent=True, nics=1)
    assert detach_question(live, "lab") == (
        "Detach NIC 52:54:00:00:00:01 of web from network lab? It is removed from the running "
        "guest now and from its saved config. It is web's only network interface: web will "
        "have no network."
    )
