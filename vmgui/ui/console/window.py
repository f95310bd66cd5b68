"""``consoleWindow``: one guest's console — Graphical and Serial tabs, a toolbar, the lifecycle.

The tabs are a ``QTabWidget`` (``consoleTabs``): the Graphical tab holds the screen
(``guestConsole``) or, when there is none to show, one line saying why with the button that
helps (Start, Resume, Retry); the Serial tab holds the guest's serial terminal
(``serialConsole``, :mod:`vmgui.ui.console.serialtab`), whose stream opens with the window.
The toolbar's screen actions (Send Key, screenshot, grab) work on the Graphical tab.

The window is a :class:`~vmgui.ui.shell.Shell` of its own: the lifecycle runner's
confirmations, the screenshot's file dialog and errors are modal to it, not to the main
window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QHideEvent, QImageWriter, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestAction, GuestInfo
from vmgui.core.rfb.keys import KEY_SEQUENCES
from vmgui.core.xml.display import is_local_uri
from vmgui.ui.console.actions import build_console_actions, build_toolbar
from vmgui.ui.console.serialsession import SerialOpener
from vmgui.ui.console.serialtab import SerialTab
from vmgui.ui.console.serialwidget import SerialTerminal
from vmgui.ui.console.session import ConsoleSession, ConsoleState, Phase, SessionOpener
from vmgui.ui.console.viewer import DetachedLauncher, ViewerLauncher
from vmgui.ui.console.widget import GuestConsole
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs, exec_async
from vmgui.ui.guests import commands
from vmgui.ui.shell import NOTICE_MSECS
from vmgui.ui.tasks import TaskOwner
from vmgui.ui.widgets import MUTED_STYLE, RED_COLOR
from vmgui.virt.display import INSTALL_HINT, VIEWER, viewer_argv
from vmgui.virt.serial import SerialConsole

_T = TypeVar("_T")

#: Asks where to save a screenshot: (dialog parent, suggested file name) -> path, or None.
AskPath = Callable[[QWidget, str], Awaitable[str | None]]
GRAB_HINT = "Press Ctrl+Alt to release the keyboard"
_BUTTON_TEXT = {GuestAction.START: "Start", GuestAction.RESUME: "Resume"}
SWITCH_TEXT = "Switch Display to VNC…"
TUNNEL_TEXT = "Connect through SSH"
LISTEN_TEXT = "Listen on 127.0.0.1…"
VIEWER_TEXT = "Open in virt-viewer"


async def ask_screenshot_path(parent: QWidget, suggested: str) -> str | None:
    """A window-modal "Save Screenshot" file dialog (PNG)."""
    dialog = QFileDialog(parent, "Save Screenshot", suggested, "PNG images (*.png)")
    dialog.setObjectName("screenshotDialog")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setDefaultSuffix("png")
    try:
        if await exec_async(dialog) != QFileDialog.DialogCode.Accepted.value:
            return None
        files = dialog.selectedFiles()
        return files[0] if files else None
    finally:
        dialog.deleteLater()


class ConsoleWindow(QMainWindow):
    """One guest's console (objectName ``consoleWindow``).

    Args:
        guest: the guest.
        controller: the hosts.
        dialogs: confirmations and errors (the lifecycle runner's).
        opener: opens the VNC session (tests pass a fake).
        serial_opener: makes the serial console stream (tests pass a fake).
        ask_path: asks where to save a screenshot (tests pass a fake).
        viewer: starts virt-viewer for a SPICE guest (tests pass a fake).

    Signals:
        closed(str, str): the window closed; the guest's host URI and UUID.
    """

    closed = Signal(str, str)

    def __init__(
        self,
        guest: GuestInfo,
        controller: HostController,
        dialogs: Dialogs,
        *,
        opener: SessionOpener,
        serial_opener: SerialOpener = SerialConsole,
        ask_path: AskPath = ask_screenshot_path,
        viewer: ViewerLauncher | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("consoleWindow")
        self.setWindowTitle(f"{guest.name} — console ({controller.label(guest.host_uri)})")
        self._key = guest.key
        self._controller = controller
        self._dialogs = dialogs
        self._ask_path = ask_path
        self._viewer = viewer if viewer is not None else DetachedLauncher()
        self._tasks = TaskOwner(self.show_error, name="console window task", parent=self)

        self.console = GuestConsole()
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("consoleScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll_area.setWidget(self.console)
        self.message_label = QLabel()
        self.message_label.setObjectName("consoleMessage")
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_button = QPushButton()
        self.message_button.setObjectName("consoleMessageButton")
        self.viewer_button = QPushButton(VIEWER_TEXT)
        self.viewer_button.setObjectName("consoleViewerButton")
        self.viewer_button.hide()
        message_page = QWidget()
        message_layout = QVBoxLayout(message_page)
        message_layout.addStretch(1)
        message_layout.addWidget(self.message_label)
        message_layout.addWidget(self.message_button, 0, Qt.AlignmentFlag.AlignHCenter)
        message_layout.addWidget(self.viewer_button, 0, Qt.AlignmentFlag.AlignHCenter)
        message_layout.addStretch(1)
        self.pause_label = QLabel()
        self.pause_button = QPushButton("Resume")
        self.pause_button.setObjectName("consoleResumeButton")
        self.pause_bar = QWidget()
        self.pause_bar.setObjectName("consolePauseBar")
        bar = QHBoxLayout(self.pause_bar)
        bar.setContentsMargins(8, 4, 8, 4)
        bar.addWidget(self.pause_label, 1)
        bar.addWidget(self.pause_button)
        self.pause_bar.hide()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.scroll_area)
        self.stack.addWidget(message_page)
        graphical = QWidget()
        graphical_layout = QVBoxLayout(graphical)
        graphical_layout.setContentsMargins(0, 0, 0, 0)
        graphical_layout.setSpacing(0)
        graphical_layout.addWidget(self.pause_bar)
        graphical_layout.addWidget(self.stack, 1)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("consoleTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(graphical, "Graphical")
        self.setCentralWidget(self.tabs)
        self._graphical_page = graphical

        self.console_actions = actions = build_console_actions(self)
        self.addToolBar(build_toolbar(actions))
        # Always in the status bar (empty while not grabbed): showing it must not change the
        # status bar's height, or the 1:1 screen would no longer fit.
        self.grab_hint = QLabel()
        self.grab_hint.setObjectName("grabHint")
        self.grab_hint.setStyleSheet("font-weight: bold;")
        self.grab_hint.setMinimumHeight(self.grab_hint.sizeHint().height())
        self.statusBar().addPermanentWidget(self.grab_hint)

        self.session = ConsoleSession(guest, controller, self.console, opener=opener, parent=self)
        self.serial = SerialTab(guest, self.session, controller, opener=serial_opener)
        self.tabs.addTab(self.serial, "Serial")
        self.serial.lifecycleRequested.connect(self._run_lifecycle)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.session.stateChanged.connect(self._on_session_state_changed)
        self.session.guestChanged.connect(self._on_session_guest_changed)
        self.console.grabChanged.connect(self._on_console_grab_changed)
        self.console.screenResized.connect(self._on_console_screen_resized)
        for label, action in actions.send_keys.items():
            action.triggered.connect(lambda _c=False, k=label: self._on_send_key_triggered(k))
        for kind, action in actions.lifecycle.items():
            action.triggered.connect(lambda _c=False, k=kind: self._run_lifecycle(k))
        actions.scale.toggled.connect(self._on_scale_toggled)
        actions.full_screen.toggled.connect(self._on_full_screen_toggled)
        actions.screenshot.triggered.connect(self._on_screenshot_triggered)
        actions.grab.toggled.connect(self._on_grab_toggled)
        self.message_button.clicked.connect(self._on_message_button_clicked)
        self.viewer_button.clicked.connect(self._on_viewer_button_clicked)
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        actions.update_lifecycle(guest)
        self._show_state(self.session.state)
        self.resize(760, 520)

    # -- Shell ---------------------------------------------------------------------------------

    @property
    def dialog_parent(self) -> QWidget:
        """This window: its dialogs are modal to it."""
        return self

    def notify(self, text: str, msecs: int = NOTICE_MSECS) -> None:
        """Show ``text`` in this window's status bar."""
        self.statusBar().showMessage(text, msecs)

    def show_error(self, error: VmguiError) -> None:
        """Show a failure the one way (a dialog over this window, plus the log)."""
        self._dialogs.show_error(self, error)

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` owned by this window (cancelled on close; failures shown)."""
        return self._tasks.spawn(coro)

    # -- queries -------------------------------------------------------------------------------

    @property
    def key(self) -> tuple[str, str]:
        """The guest's key (host URI, UUID)."""
        return self._key

    @property
    def tasks(self) -> TaskOwner:
        """The window's running tasks."""
        return self._tasks

    @property
    def terminal(self) -> SerialTerminal:
        """The Serial tab's terminal (``serialConsole``)."""
        return self.serial.terminal

    def start(self) -> None:
        """Connect the screen and open the serial console (once the window is shown)."""
        self.session.start()
        self.serial.start()

    async def close_sessions(self) -> None:
        """End the VNC session and the serial stream, awaiting both (the window closed)."""
        await asyncio.gather(self.session.close(), self.serial.session.close())

    # -- state ---------------------------------------------------------------------------------

    def _graphical_shown(self) -> bool:
        return self.tabs.currentWidget() is self._graphical_page

    def _show_state(self, state: ConsoleState) -> None:
        screen = state.phase in (Phase.LIVE, Phase.PAUSED)
        self.console_actions.set_live(state.phase is Phase.LIVE and self._graphical_shown())
        self.pause_bar.setVisible(state.phase is Phase.PAUSED)
        self.pause_label.setText(state.text)
        if screen:
            self.stack.setCurrentWidget(self.scroll_area)
            if state.phase is Phase.LIVE and self.isActiveWindow() and self._graphical_shown():
                self.console.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        if self.console.grabbed:
            self.console.set_grab(False)
        self.message_label.setText(state.text)
        self.message_label.setStyleSheet(
            f"color: {RED_COLOR};" if state.phase is Phase.ERROR else MUTED_STYLE
        )
        self.message_button.setText(_button_text(state))
        self.message_button.setVisible(bool(self.message_button.text()))
        self.viewer_button.setVisible(state.phase is Phase.SPICE and self._viewer_offered())
        self.stack.setCurrentIndex(1)

    def _fit_to_screen(self, size: QSize) -> None:
        """Make the viewport exactly the screen's size (1:1), within the desktop."""
        if self.isFullScreen() or self.isMaximized() or self.console.scaled:
            return
        # The stack, not the scroll area's viewport: the stack is laid out whichever page
        # it shows, while the scroll area keeps a stale size until it is the current page
        # (measured on X11: the first frame arrives while "Connecting…" shows). The scroll
        # area has no frame, so without scroll bars its viewport is the stack's size.
        viewport = self.stack.size()
        wanted = self.size() + (size - viewport)
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            wanted = wanted.boundedTo(screen.availableSize())
        self.resize(wanted)

    # -- slots ---------------------------------------------------------------------------------

    def _on_session_state_changed(self, state: ConsoleState) -> None:
        self._show_state(state)

    def _on_tabs_current_changed(self, _index: int) -> None:
        graphical = self._graphical_shown()
        live = self.session.state.phase is Phase.LIVE
        self.console_actions.set_live(live and graphical)
        if not graphical:
            self.console.set_grab(False)
            self.terminal.setFocus(Qt.FocusReason.TabFocusReason)
        elif live:
            self.console.setFocus(Qt.FocusReason.TabFocusReason)

    def _on_session_guest_changed(self, guest: GuestInfo) -> None:
        self.console_actions.update_lifecycle(guest)

    def _on_console_screen_resized(self, size: QSize) -> None:
        self._fit_to_screen(size)

    def _on_console_grab_changed(self, grabbed: bool) -> None:
        self.grab_hint.setText(GRAB_HINT if grabbed else "")
        self.console_actions.grab.setChecked(grabbed)

    def _on_grab_toggled(self, checked: bool) -> None:
        self.console.set_grab(checked)

    def _on_scale_toggled(self, checked: bool) -> None:
        self.console.set_scaled(checked)
        if not checked:
            self._fit_to_screen(self.console.screen_size())

    def _on_full_screen_toggled(self, checked: bool) -> None:
        if checked:
            self.showFullScreen()
        else:
            self.showNormal()

    def _on_send_key_triggered(self, label: str) -> None:
        vnc = self.session.vnc
        if vnc is not None:
            vnc.send_keys(KEY_SEQUENCES[label])
            self.notify(f"Sent {label}")

    def _on_screenshot_triggered(self) -> None:
        self.spawn(self._save_screenshot())

    def _on_message_button_clicked(self) -> None:
        state = self.session.state
        if state.switch:
            self.spawn(self._switch_display())
        elif state.tunnel:
            self.session.use_tunnel()
        elif state.listen:
            self.spawn(self._listen_on_localhost())
        elif state.retry:
            self.session.retry()
        elif state.action is not None:
            self._run_lifecycle(state.action)

    def _on_viewer_button_clicked(self) -> None:
        if not self._viewer.launch(viewer_argv(self._key[0], self._key[1])):
            self.notify(f"Could not start {VIEWER}: {INSTALL_HINT}")

    def _on_pause_button_clicked(self) -> None:
        self._run_lifecycle(GuestAction.RESUME)

    def _run_lifecycle(self, kind: GuestAction) -> None:
        guest = self.session.guest
        if guest is not None:
            self.spawn(commands.run_lifecycle(self, self._controller, self._dialogs, kind, [guest]))

    def _viewer_offered(self) -> bool:
        """virt-viewer attaches through libvirt's socket: local hosts, when installed."""
        return is_local_uri(self._key[0]) and self._viewer.available()

    async def _switch_display(self) -> None:
        guest = self.session.guest
        name = guest.name if guest is not None else "the guest"
        text = (
            f"Switch the display of {name} from SPICE to VNC?\n\n"
            f"This takes effect at the next boot: the next time {name} starts from shut off "
            "(a reboot inside the guest is not enough). SPICE's agent channel, USB "
            "redirection and SPICE audio are removed; the video card stays."
        )
        if not await self._dialogs.confirm(self, "Switch Display to VNC", text, "Switch to VNC"):
            return
        await self.session.switch_to_vnc()
        self.notify(f"{name} has VNC from its next boot on")

    async def _listen_on_localhost(self) -> None:
        guest = self.session.guest
        name = guest.name if guest is not None else "the guest"
        text = (
            f"Give the display of {name} a VNC port on its host's 127.0.0.1?\n\n"
            f"This takes effect the next time {name} starts from shut off. The port is "
            "reachable from the host itself only; this console reaches it through an SSH "
            "tunnel to the host."
        )
        if not await self._dialogs.confirm(self, "Listen on 127.0.0.1", text, "Change Display"):
            return
        await self.session.listen_on_localhost()
        self.notify(f"{name}'s display listens on 127.0.0.1 from its next boot on")

    async def _save_screenshot(self) -> None:
        image = self.console.screenshot()
        if image.isNull():
            self.notify("There is no screen to save yet")
            return
        guest = self.session.guest
        name = guest.name if guest is not None else "guest"
        path = await self._ask_path(self, f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.png")
        if not path:
            return
        writer = QImageWriter(path, QByteArray(b"png"))
        if not await asyncio.to_thread(writer.write, image):
            raise VmguiError("Could not save the screenshot", f"{path}: {writer.errorString()}")
        self.notify(f"Saved the screenshot to {path}")

    # -- window events -------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.session.set_updates_enabled(True)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        super().hideEvent(event)
        self.session.set_updates_enabled(False)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:
            self.session.set_updates_enabled(not self.isMinimized())
            self.console_actions.full_screen.setChecked(self.isFullScreen())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.console.set_grab(False)
        self._tasks.cancel_all()
        super().closeEvent(event)
        self.closed.emit(*self._key)


def _button_text(state: ConsoleState) -> str:
    """The message page's button: what the state offers."""
    if state.switch:
        return SWITCH_TEXT
    if state.tunnel:
        return TUNNEL_TEXT
    if state.listen:
        return LISTEN_TEXT
    if state.retry:
        return "Retry"
    return _BUTTON_TEXT.get(state.action, "") if state.action else ""
