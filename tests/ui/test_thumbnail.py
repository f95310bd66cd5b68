"""The details pane's live screenshot of the selected guest (test driver screenshots)."""

from __future__ import annotations

import asyncio

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from tests.conftest import wait_until
from tests.ui.helpers import WindowFixture, names_in, select
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestState
from vmgui.ui.guests.thumbnail import MAX_WIDTH, UNAVAILABLE_TEXT, ThumbnailPresenter
from vmgui.virt.connection import HostConnection
from vmgui.virt.screenshot import Screenshot, fetch_screenshot


def test_thumbnail_of_the_selected_running_guest(window: WindowFixture) -> None:
    win, dialogs, run = window
    running = names_in(win, GuestState.RUNNING)[0]
    select(win, [running])
    thumb = win.guest_details.thumbnail
    run(wait_until(lambda: not thumb.image.isNull(), 5.0))
    assert thumb.isVisibleTo(win.guest_details)
    assert thumb.shown_rect().width() <= thumb.width(), "scaled to the pane's width"
    assert thumb.image.width() > MAX_WIDTH, "the test driver's screenshot is large"
    assert thumb.shown_rect().width() <= MAX_WIDTH, "a thumbnail, not a second console"
    assert thumb.height() <= thumb.heightForWidth(MAX_WIDTH) + 1
    select(win, [names_in(win, GuestState.SHUTOFF)[0]])
    run(asyncio.sleep(0.5))  # (the test driver would even take one)
    assert not thumb.isVisibleTo(win.guest_details), "a shut-off guest has no screen"
    assert not dialogs.errors


def test_thumbnail_refresh_is_rate_limited_and_follows_the_selection(
    window: WindowFixture,
) -> None:
    win, _d, run = window
    taken: list[str] = []

    async def fetch(host: HostConnection, uuid: str, name: str) -> Screenshot:
        taken.append(name)
        return await fetch_screenshot(host, uuid, name)

    pane = win.guest_details
    presenter = ThumbnailPresenter(
        pane.thumbnail, win, win.controller, fetch=fetch, interval_ms=300
    )
    first, second = names_in(win, GuestState.RUNNING)[:2]
    guests = {g.name: g for g in win.guest_list.model.guests()}
    select(win, [first])  # the guest pane (and its thumbnail) in view
    run(wait_until(pane.thumbnail.isVisible, 5.0))
    presenter.show(guests[first])
    run(wait_until(lambda: len(taken) >= 3, 5.0))
    start = len(taken)
    run(asyncio.sleep(0.25))
    assert len(taken) <= start + 1, "at most one screenshot per interval"
    presenter.show(guests[second])
    switched = len(taken)
    run(wait_until(lambda: len(taken) >= switched + 2, 5.0))
    assert set(taken[switched:]) == {second}, "never a screenshot of an unselected guest"
    presenter.show(None)
    stopped = len(taken)
    run(asyncio.sleep(0.7))
    assert len(taken) == stopped


def test_thumbnail_says_why_there_is_none_without_a_dialog(window: WindowFixture) -> None:
    win, dialogs, run = window

    async def fetch(host: HostConnection, uuid: str, name: str) -> Screenshot:
        raise VmguiError(f"Could not take a screenshot of {name}", "not supported")

    pane = win.guest_details
    presenter = ThumbnailPresenter(pane.thumbnail, win, win.controller, fetch=fetch)
    running = next(g for g in win.guest_list.model.guests() if g.state is GuestState.RUNNING)
    presenter.show(running)
    run(wait_until(lambda: pane.thumbnail.note == UNAVAILABLE_TEXT))
    assert pane.thumbnail.toolTip().endswith("not supported")
    assert pane.thumbnail.image == QImage()
    assert not dialogs.errors


def test_no_screenshots_while_the_thumbnail_is_out_of_view(window: WindowFixture) -> None:
    win, _d, run = window
    taken: list[str] = []

    async def fetch(host: HostConnection, uuid: str, name: str) -> Screenshot:
        taken.append(name)
        return await fetch_screenshot(host, uuid, name)

    pane = win.guest_details
    running = names_in(win, GuestState.RUNNING)[0]
    select(win, [running])
    run(wait_until(pane.thumbnail.isVisible, 5.0))
    presenter = ThumbnailPresenter(
        pane.thumbnail, win, win.controller, fetch=fetch, interval_ms=100
    )
    guest = next(g for g in win.guest_list.model.guests() if g.name == running)
    presenter.show(guest)
    run(wait_until(lambda: len(taken) >= 2, 5.0))
    other = QWidget()
    win.side_tabs.addTab(other, "Other")
    win.side_tabs.setCurrentWidget(other)  # the details (and the thumbnail) behind a tab
    run(asyncio.sleep(0.15))
    hidden = len(taken)
    run(asyncio.sleep(0.6))
    assert len(taken) == hidden, "no screenshot while nobody can see it"
    win.side_tabs.setCurrentIndex(0)
    run(wait_until(lambda: len(taken) > hidden, 5.0))
    presenter.show(None)
