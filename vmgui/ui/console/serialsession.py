"""When a console window's serial console is open: one guest's console stream, kept alive.

:class:`SerialSession` follows the guest through the window's graphical
:class:`~vmgui.ui.console.session.ConsoleSession` (one source of the guest's latest snapshot)
and the host's status through the controller, and decides what the Serial tab says
(:class:`SerialState`): connecting, live, "another client holds the serial console — Take
Over", "another client took over — Take Back", "stopped", "shut off — Start", a one-line error
with Retry. The stream is a :class:`~vmgui.virt.serial.SerialConsole` (libvirt's work on the
host's worker, the bytes on the asyncio loop: nothing blocks the Qt thread); its output goes
to a :class:`~vmgui.ui.console.serialwidget.SerialTerminal`, whose typing and replies come back.
The stream opens when the window starts, and again by itself when the guest starts again or
its host reconnects.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, Signal

from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, GuestInfo, HostStatus
from vmgui.ui.console.serialwidget import SerialTerminal
from vmgui.ui.console.session import ConsoleSession, ConsoleState, stopped_text
from vmgui.ui.controller import HostController
from vmgui.ui.tasks import TaskOwner
from vmgui.virt.connection import HostConnection
from vmgui.virt.serial import GUEST_STOPPED, TAKEN_OVER, ConsoleBusyError, SerialObserver

_log = logging.getLogger(__name__)


class SerialStream(Protocol):
    """What the session needs of a console stream (:class:`~vmgui.virt.serial.SerialConsole`)."""

    @property
    def is_open(self) -> bool:
        """Whether the stream is open."""
        ...

    async def open(self, *, force: bool = False) -> None:
        """Connect (``force``: take the console over from another client)."""

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the guest."""

    async def close(self) -> None:
        """Close the stream (the observer is not told)."""


#: Makes a guest's console stream (:class:`~vmgui.virt.serial.SerialConsole`; tests pass a fake).
SerialOpener = Callable[[HostConnection, GuestInfo, SerialObserver], SerialStream]


class SerialPhase(enum.Enum):
    """What the Serial tab shows."""

    CONNECTING = "connecting"
    LIVE = "live"
    BUSY = "busy"
    TAKEN_OVER = "taken over"
    STOPPED = "stopped"
    WAITING = "waiting"
    ERROR = "error"
    GONE = "gone"


class SerialButton(enum.Enum):
    """What the Serial tab's button does (its value is its text)."""

    TAKE_OVER = "Take Over"
    TAKE_BACK = "Take Back"
    START = "Start"
    RETRY = "Retry"


@dataclass(frozen=True, slots=True)
class SerialState:
    """The serial console's state and its one line of text.

    Attributes:
        phase: the state.
        text: the line to show ("" while live).
        button: what the button offers, or None.
    """

    phase: SerialPhase
    text: str = ""
    button: SerialButton | None = None


