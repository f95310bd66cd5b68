"""The wizard's host page ranks the hosts (placement advice), and the summary re-checks.

Two test-driver hosts (``placement-a.xml``: 8 CPUs, 32 GiB; ``placement-b.xml``: 2 CPUs,
4 GiB) and a fake :class:`~vmgui.ui.shell.HostUsageSource` standing in for the stats engine.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTreeWidgetItem
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import WindowFixture
from vmgui.core.placement import HostFacts
from vmgui.ui.controller import HostController
from vmgui.ui.shell import HostUsage, UsageKind, UsageLink
from vmgui.ui.wizard import NewGuestWizard, PageId
from vmgui.ui.wizard.hostpage import CHECKING_TEXT

Run = Any
A = fixture_uri("placement-a.xml")
B = fixture_uri("placement-b.xml")
KIB_PER_GIB = 1 << 20


class FakeUsage:
    """The stats engine's answers: A's guests busy (60 % of its CPUs), B's nearly idle."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []
        self.figures = {
            A: HostUsage(8, 32 * KIB_PER_GIB, 60.0, 6 * KIB_PER_GIB, 6, 12 * KIB_PER_GIB, 600),
            B: HostUsage(2, 4 * KIB_PER_GIB, 5.0, 2.5 * KIB_PER_GIB, 2, 3 * KIB_PER_GIB, 600),
        }

    def host_usage(self, uri: str, seconds: float) -> HostUsage | None:
        self.asked.append((uri, seconds))
        return self.figures.get(uri)

    def host_trend(self, uri: str, kind: UsageKind, seconds: float, points: int) -> list[float]:
        return [math.nan] * points


class Ticker(QObject):
    ticked = Signal(str)


@pytest.fixture
def two_hosts(qloop: Run) -> Iterator[HostController]:
    controller = HostController()
    for uri in (A, B):
        controller.add_host(uri, save=False)
        qloop(controller.connect_host(uri))
    yield controller
    qloop(controller.close_all())


@pytest.fixture
def usage(qtbot: QtBot) -> tuple[UsageLink, FakeUsage]:
    link, source, ticker = UsageLink(), FakeUsage(), Ticker()
    link.attach(source, ticker.ticked)
    link.setProperty("ticker", ticker)  # keep it alive with the link
    return link, source


def _rows(wizard: NewGuestWizard) -> list[QTreeWidgetItem]:
    tree = wizard.host_page.host_list
    return [item for i in range(tree.topLevelItemCount()) if (item := tree.topLevelItem(i))]


def _advised(wizard: NewGuestWizard) -> bool:
    rows = _rows(wizard)
    return len(rows) == 2 and all(row.text(3) != CHECKING_TEXT for row in rows)


def _open(qtbot: QtBot, qloop: Run, controller: HostController, link: UsageLink) -> NewGuestWizard:
    wizard = NewGuestWizard(controller, usage=link)
    qtbot.addWidget(wizard)
    wizard.show()
    qloop(wait_until(lambda: _advised(wizard)))
    return wizard


def test_hosts_are_ranked_best_first_and_a_host_without_room_is_disabled(
    qtbot: QtBot, qloop: Run, two_hosts: HostController, usage: tuple[UsageLink, FakeUsage]
) -> None:
    link, source = usage
    wizard = _open(qtbot, qloop, two_hosts, link)
    first, second = _rows(wizard)
    assert wizard.host_page.chosen_uri() == A  # preselected
    assert not first.isDisabled() and first.text(2) != "—"
    assert first.text(3) == (
        "26.0 GiB free, CPU 40 % idle over 10 min, 6/8 vCPUs committed, "
        "100.0 GiB free in pool default, no KVM (emulated)"
    )
    assert second.isDisabled() and second.text(2) == "—"
    assert second.text(3) == "needs 2.0 GiB, 1.5 GiB available"
    assert second.toolTip(3) == second.text(3)
    assert (A, 600.0) in source.asked and (B, 600.0) in source.asked

    # Back with a smaller guest: B has room now, A still ranks first.
    wizard.ctx.state.memory_mib = 1024
    wizard.host_page.initializePage()
    qloop(wait_until(lambda: _advised(wizard)))
    first, second = _rows(wizard)
    assert [first.text(0), second.text(0)] == [two_hosts.label(A), two_hosts.label(B)]
    assert not second.isDisabled() and second.text(3).startswith("1.5 GiB free, CPU 95 % idle")

    # The less busy host first when it has as much room: B's guests idle, A's busy.
    source.figures[A] = HostUsage(8, 32 * KIB_PER_GIB, 100.0, 30.5 * KIB_PER_GIB, 6, 0, 600)
    wizard.host_page.initializePage()
    qloop(wait_until(lambda: _advised(wizard) and wizard.host_page.chosen_uri() == B))
    assert _rows(wizard)[0].text(3).startswith("1.5 GiB free, CPU 95 % idle")
    wizard.reject()


