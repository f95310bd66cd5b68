"""The new-guest wizard (``newGuestWizard``), opened from the main window.

Imported on first use (File → New Guest…), never before the window's first paint. It gets
the window as a :class:`~vmgui.ui.shell.Shell`, the :class:`~vmgui.ui.shell.Selection` (for the
preselected host) and a callback that shows the created guest in the guest list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from PySide6.QtWidgets import QDialog

from vmgui.core.model import GuestInfo
from vmgui.core.provisioning import ProvisionResult
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import exec_async
from vmgui.ui.shell import Selection, Shell, UsageLink
from vmgui.ui.wizard.state import (
    BatchEngineFactory,
    DefaultEngine,
    EngineFactory,
    default_batch_engine,
)
from vmgui.ui.wizard.wizard import NewGuestWizard, PageId, RunState

__all__ = [
    "NewGuestWizard",
    "PageId",
    "RunState",
    "open_new_guest_wizard",
    "reveal_when_listed",
]

#: How long to wait for a new guest to show up in the list (its define event, or a refresh).
LIST_TIMEOUT = 30.0
#: How long the "Created ..." notice stays (ms).
CREATED_NOTICE_MSECS = 15000
#: How long the "not listed yet" notice stays (ms).
NOT_LISTED_NOTICE_MSECS = 10000

#: Shows a guest (host URI, UUID) in the guest list; False when it is not listed.
Reveal = Callable[[str, str], bool]


def open_new_guest_wizard(
    shell: Shell,
    selection: Selection,
    controller: HostController,
    *,
    on_created: Reveal,
    template: GuestInfo | None = None,
    provisioner_factory: EngineFactory = DefaultEngine,
    usage: UsageLink | None = None,
    batch_factory: BatchEngineFactory = default_batch_engine,
) -> None:
    """Open the wizard window-modal over the window (or raise the one already open).

    The selected host (or the selected guest's host) is preselected. With a ``template``,
    the wizard starts on the source page with that template chosen. When the wizard creates
    a guest, it closes and ``on_created`` shows the guest once it is listed.

    Args:
        shell: the window (dialog parent, notices, owner of the wizard's task).
        selection: what is selected in the window.
        controller: the hosts.
        on_created: shows the new guest (the guest list's ``reveal``).
        template: a guest marked as a template, for "New Guest from Template".
        provisioner_factory: makes the engine for a host (tests pass a fake).
        usage: the hosts' measured usage (the window's link), for placement advice.
        batch_factory: makes the batch engine over hosts by URI (tests pass one).
    """
    parent = shell.dialog_parent
    existing = parent.findChild(NewGuestWizard, "newGuestWizard")
    if existing is not None and existing.isVisible():
        existing.activateWindow()  # window-modal: only reachable programmatically
        return
    uri = template.host_uri if template is not None else _preselected_host(selection)
    wizard = NewGuestWizard(
        controller,
        initial_uri=uri,
        template_uuid=template.uuid if template is not None else "",
        provisioner_factory=provisioner_factory,
        usage=usage,
        batch_factory=batch_factory,
        parent=parent,
    )
    shell.spawn(_run_wizard(shell, controller, wizard, on_created))


def _preselected_host(selection: Selection) -> str:
    hosts = selection.hosts()
    if hosts:
        return hosts[0]
    guests = selection.guests()
    return guests[0].host_uri if guests else ""


async def _run_wizard(
    shell: Shell, controller: HostController, wizard: NewGuestWizard, on_created: Reveal
) -> None:
    try:
        accepted = await exec_async(wizard) == QDialog.DialogCode.Accepted.value
        result = wizard.created
        batch = wizard.created_batch
    finally:
        wizard.ctx.cancel_all()
        wizard.deleteLater()
    if batch is not None and batch.made:
        # A batch: say what was made and reveal its guests (the first last), also the ones
        # kept after a failure or a cancel ("keep the finished ones").
        shell.notify(f"{batch.summary()} in {batch.seconds:.1f} s", CREATED_NOTICE_MSECS)
        for made in reversed(batch.made):
            await reveal_when_listed(shell, controller, made, on_created)
        return
    if not accepted or result is None:
        return
    state = "started" if result.started else "defined"
    text = f"Created {result.name} ({state}) in {result.total_seconds:.1f} s"
    if result.warnings:
        text += " — " + " ".join(result.warnings)
    shell.notify(text, CREATED_NOTICE_MSECS)
    await reveal_when_listed(shell, controller, result, on_created)


async def reveal_when_listed(
    shell: Shell,
    controller: HostController,
    result: ProvisionResult,
    reveal: Reveal,
    timeout: float = LIST_TIMEOUT,
) -> bool:
    """Reveal the new guest once it is listed (waits for the host to report it).

    Returns:
        Whether the guest was listed (and revealed) within ``timeout`` seconds.
    """
    uri, uuid = result.host_uri, result.uuid
    loop = asyncio.get_running_loop()
    listed: asyncio.Future[None] = loop.create_future()

    def on_guest_changed(guest: GuestInfo) -> None:
        if guest.key == (uri, uuid) and not listed.done():
            listed.set_result(None)

    def on_guests_reset(reset_uri: str, guests: list[GuestInfo]) -> None:
        if reset_uri == uri and any(g.uuid == uuid for g in guests) and not listed.done():
            listed.set_result(None)

    controller.guestChanged.connect(on_guest_changed)
    controller.guestsReset.connect(on_guests_reset)
    try:
        if not _known(controller, uri, uuid):
            with contextlib.suppress(KeyError):
                controller.host(uri).request_refresh(uuid)
            await asyncio.wait_for(listed, timeout)
    except TimeoutError:
        shell.notify(f"{result.name} was created but is not listed yet", NOT_LISTED_NOTICE_MSECS)
        return False
    finally:
        controller.guestChanged.disconnect(on_guest_changed)
        controller.guestsReset.disconnect(on_guests_reset)
    return reveal(uri, uuid)


def _known(controller: HostController, uri: str, uuid: str) -> bool:
    """Whether the host already reported the guest (then the guest list has it too)."""
    try:
        return uuid in controller.host(uri).guests
    except KeyError:
        return False