class SerialSession(QObject):
    """Keeps one guest's serial console open while the guest runs.

    Args:
        guest: the guest (its latest state comes through ``graphical``).
        graphical: the window's graphical session (the guest's latest snapshot).
        controller: the hosts.
        terminal: shows the output; its typing goes to the guest.
        opener: makes the console stream (tests pass a fake).

    Signals:
        stateChanged(SerialState): what the Serial tab should show changed.
    """

    stateChanged = Signal(SerialState)

    def __init__(
        self,
        guest: GuestInfo,
        graphical: ConsoleSession,
        controller: HostController,
        terminal: SerialTerminal,
        *,
        opener: SerialOpener,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._graphical = graphical
        self._guest: GuestInfo | None = guest
        self._uri, self._uuid, self._name = guest.host_uri, guest.uuid, guest.name
        self._controller = controller
        self._terminal = terminal
        self._opener = opener
        self._stream: SerialStream | None = None
        self._opening = False
        self._closing = False
        self._error: VmguiError | None = None
        self._held: SerialState | None = None  # another client holds or took the console
        self._ended_id: int | None = None  # the guest process whose stream ended (EOF)
        self._last_reason = ""
        self._state = SerialState(SerialPhase.CONNECTING, f"Connecting to {self._name}…")
        self._tasks = TaskOwner(None, name="serial console task", parent=self)
        self._closers: set[asyncio.Task[None]] = set()
        terminal.set_sink(self.send)
        graphical.guestChanged.connect(self._on_graphical_guest_changed)
        graphical.stateChanged.connect(self._on_graphical_state_changed)
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.hostRemoved.connect(self._on_controller_host_removed)

    # -- queries -------------------------------------------------------------------------------

    @property
    def state(self) -> SerialState:
        """What the Serial tab shows now."""
        return self._state

    @property
    def stream(self) -> SerialStream | None:
        """The console stream being opened or open, if any."""
        return self._stream

    @property
    def last_reason(self) -> str:
        """Why the last stream ended by itself ("" if none did)."""
        return self._last_reason

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the console if the guest runs (call once the window is shown)."""
        self._evaluate()

    def retry(self) -> None:
        """Forget the last error (or end) and open again."""
        self._error = None
        self._ended_id = None
        self._evaluate()

    def take_over(self) -> None:
        """Open with force: the client holding the console loses it."""
        self._held = None
        self._error = None
        self._evaluate(force=True)

    def send(self, data: bytes) -> None:
        """Send typed bytes (or the terminal's replies) to the guest; dropped unless open."""
        stream = self._stream
        if stream is None or not data:
            return
        try:
            stream.send(data)
        except VmguiError as exc:  # it just ended: its end is on its way
            _log.debug("serial console of %s: %s", self._name, exc)

    async def close(self) -> None:
        """End the session for good (the window closed) and await the stream's close."""
        self._closing = True
        self._tasks.cancel_all()
        self._stop()
        while self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    # -- SerialObserver (on the loop's thread = the Qt thread) ----------------------------------

    def data(self, chunk: bytes) -> None:
        """The guest's output: onto the terminal."""
        self._terminal.feed(chunk)

    def closed(self, reason: str) -> None:
        """The stream ended by itself: the guest stopped, another client took over, a failure."""
        self._stream = None
        self._last_reason = reason
        if self._closing:
            return
        guest = self._guest
        if reason == GUEST_STOPPED:
            self._ended_id = guest.domain_id if guest is not None else None
            host = self._host()
            if host is not None:
                host.request_refresh(self._uuid)  # its shut-off news, soon
        elif reason == TAKEN_OVER:
            self._held = SerialState(
                SerialPhase.TAKEN_OVER,
                f"Another client took over the serial console of {self._name}.",
                SerialButton.TAKE_BACK,
            )
        else:
            self._error = VmguiError(f"The serial console of {self._name} closed", reason)
        self._evaluate()

    # -- the decision --------------------------------------------------------------------------

    def _host(self) -> HostConnection | None:
        return self._controller.host(self._uri) if self._uri in self._controller.uris() else None

    def _evaluate(self, *, force: bool = False) -> None:
        if self._closing:
            return
        host = self._host()
        guest = self._guest
        if host is None or guest is None:
            self._stop()
            gone = f"The host of {self._name} was removed." if host is None else ""
            self._set_state(
                SerialState(SerialPhase.GONE, gone or f"{self._name} no longer exists.")
            )
            return
        if host.state is not ConnectionState.CONNECTED:
            self._stop()  # the stream went with the connection
            self._set_state(
                SerialState(SerialPhase.WAITING, f"Waiting for {host.display_name} to connect…")
            )
            return
        if not guest.is_active:
            self._stop()
            self._set_state(
                SerialState(SerialPhase.STOPPED, stopped_text(guest), SerialButton.START)
            )
            return
        if self._stream is not None and self._stream.is_open:
            self._set_state(SerialState(SerialPhase.LIVE))
            return
        if self._ended_id is not None and self._ended_id == guest.domain_id:
            # The stream ended and the guest's news has not come yet.
            self._set_state(
                SerialState(SerialPhase.STOPPED, f"{self._name} stopped.", SerialButton.RETRY)
            )
            return
        if self._held is not None:
            self._set_state(self._held)
            return
        if self._error is not None:
            error = self._error
            text = f"{error.summary}: {error.details}" if error.details else error.summary
            if error.hint:
                text = f"{text}\n{error.hint}"
            self._set_state(SerialState(SerialPhase.ERROR, text, SerialButton.RETRY))
            return
        if not self._opening:
            self._opening = True
            text = f"Taking over the serial console of {self._name}…" if force else ""
            self._set_state(
                SerialState(SerialPhase.CONNECTING, text or f"Connecting to {self._name}…")
            )
            self._tasks.spawn(self._open(host, guest, force))

    async def _open(self, host: HostConnection, guest: GuestInfo, force: bool) -> None:
        stream = self._opener(host, guest, self)
        # Current before it opens: its first output can arrive before open() returns.
        self._stream = stream
        try:
            await stream.open(force=force)
        except ConsoleBusyError:
            if self._stream is stream:
                self._stream = None
            self._held = SerialState(
                SerialPhase.BUSY,
                f"Another client holds the serial console of {self._name}.",
                SerialButton.TAKE_OVER,
            )
        except VmguiError as exc:
            if self._stream is stream:
                self._stream = None
            # The guest may have stopped meanwhile: then it is not an error to show.
            await self._refresh(host)
            if self._guest is not None and self._guest.is_active:
                self._error = exc
        finally:
            self._opening = False
        if self._stream is not stream and stream.is_open:
            await stream.close()  # stopped while it opened
        self._evaluate()

    async def _refresh(self, host: HostConnection) -> None:
        try:
            guest = await host.refresh_guest(self._uuid)
        except VmguiError:
            return
        self._guest = guest

    def _stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            closer = asyncio.ensure_future(stream.close())
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)

    def _set_state(self, state: SerialState) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    # -- slots ---------------------------------------------------------------------------------

    def _on_graphical_guest_changed(self, guest: GuestInfo) -> None:
        old = self._guest
        self._guest = guest
        if old is None or not old.is_active or old.domain_id != guest.domain_id:
            # A start (or a new guest process): the old stream's error and holder are history.
            self._error = None
            self._held = None
        self._evaluate()

    def _on_graphical_state_changed(self, _state: ConsoleState) -> None:
        self._guest = self._graphical.guest
        self._evaluate()

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        if status.uri != self._uri:
            return
        if status.state is ConnectionState.CONNECTED:
            self._error = None  # the host is back: try again
        self._evaluate()

    def _on_controller_host_removed(self, uri: str) -> None:
        if uri == self._uri:
            self._evaluate()
