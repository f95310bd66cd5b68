"""The hosts vmgui manages, as Qt signals.

:class:`HostController` owns one :class:`~vmgui.virt.connection.HostConnection` per URI and
turns their observer calls (already on the Qt thread, via qasync) into typed Qt signals the
models and features listen to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, HostInfo, HostStatus
from vmgui.core.settings import HostEntry
from vmgui.core.sshprompts import HostKeyQuestion
from vmgui.core.validation import validate_uri
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.connection import HostConnection, HostObserver
from vmgui.virt.credentials import CredentialAnswer, CredentialAsker, CredentialRequest
from vmgui.virt.passwords import SecretStore

_log = logging.getLogger(__name__)

ConnectionFactory = Callable[[str, HostObserver], HostConnection]
SaveHosts = Callable[[list[HostEntry]], None]


class HostController(QObject):
    """Adds, removes, connects and disconnects hosts; relays their news as signals.

    Signals:
        hostAdded(str): a host (URI) was added.
        hostRemoved(str): a host was removed.
        hostEdited(str): a host's name or autoconnect changed (same URI).
        statusChanged(HostStatus): a host's connection state changed.
        hostInfoChanged(HostInfo): a host's identity/size became known.
        guestsReset(str, list): the full guest list of a host (URI, list of GuestInfo).
        guestChanged(GuestInfo): one guest appeared or changed.
        guestRemoved(str, str): a guest (URI, UUID) is gone.
        errorRaised(VmguiError): a background host operation failed.
    """

    hostAdded = Signal(str)
    hostRemoved = Signal(str)
    hostEdited = Signal(str)
    statusChanged = Signal(HostStatus)
    hostInfoChanged = Signal(HostInfo)
    guestsReset = Signal(str, list)
    guestChanged = Signal(GuestInfo)
    guestRemoved = Signal(str, str)
    errorRaised = Signal(VmguiError)

    def __init__(
        self,
        *,
        factory: ConnectionFactory | None = None,
        save: SaveHosts | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory = factory or self._real_connection
        self._save = save
        self.asker = _AskerProxy()
        self.secrets = SecretStore()
        self._names: dict[str, str] = {}
        self._hosts: dict[str, HostConnection] = {}
        self._autoconnect: dict[str, bool] = {}
        self._labels: dict[str, str] = {}
        self._tasks = TaskOwner(None, name="host task", parent=self)

    # -- queries --------------------------------------------------------------------------

    def uris(self) -> list[str]:
        """The hosts, in the order they were added."""
        return list(self._hosts)

    def host(self, uri: str) -> HostConnection:
        """The connection for ``uri`` (KeyError if unknown)."""
        return self._hosts[uri]

    def label(self, uri: str) -> str:
        """The host's display name (a saved name or a custom label, e.g. the demo host's, wins)."""
        return self._names.get(uri) or self._labels.get(uri) or self._hosts[uri].display_name

    def label_or_uri(self, uri: str) -> str:
        """:meth:`label`, or the URI itself for a host being removed (models still showing it
        ask after the controller forgot it)."""
        try:
            return self.label(uri)
        except KeyError:
            return uri

    def name(self, uri: str) -> str:
        """The display name the user gave the host, or ""."""
        return self._names.get(uri, "")

    def autoconnect(self, uri: str) -> bool:
        """Whether the host opens when vmgui starts."""
        return self._autoconnect.get(uri, True)

    def entries(self) -> list[HostEntry]:
        """The hosts as saved."""
        return [
            HostEntry(uri, self._autoconnect.get(uri, True), self._names.get(uri, ""))
            for uri in self._hosts
        ]

    # -- changes ------------------------------------------------------------------------

    def add_host(
        self,
        uri: str,
        *,
        autoconnect: bool = True,
        save: bool = True,
        label: str = "",
        name: str = "",
    ) -> HostConnection:
        """Add a host (validated), optionally remembering it; returns its connection.

        Raises:
            VmguiError: the URI is malformed or the host is already added.
        """
        try:
            uri = validate_uri(uri)
        except ValueError as exc:
            raise VmguiError(f"Could not add the host {uri.strip()!r}", str(exc)) from exc
        if uri in self._hosts:
            raise VmguiError(f"Could not add the host {uri!r}", "it is already in the list")
        host = self._factory(uri, _Relay(self))
        self._hosts[uri] = host
        self._autoconnect[uri] = autoconnect
        if label:
            self._labels[uri] = label
        if name:
            self._names[uri] = name
        self.hostAdded.emit(uri)
        if save:
            self._persist()
        return host

    async def remove_host(self, uri: str) -> None:
        """Disconnect and forget a host."""
        host = self._hosts.pop(uri, None)
        if host is None:
            return
        self._autoconnect.pop(uri, None)
        self._labels.pop(uri, None)
        self._names.pop(uri, None)
        await host.close()
        self.hostRemoved.emit(uri)
        self._persist()

    async def edit_host(self, uri: str, new_uri: str, *, name: str, autoconnect: bool) -> None:
        """Change a host in place: its name and autoconnect; a new URI replaces its connection
        (at the same place in the saved list).

        Raises:
            VmguiError: the new URI is malformed or another host has it.
        """
        new_uri = new_uri.strip()
        if new_uri != uri:
            order = list(self._hosts)
            self.add_host(new_uri, autoconnect=autoconnect, save=False, name=name)
            await self.remove_host(uri)
            order[order.index(uri)] = new_uri
            self._hosts = {u: self._hosts[u] for u in order}
        else:
            self._autoconnect[uri] = autoconnect
            if name:
                self._names[uri] = name
            else:
                self._names.pop(uri, None)
            self.hostEdited.emit(uri)
        self._persist()

    def set_autoconnect(self, uri: str, autoconnect: bool) -> None:
        """Open (or not) this host when vmgui starts."""
        self._autoconnect[uri] = autoconnect
        self._persist()

    async def connect_host(self, uri: str) -> None:
        """Connect a host; failures are raised (and the host shows FAILED with the reason)."""
        await self._hosts[uri].connect()

    async def disconnect_host(self, uri: str) -> None:
        """Disconnect a host; it stays in the list."""
        await self._hosts[uri].disconnect()

    def connect_in_background(self, uri: str) -> None:
        """Start connecting a host without waiting; failures go to ``errorRaised``."""
        self._tasks.spawn(self._connect_quietly(uri))

    async def _connect_quietly(self, uri: str) -> None:
        try:
            await self.connect_host(uri)
        except VmguiError as exc:
            _log.warning("%s: %s", uri, exc)

    async def close_all(self) -> None:
        """Close every connection (at exit)."""
        self._tasks.cancel_all()
        for host in list(self._hosts.values()):
            await host.close()

    def _real_connection(self, uri: str, observer: HostObserver) -> HostConnection:
        return HostConnection(uri, observer, asker=self.asker, secrets=self.secrets)

    def _persist(self) -> None:
        if self._save is None:
            return
        entries = [e for e in self.entries() if e.uri not in self._labels]
        try:
            self._save(entries)
        except VmguiError as exc:
            self.errorRaised.emit(exc)


class _AskerProxy:
    """The hosts' CredentialAsker: forwards to the one set (the window's dialogs), else refuses.

    Attributes:
        target: the asker that answers, or None (every question is refused).
    """

    def __init__(self) -> None:
        self.target: CredentialAsker | None = None

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        """Ask the target; refuse without one."""
        if self.target is None:
            return False
        return await self.target.confirm_host_key(uri, question)

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        """Ask the target; cancel without one."""
        if self.target is None:
            return None
        return await self.target.ask_credentials(request)


class _Relay:
    """A HostObserver that emits the controller's signals (called on the Qt thread)."""

    def __init__(self, controller: HostController) -> None:
        self._c = controller

    def host_status_changed(self, status: HostStatus) -> None:
        """Emit ``statusChanged``."""
        self._c.statusChanged.emit(status)

    def host_info_changed(self, info: HostInfo) -> None:
        """Emit ``hostInfoChanged``."""
        self._c.hostInfoChanged.emit(info)

    def guests_listed(self, uri: str, guests: list[GuestInfo]) -> None:
        """Emit ``guestsReset``."""
        self._c.guestsReset.emit(uri, guests)

    def guest_changed(self, guest: GuestInfo) -> None:
        """Emit ``guestChanged``."""
        self._c.guestChanged.emit(guest)

    def guest_removed(self, uri: str, uuid: str) -> None:
        """Emit ``guestRemoved``."""
        self._c.guestRemoved.emit(uri, uuid)
