"""One console window per guest: opened on demand, raised when open, closed together.

The manager owns the process's SSH tunnels (:class:`~vmgui.virt.tunnel.SshTunnels`, one SSH
session per remote host, whose questions go to the controller's asker: vmgui's dialogs).
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject

from vmgui.core.model import GuestInfo
from vmgui.ui.console.serialsession import SerialOpener
from vmgui.ui.console.session import SessionOpener
from vmgui.ui.console.viewer import ViewerLauncher
from vmgui.ui.console.window import AskPath, ConsoleWindow, ask_screenshot_path
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.serial import SerialConsole
from vmgui.virt.tunnel import SshTunnels
from vmgui.virt.vncopener import VncOpener


class ConsoleManager(QObject):
    """Keeps the open console windows by guest key (host URI, UUID).

    Args:
        controller: the hosts.
        dialogs: the windows' confirmations and errors.
        opener: opens a VNC session; None = a :class:`~vmgui.virt.vncopener.VncOpener` with
            tunnels of its own (tests pass a fake).
        serial_opener: makes a serial console stream (tests pass a fake).
        ask_path: asks where to save a screenshot (tests pass a fake).
        viewer: starts virt-viewer for SPICE guests (tests pass a fake).
    """

    def __init__(
        self,
        controller: HostController,
        dialogs: Dialogs,
        *,
        opener: SessionOpener | None = None,
        serial_opener: SerialOpener = SerialConsole,
        ask_path: AskPath = ask_screenshot_path,
        viewer: ViewerLauncher | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._dialogs = dialogs
        if opener is None:
            self._tunnels: SshTunnels | None = SshTunnels(controller.asker, controller.secrets)
            opener = VncOpener(self._tunnels)
        else:
            self._tunnels = None
        self._opener = opener
        self._serial_opener = serial_opener
        self._ask_path = ask_path
        self._viewer = viewer
        self._windows: dict[tuple[str, str], ConsoleWindow] = {}
        # Closing a session outlives its window: these tasks belong to the manager.
        self._tasks = TaskOwner(None, name="console close", parent=self)
        self._disposing: set[asyncio.Task[None]] = set()

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

    @property
    def tunnels(self) -> SshTunnels | None:
        """The SSH tunnels of the consoles (None with an opener passed in)."""
        return self._tunnels

    def close_all(self) -> None:
        """Close every console window (the main window closes); their SSH sessions end
        once the windows' sessions have closed."""
        for window in list(self._windows.values()):
            window.close()
        if self._tunnels is not None:
            self._tasks.spawn(self._close_tunnels(self._tunnels, list(self._disposing)))

    async def _close_tunnels(
        self, tunnels: SshTunnels, disposing: list[asyncio.Task[None]]
    ) -> None:
        await asyncio.gather(*disposing, return_exceptions=True)
        await tunnels.close()

    def _on_window_closed(self, uri: str, uuid: str) -> None:
        window = self._windows.pop((uri, uuid), None)
        if window is not None:
            task = self._tasks.spawn(self._dispose(window))
            self._disposing.add(task)
            task.add_done_callback(self._disposing.discard)

    async def _dispose(self, window: ConsoleWindow) -> None:
        try:
            await window.close_sessions()
        finally:
            window.deleteLater()
