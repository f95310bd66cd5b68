"""The lifecycle actions: objectNames, shortcuts, icons, and which are enabled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QStyle, QToolBar, QWidget

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


@dataclass(frozen=True, slots=True)
class WindowActions:
    """The window's non-lifecycle actions (hosts, new guest, console, templates, quit)."""

    new_guest: QAction
    open_console: QAction
    mark_template: QAction
    new_from_template: QAction
    remove_seed: QAction
    add_host: QAction
    connect: QAction
    disconnect: QAction
    autoconnect: QAction
    remove_host: QAction
    edit_host: QAction
    forget_password: QAction
    demo_host: QAction
    quit: QAction
    storage: QAction
    networks: QAction

    def host_actions(self) -> list[QAction]:
        """The actions on selected hosts, in menu order."""
        return [
            self.connect,
            self.disconnect,
            self.autoconnect,
            self.edit_host,
            self.forget_password,
            self.remove_host,
        ]

    def template_actions(self) -> list[QAction]:
        """The template and seed actions on the selected guest, in menu order."""
        return [self.mark_template, self.new_from_template, self.remove_seed]


def _make(
    parent: QWidget, name: str, text: str, shortcut: str, icon: QStyle.StandardPixmap | None
) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(name)
    if icon is not None:
        action.setIcon(parent.style().standardIcon(icon))
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    return action


def build_window_actions(parent: QWidget) -> WindowActions:
    """Create the host, new-guest, template and quit actions (not connected to slots)."""
    pixmap = QStyle.StandardPixmap
    new_guest = _make(parent, "actionNewGuest", "&New Guest…", "Ctrl+N", pixmap.SP_FileIcon)
    new_guest.setToolTip("Create a guest from an OS image (Ctrl+N)")
    new_guest.setStatusTip("Create a guest from an OS image, a disk image, an ISO or a template")
    open_console = _make(
        parent, "actionOpenConsole", "Open &Console", "Ctrl+O", pixmap.SP_ComputerIcon
    )
    open_console.setToolTip("Open the console of the selected guests (Ctrl+O)")
    open_console.setStatusTip("Show and type into the selected guests' screens")
    open_console.setEnabled(False)
    mark_template = _make(parent, "actionMarkTemplate", "Mark as &Template", "", None)
    mark_template.setStatusTip("Mark the selected guest as a template for linked clones")
    mark_template.setEnabled(False)
    new_from_template = _make(
        parent, "actionNewFromTemplate", "New Guest from Te&mplate…", "", pixmap.SP_FileLinkIcon
    )
    new_from_template.setStatusTip("Make a linked clone of the selected template")
    new_from_template.setEnabled(False)
    remove_seed = _make(parent, "actionRemoveSeed", "Remove cloud-init S&eed…", "", None)
    remove_seed.setStatusTip(
        "Detach the cloud-init seed disk of the selected shut-off guest and delete its volume"
    )
    remove_seed.setEnabled(False)
    autoconnect = _make(parent, "actionAutoconnect", "Connect at &Start", "", None)
    autoconnect.setCheckable(True)
    autoconnect.setStatusTip("Open the selected host whenever vmgui starts")
    return WindowActions(
        new_guest=new_guest,
        open_console=open_console,
        mark_template=mark_template,
        new_from_template=new_from_template,
        remove_seed=remove_seed,
        add_host=_make(
            parent, "actionAddHost", "&Add Host…", "Ctrl+Shift+N", pixmap.SP_DriveNetIcon
        ),
        connect=_make(parent, "actionConnectHost", "&Connect", "", pixmap.SP_DialogYesButton),
        disconnect=_make(
            parent, "actionDisconnectHost", "D&isconnect", "", pixmap.SP_DialogNoButton
        ),
        autoconnect=autoconnect,
        remove_host=_make(
            parent, "actionRemoveHost", "&Remove Host…", "", pixmap.SP_DialogDiscardButton
        ),
        edit_host=_make(parent, "actionEditHost", "&Edit Host…", "", None),
        forget_password=_make(parent, "actionForgetPassword", "&Forget Saved Password", "", None),
        demo_host=_make(parent, "actionDemoHost", "Open &Demo Host", "", None),
        quit=_make(parent, "actionQuit", "&Quit", "Ctrl+Q", None),
        storage=_make(parent, "actionStorage", "&Storage…", "", pixmap.SP_DriveHDIcon),
        networks=_make(parent, "actionNetworks", "&Networks…", "", pixmap.SP_DriveNetIcon),
    )


def install_toolbar_and_menus(
    window: QMainWindow,
    actions: WindowActions,
    lifecycle: dict[GuestAction, QAction],
    *,
    guest_extra: Sequence[QAction] = (),
    file_extra: Sequence[QAction] = (),
    guest_menus: Sequence[QMenu] = (),
) -> None:
    """Put the actions in the window's toolbar and File/Host/Guest menus (``guest_extra``
    and ``file_extra``: features' actions, after the window's own; ``guest_menus``: submenus
    at the top of the Guest menu, such as "Select by Tag")."""
    toolbar = QToolBar("Main")
    toolbar.setObjectName("mainToolBar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    toolbar.setMovable(False)
    toolbar.addAction(actions.new_guest)
    toolbar.addAction(actions.open_console)
    toolbar.addSeparator()
    toolbar.addActions(list(lifecycle.values()))
    window.addToolBar(toolbar)
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addActions([actions.new_guest, *file_extra, actions.add_host, actions.demo_host])
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)
    host_menu = menu.addMenu("&Host")
    host_menu.addActions(actions.host_actions())
    host_menu.addSeparator()
    host_menu.addActions([actions.storage, actions.networks])
    guest_menu = menu.addMenu("&Guest")
    for submenu in guest_menus:
        guest_menu.addMenu(submenu)
    if guest_menus:
        guest_menu.addSeparator()
    guest_menu.addAction(actions.open_console)
    guest_menu.addSeparator()
    guest_menu.addActions(list(lifecycle.values()))
    guest_menu.addSeparator()
    guest_menu.addActions(actions.template_actions())
    if guest_extra:
        guest_menu.addSeparator()
        guest_menu.addActions(list(guest_extra))
