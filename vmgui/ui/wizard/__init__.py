"""The new-guest wizard (``newGuestWizard``), opened from the main window.

Imported on first use (File → New Guest…), never before the window's first paint.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QDialog

from vmgui.core.model import GuestInfo
from vmgui.core.provisioning import ProvisionResult
from vmgui.ui.dialogs import exec_async
from vmgui.ui.hosts import HostController
from vmgui.ui.wizard.state import DefaultEngine, EngineFactory
from vmgui.ui.wizard.wizard import NewGuestWizard, PageId, RunState

if TYPE_CHECKING:
    from vmgui.ui.mainwindow import MainWindow

__all__ = [
    "NewGuestWizard",
    "PageId",
    "RunState",
    "open_new_guest_wizard",
    "select_guest",
    "select_guest_when_listed",
]

#: How long to wait for a new guest to show up in the list (its define event, or a refresh).
LIST_TIMEOUT = 30.0


def open_new_guest_wizard(
    window: MainWindow,
    controller: HostController,
    *,
    template: GuestInfo | None = None,
    provisioner_factory: EngineFactory = DefaultEngine,
) -> None:
    """Open the wizard window-modal over ``window`` (or raise the one already open).

    The host selected in the window (or the selected guest's host) is preselected. With a
    ``template``, the wizard starts on the source page with that template chosen. When the
    wizard creates a guest, it closes and the guest is selected in the window's guest list.

    Args:
        window: the main window (owns the wizard's task).
        controller: the hosts.
        template: a guest marked as a template, for "New Guest from Template".
        provisioner_factory: makes the engine for a host (tests pass a fake).
    """
    existing = window.findChild(NewGuestWizard, "newGuestWizard")
    if existing is not None and existing.isVisible():
        existing.activateWindow()  # window-modal: only reachable programmatically
        return
    uri = template.host_uri if template is not None else _preselected_host(window)
    wizard = NewGuestWizard(
        controller,
        initial_uri=uri,
        template_uuid=template.uuid if template is not None else "",
        provisioner_factory=provisioner_factory,
        parent=window,
    )
    window.spawn(_run_wizard(window, controller, wizard))


def _preselected_host(window: MainWindow) -> str:
    hosts = window.selected_hosts()
    if hosts:
        return hosts[0]
    guests = window.selected_guests()
    return guests[0].host_uri if guests else ""


async def _run_wizard(
    window: MainWindow, controller: HostController, wizard: NewGuestWizard
) -> None:
    try:
        accepted = await exec_async(wizard) == QDialog.DialogCode.Accepted.value
        result = wizard.created
    finally:
        wizard.ctx.cancel_all()
        wizard.deleteLater()
    if not accepted or result is None:
        return
    state = "started" if result.started else "defined"
    text = f"Created {result.name} ({state}) in {result.total_seconds:.1f} s"
    if result.warnings:
        text += " — " + " ".join(result.warnings)
    window.statusBar().showMessage(text, 15000)
    await select_guest_when_listed(window, controller, result)


async def select_guest_when_listed(
    window: MainWindow,
    controller: HostController,
    result: ProvisionResult,
    timeout: float = LIST_TIMEOUT,
) -> bool:
    """Select the new guest in the guest list once it is there (waits for guestChanged).

    Returns:
        Whether the guest was listed (and selected) within ``timeout`` seconds.
    """
    uri, uuid = result.host_uri, result.uuid
    loop = asyncio.get_running_loop()
    listed: asyncio.Future[None] = loop.create_future()

    def on_guest_changed(guest: object) -> None:
        if isinstance(guest, GuestInfo) and guest.key == (uri, uuid) and not listed.done():
            listed.set_result(None)

    def on_guests_reset(reset_uri: str, guests: list[GuestInfo]) -> None:
        if reset_uri == uri and any(g.uuid == uuid for g in guests) and not listed.done():
            listed.set_result(None)

    controller.guestChanged.connect(on_guest_changed)
    controller.guestsReset.connect(on_guests_reset)
    try:
        if window.guest_model.row_of(uri, uuid) < 0:
            with contextlib.suppress(KeyError):
                controller.host(uri).request_refresh(uuid)
            await asyncio.wait_for(listed, timeout)
    except TimeoutError:
        window.statusBar().showMessage(f"{result.name} was created but is not listed yet", 10000)
        return False
    finally:
        controller.guestChanged.disconnect(on_guest_changed)
        controller.guestsReset.disconnect(on_guests_reset)
    return select_guest(window, uri, uuid)


def select_guest(window: MainWindow, uri: str, uuid: str) -> bool:
    """Select (and scroll to) a listed guest, clearing filters that hide it."""
    row = window.guest_model.row_of(uri, uuid)
    if row < 0:
        return False
    source = window.guest_model.index(row, 0)
    index = window.guest_proxy.mapFromSource(source)
    if not index.isValid():
        window.filter_edit.clear()
        window.state_filter.setCurrentIndex(0)
        index = window.guest_proxy.mapFromSource(source)
    if not index.isValid():
        window.host_view.clearSelection()
        index = window.guest_proxy.mapFromSource(source)
    if not index.isValid():
        return False
    view = window.guest_view
    flags = (
        QItemSelectionModel.SelectionFlag.ClearAndSelect
        | QItemSelectionModel.SelectionFlag.Rows
        | QItemSelectionModel.SelectionFlag.Current
    )
    view.selectionModel().setCurrentIndex(index, flags)
    view.scrollTo(index)
    return True
