"""A top-level window that shows one host's resources and follows the host's events.

The Storage and Networks windows share it: a task owner, the host's event watch (opened by
:meth:`HostResourceWindow.start`, closed with the window) and one re-read per burst of events.
A watch lives as long as the connection it was made on: given the host's status changes, the
window drops it when the host disconnects and makes a new one (and re-reads) when it is
connected again — after libvirtd restarted, or a disconnect and connect by the user.
Subclasses implement :meth:`HostResourceWindow._reload`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, QTimer, SignalInstance
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QWidget

from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, HostStatus
from vmgui.ui.shell import Shell
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.connection import HostConnection
from vmgui.virt.resourceevents import Kind, Watch, watch

#: Events come in bursts (define + start): one re-read per burst, this long after its first.
EVENT_DELAY_MS = 100


class HostResourceWindow(QWidget):
    """One host's resources of one ``kind`` (pools, networks) in a window of its own.

    Subclasses set :attr:`message`, the label that shows the last action's failure.

    Args:
        host: the connected host.
        shell: notices and errors go through the main window.
        kind: which libvirt events keep the window current.
        task_name: names the window's tasks in the log.
        status: the hosts' status changes (``HostController.statusChanged``): the watch is
            renewed when this host is connected again; None: it ends with the connection.
    """

    message: QLabel

    def __init__(
        self,
        host: HostConnection,
        shell: Shell,
        kind: Kind,
        task_name: str,
        parent: QWidget | None = None,
        *,
        status: SignalInstance | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.host = host
        self._shell = shell
        self._kind = kind
        self.tasks = TaskOwner(shell.show_error, name=task_name, parent=self)
        self._watch: Watch | None = None
        self._closed = False
        self._event_timer = QTimer(self)
        self._event_timer.setSingleShot(True)
        self._event_timer.setInterval(EVENT_DELAY_MS)
        self._event_timer.timeout.connect(self._on_event_timer_timeout)
        if status is not None:
            status.connect(self._on_host_status_changed)

    def start(self) -> asyncio.Task[None]:
        """Read the host's state and follow its events from now on (until closed)."""
        return self.tasks.spawn(self._begin())

    async def _begin(self) -> None:
        made = await watch(self.host, self._kind, self._on_host_changed)
        if self._closed:
            await made.close()
            return
        old, self._watch = self._watch, made
        if old is not None:
            await old.close()
        await self._reload()

    @property
    def watching(self) -> bool:
        """Whether the host's events keep the tables current (else: after actions only)."""
        return self._watch is not None and self._watch.active

    def refresh(self) -> asyncio.Task[None]:
        """Re-read what the window shows."""
        return self.tasks.spawn(self._reload())

    async def _reload(self) -> None:
        raise NotImplementedError

    def _run(self, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run one user action: its failure goes to :attr:`message` (and the error dialog);
        the window re-reads the host afterwards either way."""

        async def run() -> None:
            self.message.setText("")
            try:
                await job()
            except VmguiError as exc:
                self.message.setText(str(exc))
                raise
            finally:
                await self._reload()

        return self.tasks.spawn(run())

    def _on_host_changed(self, _name: str) -> None:
        self._event_timer.start()

    def _on_host_status_changed(self, status: HostStatus) -> None:
        if status.uri != self.host.uri or self._closed:
            return
        if status.state is ConnectionState.CONNECTED:
            self.start()  # a new connection: a new watch, and what it has now
        elif status.state is not ConnectionState.CONNECTING and self._watch is not None:
            old, self._watch = self._watch, None  # its events ended with the connection
            self._shell.spawn(old.close())

    def _on_event_timer_timeout(self) -> None:
        if self._watch is not None:  # not after the window closed
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._closed = True
        self._event_timer.stop()
        if self._watch is not None:
            self._shell.spawn(self._watch.close())
            self._watch = None
        self.tasks.cancel_all()
        super().closeEvent(event)
