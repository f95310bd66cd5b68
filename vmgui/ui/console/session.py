"""When a console window is connected, and to what: one guest's VNC session, kept alive.

:class:`ConsoleSession` follows the host controller's news about its guest and host and
decides what the window shows (:class:`ConsoleState`): connecting, the live screen, "paused",
"shut off — Start", a one-line error with Retry, "has a SPICE display" with the offer to
switch it to VNC (next boot), or why a remote host's display cannot be reached from here with
what helps (an SSH tunnel; a port on the host's 127.0.0.1). It opens the VNC session through
:class:`~vmgui.virt.vncopener.VncOpener` (libvirt's socket, TCP or an SSH tunnel; the RFB
session on the asyncio loop: nothing blocks the Qt thread),
feeds the frames to a :class:`~vmgui.ui.console.widget.GuestConsole`, and connects again by
itself when the guest starts, restarts, or its host reconnects.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from vmgui.core.consoleroute import Offer
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, GuestAction, GuestInfo, GuestState, HostStatus
from vmgui.core.rfb.pixels import Pixels, Rect
from vmgui.ui.console.widget import ConsoleInput, GuestConsole
from vmgui.ui.controller import HostController
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.connection import HostConnection
from vmgui.virt.display import GuestDisplays, fetch_displays, listen_on_localhost, switch_to_vnc
from vmgui.virt.vnc import VncObserver
from vmgui.virt.vncopener import NoRouteError

_log = logging.getLogger(__name__)


class Display(ConsoleInput, Protocol):
    """What the console needs of a VNC session (:class:`~vmgui.virt.vnc.VncSession`)."""

    @property
    def framebuffer(self) -> Pixels:
        """The framebuffer array (a resize makes a new one)."""
        ...

    @property
    def closed(self) -> bool:
        """Whether the session has ended."""
        ...

    def set_updates_enabled(self, enabled: bool) -> None:
        """Ask for frames (or stop asking while nothing shows them)."""

    async def close(self) -> None:
        """End the session; the observer hears ``vnc_closed(None)``."""


class SessionOpener(Protocol):
    """Opens a guest's VNC session and handshakes (:class:`~vmgui.virt.vncopener.VncOpener`;
    tests pass a fake)."""

    def __call__(
        self, host: HostConnection, uuid: str, observer: VncObserver, *, via_ssh: bool = False
    ) -> Awaitable[Display]:
        """The session; ``via_ssh`` tunnels through SSH even to a tcp/tls host.

        Raises:
            NoRouteError: the display cannot be reached from here.
            VmguiError: anything else that failed.
        """
        ...


#: After the server closed the display, how long to wait for the guest's news (ms).
SETTLE_MS = 300


class Phase(enum.Enum):
    """What the console window shows."""

    CONNECTING = "connecting"
    LIVE = "live"
    PAUSED = "paused"
    STOPPED = "stopped"
    WAITING = "waiting"
    ERROR = "error"
    SPICE = "spice"
    UNREACHABLE = "unreachable"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class ConsoleState:
    """The console's state and its one line of text.

    Attributes:
        phase: what is shown.
        text: the line to show ("" for the live screen).
        action: the lifecycle action the state offers (Start, Resume), or None.
        retry: whether the state offers Retry.
        switch: whether the state offers Switch Display to VNC (a SPICE guest not yet
            switched).
        tunnel: whether the state offers to connect through an SSH tunnel.
        listen: whether the state offers to give the display a port on the host's 127.0.0.1.
    """

    phase: Phase
    text: str = ""
    action: GuestAction | None = None
    retry: bool = False
    switch: bool = False
    tunnel: bool = False
    listen: bool = False


class ConsoleSession(QObject):
    """Keeps one guest's graphical console connected while the guest runs.

    Args:
        guest: the guest (its latest state is followed through ``controller``).
        controller: the hosts.
        console: the widget the frames go to and the input comes from.
        opener: opens the VNC session (a :class:`~vmgui.virt.vncopener.VncOpener`).

    Signals:
        stateChanged(ConsoleState): what the window should show changed.
        guestChanged(GuestInfo): the guest's latest snapshot (its state drives the actions).
        bell(): the guest rang the bell.
    """

    stateChanged = Signal(ConsoleState)
    guestChanged = Signal(GuestInfo)
    bell = Signal()

    def __init__(
        self,
        guest: GuestInfo,
        controller: HostController,
        console: GuestConsole,
        *,
        opener: SessionOpener,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._guest: GuestInfo | None = guest
        self._uri, self._uuid, self._name = guest.host_uri, guest.uuid, guest.name
        self._controller = controller
        self._console = console
        self._opener = opener
        self._vnc: Display | None = None
        self._opening = False
        self._via_ssh = False  # the user chose the SSH tunnel (a tcp/tls host)
        self._closing = False
        self._error: VmguiError | None = None
        self._spice: GuestDisplays | None = None  # the guest shows SPICE, not VNC
        #: Whether a shut-off guest's display is SPICE only (None: not read since it stopped).
        self._stopped_spice: bool | None = None
        self._state = ConsoleState(Phase.CONNECTING, f"Connecting to {self._name}…")
        self._tasks = TaskOwner(None, name="console task", parent=self)
        self._closers: set[asyncio.Task[None]] = set()  # sessions being closed
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._on_settle_timeout)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.hostRemoved.connect(self._on_controller_host_removed)

    # -- queries -------------------------------------------------------------------------------

    @property
    def state(self) -> ConsoleState:
        """What the window shows now."""
        return self._state

    @property
    def guest(self) -> GuestInfo | None:
        """The guest's latest snapshot (None once it is gone)."""
        return self._guest

    @property
    def vnc(self) -> Display | None:
        """The live VNC session, if any."""
        return self._vnc

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect if the guest runs (call once the window is shown)."""
        self._evaluate()

    def retry(self) -> None:
        """Forget the last error and connect again."""
        self._error = None
        self._spice = None
        self._evaluate()

    def use_tunnel(self) -> None:
        """Connect through an SSH tunnel to the host (the offer of a loopback-only display)."""
        self._via_ssh = True
        self.retry()

    async def listen_on_localhost(self) -> None:
        """Give the display a port on its host's 127.0.0.1 from the next boot (then say so).

        Raises:
            VmguiError: the host is gone or libvirt refused.
        """
        host = self._host()
        if host is None:
            summary = f"Could not change the display of {self._name}"
            raise VmguiError(summary, f"the host of {self._name} was removed")
        await listen_on_localhost(host, self._uuid)
        self.retry()

    async def switch_to_vnc(self) -> None:
        """Switch the guest's display to VNC from its next boot on (the state then says so).

        Raises:
            VmguiError: the host is gone or libvirt refused.
        """
        host = self._host()
        if host is None:
            summary = f"Could not switch the display of {self._name} to VNC"
            raise VmguiError(summary, f"the host of {self._name} was removed")
        await switch_to_vnc(host, self._uuid)
        self._spice = await fetch_displays(host, self._uuid)
        self._stopped_spice = None  # (read again: now VNC)
        self._evaluate()

    def set_updates_enabled(self, enabled: bool) -> None:
        """Ask for frames only while the screen is visible."""
        if self._vnc is not None:
            self._vnc.set_updates_enabled(enabled)

    async def close(self) -> None:
        """End the session for good (the window closed)."""
        self._closing = True
        self._settle.stop()
        self._tasks.cancel_all()
        self._stop_vnc()
        while self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    # -- VncObserver (on the loop's thread = the Qt thread) --------------------------------------

    def vnc_resized(self, width: int, height: int) -> None:
        """The guest changed its screen size (the frame after it shows the new array)."""
        _log.debug("console of %s: %dx%d", self._name, width, height)

    def vnc_frame(self, framebuffer: Pixels, damage: tuple[Rect, ...]) -> None:
        """Repaint what changed."""
        self._console.show_frame(framebuffer, damage)

    def vnc_clipboard(self, text: str) -> None:
        """The guest's clipboard: to the host's."""
        self._console.set_guest_clipboard(text)

    def vnc_bell(self) -> None:
        """Pass the bell on."""
        self.bell.emit()

    def vnc_closed(self, error: VmguiError | None) -> None:
        """The session ended: by error (shown), or the server closed it (the guest stopped or
        restarted: wait briefly for its news, then decide)."""
        if self._closing or self._vnc is None:
            return  # a session this console closed itself
        self._vnc = None
        self._console.set_input(None)
        if error is not None:
            self._error = error
            self._evaluate()
            return
        self._set_state(ConsoleState(Phase.CONNECTING, f"{self._name}'s display closed…"))
        host = self._host()
        if host is not None:
            host.request_refresh(self._uuid)
        self._settle.start()

    # -- the decision --------------------------------------------------------------------------

    def _host(self) -> HostConnection | None:
        return self._controller.host(self._uri) if self._uri in self._controller.uris() else None

    def _evaluate(self) -> None:
        if self._closing:
            return
        host = self._host()
        if host is None:
            self._stop_vnc()
            self._set_state(ConsoleState(Phase.GONE, f"The host of {self._name} was removed."))
            return
        guest = self._guest
        if guest is None:
            self._stop_vnc()
            self._set_state(ConsoleState(Phase.GONE, f"{self._name} no longer exists."))
            return
        if self._vnc is not None and guest.is_active:
            self._set_state(_live_state(guest))
            return
        if host.state is not ConnectionState.CONNECTED:
            self._set_state(
                ConsoleState(Phase.WAITING, f"Waiting for {host.display_name} to connect…")
            )
            return
        if not guest.is_active:
            self._stop_vnc()
            if self._stopped_spice is None:
                self._stopped_spice = False  # (until the read below says otherwise)
                self._tasks.spawn(self._read_stopped_display(host))
            spice = self._stopped_spice
            self._set_state(_stopped_spice_state(guest) if spice else _stopped_state(guest))
            return
        self._stopped_spice = None  # it runs: read again when it next stops
        if self._spice is not None:
            self._set_state(_spice_state(guest.name, self._spice))
            return
        if self._error is not None:
            self._set_state(_error_state(self._error))
            return
        if self._settle.isActive():
            return
        if not self._opening:
            self._opening = True
            self._set_state(ConsoleState(Phase.CONNECTING, f"Connecting to {self._name}…"))
            self._tasks.spawn(self._open(host))

    async def _open(self, host: HostConnection) -> None:
        session: Display | None = None
        try:
            session = await self._opener(host, self._uuid, self, via_ssh=self._via_ssh)
        except VmguiError as exc:
            # The guest may have stopped meanwhile: then it is not an error to show.
            await self._refresh(host)
            if self._guest is not None and self._guest.is_active:
                self._spice = await self._spice_displays(host)
                self._error = exc if self._spice is None else None
        finally:
            self._opening = False
        if session is not None:
            if self._closing or session.closed:
                await session.close()
                return
            self._vnc = session
            self._console.show_frame(session.framebuffer)
            self._console.set_input(session)
        self._evaluate()

    async def _read_stopped_display(self, host: HostConnection) -> None:
        """Whether the shut-off guest shows SPICE only: then the switch is offered before Start."""
        displays = await self._spice_displays(host)
        if self._stopped_spice is not None and displays is not None:
            self._stopped_spice = True
            self._evaluate()

    async def _spice_displays(self, host: HostConnection) -> GuestDisplays | None:
        """The guest's displays if it shows SPICE and no VNC (why the opener failed)."""
        try:
            displays = await fetch_displays(host, self._uuid)
        except VmguiError:
            return None
        return displays if displays.spice_only else None

    async def _refresh(self, host: HostConnection) -> None:
        try:
            guest = await host.refresh_guest(self._uuid)
        except VmguiError:
            return
        self._guest = guest

    def _stop_vnc(self) -> None:
        vnc, self._vnc = self._vnc, None
        if vnc is not None:
            self._console.set_input(None)
            closer = asyncio.ensure_future(vnc.close())
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)

    def _set_state(self, state: ConsoleState) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    # -- slots ---------------------------------------------------------------------------------

    def _on_settle_timeout(self) -> None:
        self._evaluate()

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        if guest.key != (self._uri, self._uuid):
            return
        old = self._guest
        self._guest = guest
        if old is None or not old.is_active or old.domain_id != guest.domain_id:
            self._error = self._spice = None  # a start (or a new guest process): try again
        self.guestChanged.emit(guest)
        self._evaluate()

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        if uri != self._uri:
            return
        ours = next((g for g in guests if g.uuid == self._uuid), None)
        if ours is not None:
            self._on_controller_guest_changed(ours)
        elif (host := self._host()) is not None and host.state is ConnectionState.CONNECTED:
            self._guest = None  # listed without it: gone
            self._evaluate()
        # (else: the empty list a disconnect announces; the guest is not known to be gone)

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        if (uri, uuid) == (self._uri, self._uuid):
            self._guest = None
            self._evaluate()

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        if status.uri != self._uri:
            return
        if status.state is ConnectionState.CONNECTED:
            self._error = self._spice = None  # the host is back: try again
            self._stopped_spice = None
        self._evaluate()

    def _on_controller_host_removed(self, uri: str) -> None:
        if uri == self._uri:
            self._evaluate()


