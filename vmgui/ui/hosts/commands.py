"""Host commands: add, edit, connect, disconnect, forget a password, remove; and their actions.

The async functions gather input, await the controller and report through the
:class:`~vmgui.ui.shell.Shell`. :class:`HostActions` keeps the Host menu's actions enabled for
the selected hosts and runs them.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from vmgui.core.model import ConnectionState, HostStatus
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.hosts.credentials import DialogAsker
from vmgui.ui.hosts.hostdialog import HostChoice, ask_host
from vmgui.ui.hosts.model import HostModel
from vmgui.ui.shell import NOTICE_MSECS, Selection, Shell
from vmgui.virt.credentials import uri_user

#: How long a host's new connection state stays in the status bar (ms).
STATUS_NOTICE_MSECS = 8000


async def add_host(shell: Shell, controller: HostController) -> None:
    """Ask for a host, add it and connect it."""
    answer = await ask_host(shell.dialog_parent)
    if answer is None:
        return
    controller.add_host(answer.uri, autoconnect=answer.autoconnect, name=answer.name)
    await connect_host(shell, controller, answer.uri)


async def edit_host(shell: Shell, controller: HostController, uri: str) -> None:
    """Change a host in place; a changed URI reconnects it."""
    initial = HostChoice(uri, controller.name(uri), controller.autoconnect(uri))
    answer = await ask_host(shell.dialog_parent, initial)
    if answer is None or answer == initial:
        return
    await controller.edit_host(uri, answer.uri, name=answer.name, autoconnect=answer.autoconnect)
    if answer.uri != uri:
        await connect_host(shell, controller, answer.uri)


async def forget_password(shell: Shell, controller: HostController, uri: str) -> None:
    """Delete the host's saved password from the Secret Service (off the Qt thread)."""
    user = uri_user(uri)
    loop = asyncio.get_running_loop()
    forgotten = await loop.run_in_executor(None, controller.secrets.forget, uri, user)
    label = controller.label(uri)
    shell.notify(
        f"Forgot the saved password of {user} on {label}"
        if forgotten
        else f"No password of {user} on {label} was saved",
        NOTICE_MSECS,
    )


async def connect_host(shell: Shell, controller: HostController, uri: str) -> None:
    """Connect a host; the failure (with libvirt's reason) is shown and stays on the row."""
    await controller.connect_host(uri)
    shell.notify(f"Connected to {controller.label(uri)}")


async def remove_hosts(
    shell: Shell, controller: HostController, dialogs: Dialogs, uris: list[str]
) -> None:
    """Confirm, then disconnect and forget hosts (their guests are not touched)."""
    labels = ", ".join(controller.label(u) for u in uris)
    if not await dialogs.confirm(
        shell.dialog_parent,
        "Remove host",
        f"Remove {labels} from vmgui? The host and its guests are not changed.",
        "Remove",
    ):
        return
    for uri in uris:
        await controller.remove_host(uri)


def status_notice(label: str, status: HostStatus) -> str:
    """What the status bar says when a host's connection state changes."""
    text = f"{label}: {status.state.label}"
    return f"{text} — {status.reason}" if status.reason else text


class HostActionSet(Protocol):
    """The host actions :class:`HostActions` drives (the window's actions have them)."""

    @property
    def add_host(self) -> QAction:
        """File → Add Host…"""
        ...

    @property
    def connect(self) -> QAction:
        """Host → Connect."""
        ...

    @property
    def disconnect(self) -> QAction:
        """Host → Disconnect."""
        ...

    @property
    def autoconnect(self) -> QAction:
        """Host → Connect at Start (checkable)."""
        ...

    @property
    def remove_host(self) -> QAction:
        """Host → Remove Host…"""
        ...

    @property
    def edit_host(self) -> QAction:
        """Host → Edit Host…"""
        ...

    @property
    def forget_password(self) -> QAction:
        """Host → Forget Saved Password."""
        ...