def test_when_no_host_has_room_any_connected_one_can_still_be_chosen(
    qtbot: QtBot, qloop: Run, two_hosts: HostController, usage: tuple[UsageLink, FakeUsage]
) -> None:
    link, _source = usage
    wizard = NewGuestWizard(two_hosts, usage=link)
    wizard.ctx.state.memory_mib = 64 * 1024
    qtbot.addWidget(wizard)
    wizard.show()
    qloop(wait_until(lambda: _advised(wizard)))
    assert not any(row.isDisabled() for row in _rows(wizard))
    assert wizard.host_page.isComplete()
    assert "No connected host has room" in wizard.host_page.message.text()
    wizard.reject()


def test_the_summary_rechecks_the_choice_and_spreads_a_batch(
    qtbot: QtBot, qloop: Run, two_hosts: HostController, usage: tuple[UsageLink, FakeUsage]
) -> None:
    link, _source = usage
    wizard = _open(qtbot, qloop, two_hosts, link)
    state = wizard.ctx.state
    note = wizard.summary_page.placement_note
    summary = wizard.summary_page

    # Chosen while the guest was small, then made bigger: the summary says so, in red.
    state.uri, state.memory_mib = B, 2048
    summary.initializePage()
    qloop(wait_until(lambda: "no room" in note.text()))
    assert note.text() == (
        f"{two_hosts.label(B)} has no room for the guest now: needs 2.0 GiB, 1.5 GiB available."
    )
    assert "color" in note.styleSheet() and state.assignment == ()

    state.uri = A
    summary.initializePage()
    qloop(wait_until(lambda: note.text().startswith(f"{two_hosts.label(A)} has room")))

    # A batch with "spread": each guest goes where the most room is left.
    wizard.host_page.spread_check.setChecked(True)
    assert state.spread
    state.count, state.memory_mib, state.name_pattern = 5, 1024, "web-{n}"
    summary.initializePage()
    qloop(wait_until(lambda: note.text().startswith("Spread over the hosts")))
    # 20 GiB disks: A's 100 GiB pool takes 4 of them, B (1.5 GiB of memory) one guest.
    assignment: list[str] = list(wizard.ctx.state.assignment)
    assert sorted(assignment) == [A, A, A, A, B] and assignment[0] == A

    state.count = 40
    summary.initializePage()
    qloop(wait_until(lambda: "do not fit on the hosts together" in note.text()))
    assert state.assignment == ()
    assert note.text() == (
        f"40 guests do not fit on the hosts together: room for 5 ({A}: 4, {B}: 1). "
        "Make the guests smaller or fewer."
    )
    wizard.reject()


def test_the_window_gives_the_wizard_its_usage_link(wizard_window: WindowFixture) -> None:
    win, _dialogs, run = wizard_window
    win.action_new_guest.trigger()
    wizard = win.findChild(NewGuestWizard, "newGuestWizard")
    assert wizard is not None
    run(wait_until(wizard.isVisible))
    assert wizard.currentId() == PageId.HOST
    assert wizard.ctx.placement.usage is win.usage
    wizard.reject()


@pytest.fixture
def wizard_window(window: WindowFixture) -> Iterator[WindowFixture]:
    yield window
    wizard = window[0].findChild(NewGuestWizard)
    if wizard is not None and wizard.isVisible():
        wizard.reject()


def test_a_slow_host_does_not_hold_back_the_others(
    qtbot: QtBot, qloop: Run, two_hosts: HostController, usage: tuple[UsageLink, FakeUsage]
) -> None:
    """B's facts are held back (a host whose capabilities take seconds): A is ranked, shown and
    chosen meanwhile; B's row says it is being checked until it answers."""
    link, _source = usage
    release = asyncio.Event()
    wizard = NewGuestWizard(two_hosts, usage=link)
    qtbot.addWidget(wizard)
    advisor = wizard.ctx.placement
    read = advisor._read  # the one place facts are fetched

    async def slow_b(uri: str, pool: str, image_volume: str) -> HostFacts:
        if uri == B:
            await release.wait()
        return await read(uri, pool, image_volume)

    advisor._read = slow_b  # type: ignore[method-assign]  # a seam for the held-back host
    wizard.show()
    qloop(wait_until(lambda: any(r.text(3) != CHECKING_TEXT for r in _rows(wizard))))
    rows = {row.text(0): row for row in _rows(wizard)}
    assert rows[two_hosts.label(A)].text(3).startswith("26.0 GiB free")
    assert rows[two_hosts.label(B)].text(3) == CHECKING_TEXT
    assert wizard.host_page.chosen_uri() == A
    release.set()
    qloop(wait_until(lambda: _advised(wizard)))
    wizard.reject()