def _error_state(error: VmguiError) -> ConsoleState:
    text = f"{error.summary}: {error.details}" if error.details else error.summary
    if isinstance(error, NoRouteError):
        offer = error.offer
        return ConsoleState(
            Phase.UNREACHABLE,
            text + ".",
            retry=offer is Offer.NOTHING,
            tunnel=offer is Offer.TUNNEL,
            listen=offer is Offer.LISTEN_LOCALHOST,
        )
    return ConsoleState(Phase.ERROR, text, retry=True)


def _live_state(guest: GuestInfo) -> ConsoleState:
    if guest.state is GuestState.PAUSED:
        return ConsoleState(Phase.PAUSED, f"{guest.name} is paused.", GuestAction.RESUME)
    if guest.state is GuestState.SUSPENDED:
        return ConsoleState(Phase.PAUSED, f"{guest.name} is suspended.", GuestAction.RESUME)
    return ConsoleState(Phase.LIVE)


def stopped_text(guest: GuestInfo) -> str:
    """What a console says of a guest that does not run (it offers Start)."""
    if guest.state is GuestState.SAVED:
        return f"{guest.name} is saved: Start restores it."
    if guest.state is GuestState.CRASHED:
        return f"{guest.name} crashed."
    return f"{guest.name} is shut off."


def _spice_state(name: str, displays: GuestDisplays) -> ConsoleState:
    if displays.vnc_next_boot:
        text = (
            f"{name} has a SPICE display until it next starts from shut off; "
            "then it has VNC, which this console shows."
        )
        return ConsoleState(Phase.SPICE, text)
    text = f"{name} has a SPICE display; this console shows VNC displays only."
    return ConsoleState(Phase.SPICE, text, switch=True)


def _stopped_spice_state(guest: GuestInfo) -> ConsoleState:
    text = (
        f"{stopped_text(guest)} Its display is SPICE, which this console does not show: "
        "switch it to VNC, then start it."
    )
    return ConsoleState(Phase.STOPPED, text, GuestAction.START, switch=True)


def _stopped_state(guest: GuestInfo) -> ConsoleState:
    return ConsoleState(Phase.STOPPED, stopped_text(guest), GuestAction.START)