class HostActions(QObject):
    """Runs the host actions on the selected hosts and keeps them enabled accordingly.

    Also reports hosts being added and changing state in the status bar, and makes vmgui's
    host-key and credential dialogs answer the controller's connecting hosts.

    Args:
        selection: the window's selection.
        shell: the window.
        controller: the hosts.
        dialogs: asks for a URI and confirms removals.
        model: the host model (last known statuses).
        actions: the actions to drive.
    """

    def __init__(
        self,
        selection: Selection,
        shell: Shell,
        controller: HostController,
        dialogs: Dialogs,
        model: HostModel,
        actions: HostActionSet,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._selection = selection
        self._shell = shell
        self._controller = controller
        self._dialogs = dialogs
        self._model = model
        self._actions = actions
        controller.asker.target = DialogAsker(lambda: shell.dialog_parent)
        actions.add_host.triggered.connect(self._on_add_host_triggered)
        actions.edit_host.triggered.connect(self._on_edit_host_triggered)
        actions.forget_password.triggered.connect(self._on_forget_password_triggered)
        actions.connect.triggered.connect(self._on_connect_triggered)
        actions.disconnect.triggered.connect(self._on_disconnect_triggered)
        actions.remove_host.triggered.connect(self._on_remove_host_triggered)
        actions.autoconnect.toggled.connect(self._on_autoconnect_toggled)
        selection.changed.connect(self._on_selection_changed)
        controller.hostAdded.connect(self._on_controller_host_added)
        controller.statusChanged.connect(self._on_controller_status_changed)
        self.update_enabled()

    def update_enabled(self) -> None:
        """Enable the actions that apply to the selected hosts."""
        uris = self._selection.hosts()
        statuses = [self._model.status(u) for u in uris]
        states = [s.state for s in statuses]
        actions = self._actions
        actions.connect.setEnabled(
            any(s in (ConnectionState.DISCONNECTED, ConnectionState.FAILED) for s in states)
        )
        actions.disconnect.setEnabled(
            any(s in (ConnectionState.CONNECTED, ConnectionState.CONNECTING) for s in states)
            or any(s.retry_in is not None for s in statuses)
        )
        actions.remove_host.setEnabled(bool(uris))
        single = len(uris) == 1 and uris[0] in self._controller.uris()
        actions.autoconnect.setEnabled(single)
        actions.edit_host.setEnabled(single)
        actions.forget_password.setEnabled(single)
        actions.autoconnect.blockSignals(True)
        actions.autoconnect.setChecked(single and self._controller.autoconnect(uris[0]))
        actions.autoconnect.blockSignals(False)

    # -- slots ------------------------------------------------------------------------------

    def _on_selection_changed(self) -> None:
        self.update_enabled()

    def _on_controller_host_added(self, uri: str) -> None:
        self._shell.notify(f"Added {self._controller.label(uri)}", NOTICE_MSECS)

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        uri = status.uri
        label = self._controller.label(uri) if uri in self._controller.uris() else ""
        self._shell.notify(status_notice(label, status), STATUS_NOTICE_MSECS)
        self.update_enabled()

    def _on_add_host_triggered(self) -> None:
        self._shell.spawn(add_host(self._shell, self._controller))

    def _on_edit_host_triggered(self) -> None:
        uris = self._selection.hosts()
        if len(uris) == 1:
            self._shell.spawn(edit_host(self._shell, self._controller, uris[0]))

    def _on_forget_password_triggered(self) -> None:
        uris = self._selection.hosts()
        if len(uris) == 1:
            self._shell.spawn(forget_password(self._shell, self._controller, uris[0]))

    def _on_connect_triggered(self) -> None:
        for uri in self._selection.hosts():
            self._shell.spawn(connect_host(self._shell, self._controller, uri))

    def _on_disconnect_triggered(self) -> None:
        for uri in self._selection.hosts():
            self._shell.spawn(self._controller.disconnect_host(uri))

    def _on_remove_host_triggered(self) -> None:
        uris = self._selection.hosts()
        if uris:
            self._shell.spawn(remove_hosts(self._shell, self._controller, self._dialogs, uris))

    def _on_autoconnect_toggled(self, checked: bool) -> None:
        uris = self._selection.hosts()
        if len(uris) == 1:
            self._controller.set_autoconnect(uris[0], checked)
