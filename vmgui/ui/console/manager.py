"""One console window per guest: opened on demand, raised when open, closed together."""

from __future__ import annotations

from PySide6.QtCore import QObject

from vmgui.core.model import GuestInfo
from vmgui.ui.console.serialsession import SerialOpener
from vmgui.ui.console.session import SessionOpener, default_opener
from vmgui.ui.console.viewer import ViewerLauncher
from vmgui.ui.console.window import AskPath, ConsoleWindow, ask_screenshot_path
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.serial import SerialConsole


class ConsoleManager(QObject):
    """Keeps the open console windows by guest key (host URI, UUID).

    Args:
        controller: the hosts.
        dialogs: the windows' confirmations and errors.
        opener: opens a VNC session (tests pass a fake).
        serial_opener: makes a serial console stream (tests pass a fake).
        ask_path: asks where to save a screenshot (tests pass a fake).
        viewer: starts virt-viewer for SPICE guests (tests pass a fake).
    """

    def __init__(
        self,
        controller: HostController,
        dialogs: Dialogs,
        *,
        opener: SessionOpener = default_opener,
        serial_opener: SerialOpener = SerialConsole,
        ask_path: AskPath = ask_screenshot_path,
        viewer: ViewerLauncher | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._dialogs = dialogs
        self._opener = opener
        self._serial_opener = serial_opener
        self._ask_path = ask_path
        self._viewer = viewer
        self._windows: dict[tuple[str, str], ConsoleWindow] = {}
        # Closing a session outlives its window: these tasks belong to the manager.
        self._tasks = TaskOwner(None, name="console close", parent=self)

    def open(self, guests: list[GuestInfo]) -> list[ConsoleWindow]:
        """Show each guest's console window: a new one, or the open one raised."""
        shown = []
        for guest in guests:
            window = self._windows.get(guest.key)
            if window is None:
                window = ConsoleWindow(
                    guest,
                    self._controller,
                    self._dialogs,
                    opener=self._opener,
                    serial_opener=self._serial_opener,
                    ask_path=self._ask_path,
                    viewer=self._viewer,
                )
                window.closed.connect(self._on_window_closed)
                self._windows[guest.key] = window
                window.show()
                window.start()
            else:
                window.showNormal() if window.isMinimized() else window.show()
                window.raise_()
                window.activateWindow()
            shown.append(window)
        return shown

    def window(self, key: tuple[str, str]) -> ConsoleWindow | None:
        """The open console window of guest ``key``, if any."""
        return self._windows.get(key)

    def windows(self) -> list[ConsoleWindow]:
        """Every open console window."""
        return list(self._windows.values())

    @property
    def tasks(self) -> TaskOwner:
        """The sessions (VNC and serial) being closed."""
        return self._tasks

    def close_all(self) -> None:
        """Close every console window (the main window closes)."""
        for window in list(self._windows.values()):
            window.close()

    def _on_window_closed(self, uri: str, uuid: str) -> None:
        window = self._windows.pop((uri, uuid), None)
        if window is not None:
            self._tasks.spawn(self._dispose(window))

    async def _dispose(self, window: ConsoleWindow) -> None:
        try:
            await window.close_sessions()
        finally:
            window.deleteLater()
