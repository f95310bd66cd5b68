"""Async slots behind the window's actions: gather input, await the service, report.

Each function takes the window (for the status bar and dialog parent), the host controller
and, where it asks the user, the dialogs. Failures are shown through the one error path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vmgui.core.errors import VmguiError
from vmgui.core.model import DeletePlan, DeleteResult, GuestAction, GuestInfo
from vmgui.ui.hosts import HostController
from vmgui.virt import guests as guest_service
from vmgui.virt import seed as seed_service

if TYPE_CHECKING:
    from vmgui.ui.details import GuestConfigEdit
    from vmgui.ui.dialogs import Dialogs
    from vmgui.ui.mainwindow import MainWindow

_DONE = {
    GuestAction.START: "Started",
    GuestAction.SHUTDOWN: "Asked to shut down",
    GuestAction.REBOOT: "Asked to reboot",
    GuestAction.FORCE_OFF: "Forced off",
    GuestAction.PAUSE: "Paused",
    GuestAction.RESUME: "Resumed",
    GuestAction.SAVE: "Saved",
}


def _names(guests: list[GuestInfo]) -> str:
    if len(guests) <= 3:
        return ", ".join(g.name for g in guests)
    return f"{len(guests)} guests"


def combine_errors(errors: list[VmguiError], total: int, what: str) -> VmguiError:
    """One error for a bulk action: the single failure, or a summary with every reason."""
    if len(errors) == 1 and total == 1:
        return errors[0]
    details = "\n".join(
        f"• {e.summary}: {e.details}" if e.details else f"• {e.summary}" for e in errors
    )
    return VmguiError(f"{len(errors)} of {total} guests could not {what}", details)


async def run_lifecycle(
    window: MainWindow,
    controller: HostController,
    dialogs: Dialogs,
    action: GuestAction,
    guests: list[GuestInfo],
) -> None:
    """Run one lifecycle action on every selected guest, concurrently across hosts."""
    if action is GuestAction.DELETE:
        await delete_guests(window, controller, dialogs, guests)
        return
    if action is GuestAction.FORCE_OFF and not await dialogs.confirm(
        window,
        "Force off",
        f"Force off {_names(guests)}? This cuts the power: unsaved data inside the guest is lost.",
        "Force Off",
    ):
        return
    results = await asyncio.gather(
        *(
            guest_service.run_action(controller.host(g.host_uri), g, action)
            for g in guests
            if g.host_uri in controller.uris()
        ),
        return_exceptions=True,
    )
    errors = _errors(results)
    done = len(results) - len(errors)
    if done:
        window.statusBar().showMessage(
            f"{_DONE[action]} {_names(guests) if not errors else f'{done} guest(s)'}", 6000
        )
    if errors:
        window.show_error(combine_errors(errors, len(guests), action.value))


def _errors(results: Sequence[object]) -> list[VmguiError]:
    errors = []
    for result in results:
        if isinstance(result, VmguiError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
    return errors


async def delete_guests(
    window: MainWindow, controller: HostController, dialogs: Dialogs, guests: list[GuestInfo]
) -> None:
    """Confirm, then delete guests and the storage the user chose (only what they own)."""
    plans_or_errors = await asyncio.gather(
        *(guest_service.fetch_delete_plan(controller.host(g.host_uri), g) for g in guests),
        return_exceptions=True,
    )
    errors = _errors(plans_or_errors)
    if errors:
        window.show_error(combine_errors(errors, len(guests), "be inspected for deletion"))
        return
    plans = [p for p in plans_or_errors if isinstance(p, DeletePlan)]
    chosen = await dialogs.confirm_delete(window, plans)
    if chosen is None:
        window.statusBar().showMessage("Delete cancelled", 4000)
        return
    selected = set(chosen)
    results = await asyncio.gather(
        *(
            guest_service.delete_guest(
                controller.host(p.guest.host_uri),
                p.guest,
                [s.path for s in p.storage if s.path in selected],
            )
            for p in plans
        ),
        return_exceptions=True,
    )
    errors = _errors(results)
    deleted = [r for r in results if isinstance(r, DeleteResult)]
    removed = sum(len(r.removed) for r in deleted)
    kept = [k for r in deleted for k in r.kept]
    if deleted:
        window.statusBar().showMessage(
            f"Deleted {_names([r.guest for r in deleted])}; removed {removed} disk(s)", 8000
        )
    if kept:
        errors.append(
            VmguiError(
                "Some disks were kept",
                "\n".join(f"{k.path}: {k.reason}" for k in kept),
            )
        )
    if errors:
        window.show_error(combine_errors(errors, len(guests), "be deleted"))


async def apply_config_edit(
    window: MainWindow, controller: HostController, edit: GuestConfigEdit
) -> None:
    """Apply the details pane's edits to the guest's persistent configuration."""
    guest = edit.guest
    host = controller.host(guest.host_uri)
    errors: list[VmguiError] = []
    steps = []
    if edit.vcpus is not None:
        steps.append(guest_service.set_vcpus(host, guest, edit.vcpus))
    if edit.memory_mib is not None:
        steps.append(guest_service.set_memory(host, guest, edit.memory_mib))
    if edit.title is not None:
        steps.append(guest_service.set_title(host, guest, edit.title))
    if edit.autostart is not None:
        steps.append(guest_service.set_autostart(host, guest, edit.autostart))
    for step in steps:  # one after the other: each redefines the same domain
        try:
            await step
        except VmguiError as exc:
            errors.append(exc)
    if errors:
        window.show_error(combine_errors(errors, 1, "be changed") if len(errors) > 1 else errors[0])
    else:
        note = " (applies at next boot)" if guest.is_active else ""
        window.statusBar().showMessage(f"Saved the configuration of {guest.name}{note}", 6000)


async def remove_seed(
    window: MainWindow, controller: HostController, dialogs: Dialogs, guest: GuestInfo
) -> None:
    """Confirm, then detach the guest's cloud-init seed and delete its volume."""
    if not await dialogs.confirm(
        window,
        "Remove cloud-init seed",
        f"Remove the cloud-init seed of {guest.name}? cloud-init only reads it on the first "
        "boot; the seed volume (with the hashed password) is deleted.",
        "Remove",
    ):
        return
    removed = await seed_service.remove_seed(controller.host(guest.host_uri), guest)
    window.statusBar().showMessage(
        f"Removed the cloud-init seed of {guest.name} ({', '.join(removed)})", 8000
    )


async def add_host(window: MainWindow, controller: HostController, dialogs: Dialogs) -> None:
    """Ask for a URI, add the host and connect it."""
    answer = await dialogs.ask_host(window)
    if answer is None:
        return
    uri, autoconnect = answer
    controller.add_host(uri, autoconnect=autoconnect)
    await connect_host(window, controller, uri)


async def connect_host(window: MainWindow, controller: HostController, uri: str) -> None:
    """Connect a host; the failure (with libvirt's reason) is shown and stays on the row."""
    await controller.connect_host(uri)
    window.statusBar().showMessage(f"Connected to {controller.label(uri)}", 5000)


async def remove_hosts(
    window: MainWindow, controller: HostController, dialogs: Dialogs, uris: list[str]
) -> None:
    """Confirm, then disconnect and forget hosts (their guests are not touched)."""
    labels = ", ".join(controller.label(u) for u in uris)
    if not await dialogs.confirm(
        window,
        "Remove host",
        f"Remove {labels} from vmgui? The host and its guests are not changed.",
        "Remove",
    ):
        return
    for uri in uris:
        await controller.remove_host(uri)
