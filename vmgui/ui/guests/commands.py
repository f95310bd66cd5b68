"""Guest commands behind the window's actions: gather input, await the service, report.

Each function takes the :class:`~vmgui.ui.shell.Shell` (notices, dialog parent, the one error
path), the host controller and, where it asks the user, the dialogs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from vmgui.core.errors import VmguiError
from vmgui.core.model import DeletePlan, DeleteResult, GuestAction, GuestConfigEdit, GuestInfo
from vmgui.core.units import plural
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.shell import Shell
from vmgui.virt import guests as guest_service
from vmgui.virt import seed as seed_service

#: How long a finished action's notice stays (ms).
ACTION_NOTICE_MSECS = 6000
#: How long a delete's or a seed removal's notice stays (ms).
REMOVAL_NOTICE_MSECS = 8000
#: How long "Delete cancelled" stays (ms).
CANCELLED_NOTICE_MSECS = 4000

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
    shell: Shell,
    controller: HostController,
    dialogs: Dialogs,
    action: GuestAction,
    guests: list[GuestInfo],
) -> None:
    """Run one lifecycle action on every selected guest, concurrently across hosts."""
    if action is GuestAction.DELETE:
        await delete_guests(shell, controller, dialogs, guests)
        return
    if action is GuestAction.FORCE_OFF and not await dialogs.confirm(
        shell.dialog_parent,
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
        shell.notify(
            f"{_DONE[action]} {_names(guests) if not errors else plural(done, 'guest')}",
            ACTION_NOTICE_MSECS,
        )
    if errors:
        shell.show_error(combine_errors(errors, len(guests), action.value))


def _errors(results: Sequence[object]) -> list[VmguiError]:
    errors = []
    for result in results:
        if isinstance(result, VmguiError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
    return errors


async def delete_guests(
    shell: Shell, controller: HostController, dialogs: Dialogs, guests: list[GuestInfo]
) -> None:
    """Confirm, then delete guests and the storage the user chose (only what they own)."""
    plans_or_errors = await asyncio.gather(
        *(guest_service.fetch_delete_plan(controller.host(g.host_uri), g) for g in guests),
        return_exceptions=True,
    )
    errors = _errors(plans_or_errors)
    if errors:
        shell.show_error(combine_errors(errors, len(guests), "be inspected for deletion"))
        return
    plans = [p for p in plans_or_errors if isinstance(p, DeletePlan)]
    chosen = await dialogs.confirm_delete(shell.dialog_parent, plans)
    if chosen is None:
        shell.notify("Delete cancelled", CANCELLED_NOTICE_MSECS)
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
        shell.notify(
            f"Deleted {_names([r.guest for r in deleted])}; removed {plural(removed, 'disk')}",
            REMOVAL_NOTICE_MSECS,
        )
    if kept:
        errors.append(
            VmguiError(
                "Some disks were kept",
                "\n".join(f"{k.path}: {k.reason}" for k in kept),
            )
        )
    if errors:
        shell.show_error(combine_errors(errors, len(guests), "be deleted"))


async def apply_edit(shell: Shell, controller: HostController, edit: GuestConfigEdit) -> None:
    """Apply the details pane's edits to the guest's persistent configuration."""
    guest = edit.guest
    await guest_service.apply_edit(controller.host(guest.host_uri), edit)
    next_boot = edit.vcpus is not None or edit.memory_mib is not None  # tags apply at once
    note = " (applies at next boot)" if guest.is_active and next_boot else ""
    shell.notify(f"Saved the configuration of {guest.name}{note}", ACTION_NOTICE_MSECS)


async def remove_seed(
    shell: Shell, controller: HostController, dialogs: Dialogs, guest: GuestInfo
) -> None:
    """Confirm, then detach the guest's cloud-init seed and delete its volume."""
    if not await dialogs.confirm(
        shell.dialog_parent,
        "Remove cloud-init seed",
        f"Remove the cloud-init seed of {guest.name}? cloud-init only reads it on the first "
        "boot; the seed volume (with the hashed password) is deleted.",
        "Remove",
    ):
        return
    removed = await seed_service.remove_seed(controller.host(guest.host_uri), guest)
    shell.notify(
        f"Removed the cloud-init seed of {guest.name} ({', '.join(removed)})",
        REMOVAL_NOTICE_MSECS,
    )
