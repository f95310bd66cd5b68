"""The lifecycle actions: objectNames, shortcuts, icons, and which are enabled."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

from vmgui.core.model import GuestAction, GuestInfo, actions_for_all


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """How one lifecycle action looks."""

    action: GuestAction
    object_name: str
    text: str
    tip: str
    shortcut: str
    icon: QStyle.StandardPixmap


LIFECYCLE_SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        GuestAction.START,
        "actionStart",
        "&Start",
        "Start (or restore) the selected guests",
        "Ctrl+Return",
        QStyle.StandardPixmap.SP_MediaPlay,
    ),
    ActionSpec(
        GuestAction.SHUTDOWN,
        "actionShutdown",
        "Shut &Down",
        "Ask the selected guests to shut down (ACPI power button)",
        "Ctrl+Shift+D",
        QStyle.StandardPixmap.SP_MediaStop,
    ),
    ActionSpec(
        GuestAction.REBOOT,
        "actionReboot",
        "&Reboot",
        "Ask the selected guests to reboot",
        "Ctrl+Shift+R",
        QStyle.StandardPixmap.SP_BrowserReload,
    ),
    ActionSpec(
        GuestAction.FORCE_OFF,
        "actionForceOff",
        "&Force Off",
        "Cut the power of the selected guests (unsaved guest data is lost)",
        "Ctrl+Shift+F",
        QStyle.StandardPixmap.SP_DialogCancelButton,
    ),
    ActionSpec(
        GuestAction.PAUSE,
        "actionPause",
        "&Pause",
        "Pause the selected guests",
        "Ctrl+Shift+P",
        QStyle.StandardPixmap.SP_MediaPause,
    ),
    ActionSpec(
        GuestAction.RESUME,
        "actionResume",
        "Res&ume",
        "Resume the selected guests",
        "Ctrl+Shift+U",
        QStyle.StandardPixmap.SP_MediaSeekForward,
    ),
    ActionSpec(
        GuestAction.SAVE,
        "actionSave",
        "Sa&ve",
        "Save the selected guests' memory to disk and stop them; Start restores them",
        "Ctrl+Shift+S",
        QStyle.StandardPixmap.SP_DialogSaveButton,
    ),
    ActionSpec(
        GuestAction.DELETE,
        "actionDelete",
        "&Delete…",
        "Delete the selected guests (asks first; can remove their own disks)",
        "Del",
        QStyle.StandardPixmap.SP_TrashIcon,
    ),
)


def build_lifecycle_actions(parent: QWidget) -> dict[GuestAction, QAction]:
    """Create one QAction per lifecycle action, all disabled until a selection exists."""
    style = parent.style()
    actions = {}
    for spec in LIFECYCLE_SPECS:
        action = QAction(QIcon(style.standardIcon(spec.icon)), spec.text, parent)
        action.setObjectName(spec.object_name)
        action.setToolTip(f"{spec.tip} ({spec.shortcut})")
        action.setStatusTip(spec.tip)
        action.setShortcut(QKeySequence(spec.shortcut))
        action.setEnabled(False)
        actions[spec.action] = action
    return actions


def update_enabled(actions: dict[GuestAction, QAction], selection: list[GuestInfo]) -> None:
    """Enable exactly the actions valid for every selected guest."""
    valid = actions_for_all(selection)
    for kind, action in actions.items():
        action.setEnabled(kind in valid)
