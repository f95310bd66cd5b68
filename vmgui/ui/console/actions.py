"""The console window's actions: Send Key, view, screenshot, keyboard grab, guest lifecycle.

No keyboard shortcuts: while the console has focus every key belongs to the guest.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QStyle, QToolBar, QToolButton, QWidget

from vmgui.core.model import GuestAction, GuestInfo, valid_actions
from vmgui.core.rfb.keys import KEY_SEQUENCES

_P = QStyle.StandardPixmap
#: The lifecycle actions the console window offers: (action, objectName, text, icon).
LIFECYCLE: tuple[tuple[GuestAction, str, str, QStyle.StandardPixmap], ...] = (
    (GuestAction.START, "consoleStart", "Start", _P.SP_MediaPlay),
    (GuestAction.SHUTDOWN, "consoleShutdown", "Shut Down", _P.SP_MediaStop),
    (GuestAction.REBOOT, "consoleReboot", "Reboot", _P.SP_BrowserReload),
    (GuestAction.FORCE_OFF, "consoleForceOff", "Force Off", _P.SP_DialogCancelButton),
    (GuestAction.PAUSE, "consolePause", "Pause", _P.SP_MediaPause),
    (GuestAction.RESUME, "consoleResume", "Resume", _P.SP_MediaSeekForward),
)


@dataclass(frozen=True, slots=True)
class ConsoleActions:
    """The window's actions (not connected to slots)."""

    send_keys: dict[str, QAction]
    send_key_menu: QMenu
    scale: QAction
    full_screen: QAction
    screenshot: QAction
    grab: QAction
    lifecycle: dict[GuestAction, QAction]

    def update_lifecycle(self, guest: GuestInfo | None) -> None:
        """Enable the lifecycle actions valid for ``guest`` (none when it is gone)."""
        valid = valid_actions(guest.state, guest.persistent) if guest is not None else set()
        for kind, action in self.lifecycle.items():
            action.setEnabled(kind in valid)

    def set_live(self, live: bool) -> None:
        """Enable what needs a live screen."""
        for action in (*self.send_keys.values(), self.screenshot, self.grab):
            action.setEnabled(live)
        self.send_key_menu.setEnabled(live)


def _action(parent: QWidget, name: str, text: str, tip: str) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(name)
    action.setToolTip(tip)
    action.setStatusTip(tip)
    return action


def build_console_actions(parent: QWidget) -> ConsoleActions:
    """Create the actions, all for a window that is not connected yet."""
    style = parent.style()
    menu = QMenu("Send &Key", parent)
    menu.setObjectName("sendKeyMenu")
    send_keys = {}
    for label in KEY_SEQUENCES:
        action = menu.addAction(label)
        action.setObjectName(f"sendKey{label.replace('+', '')}")
        send_keys[label] = action
    scale = _action(parent, "consoleScale", "Scale to Window", "Fit the screen to the window")
    scale.setCheckable(True)
    full_screen = _action(
        parent, "consoleFullScreen", "Full Screen", "Show the console full screen"
    )
    full_screen.setCheckable(True)
    screenshot = _action(
        parent, "consoleScreenshot", "Screenshot…", "Save the guest's screen as a PNG image"
    )
    screenshot.setIcon(style.standardIcon(_P.SP_DialogSaveButton))
    grab = _action(
        parent,
        "consoleGrab",
        "Grab Keyboard",
        "Send every key to the guest, also the desktop's shortcuts (Ctrl+Alt releases it)",
    )
    grab.setCheckable(True)
    lifecycle = {}
    for kind, name, text, icon in LIFECYCLE:
        action = _action(parent, name, text, f"{text} the guest")
        action.setIcon(style.standardIcon(icon))
        action.setEnabled(False)
        lifecycle[kind] = action
    actions = ConsoleActions(send_keys, menu, scale, full_screen, screenshot, grab, lifecycle)
    actions.set_live(False)
    return actions


def build_toolbar(actions: ConsoleActions) -> QToolBar:
    """The console window's toolbar (``consoleToolBar``)."""
    toolbar = QToolBar("Console")
    toolbar.setObjectName("consoleToolBar")
    toolbar.setMovable(False)
    button = QToolButton()
    button.setObjectName("sendKeyButton")
    button.setText("Send Key")
    button.setMenu(actions.send_key_menu)
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    toolbar.addWidget(button)
    toolbar.addActions([actions.scale, actions.full_screen, actions.screenshot, actions.grab])
    toolbar.addSeparator()
    toolbar.addActions(list(actions.lifecycle.values()))
    return toolbar
