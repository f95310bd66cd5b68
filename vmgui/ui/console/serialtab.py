"""The console window's Serial tab: the terminal, with a bar saying why it is not live.

The terminal stays visible in every state (after "stopped" or a take-over, the last output
is still there to read and copy); above it a bar with one line and the button that helps
(Take Over, Take Back, Start, Retry) shows while the console is not live.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from vmgui.core.model import GuestAction, GuestInfo
from vmgui.ui.console.serialsession import (
    SerialButton,
    SerialOpener,
    SerialPhase,
    SerialSession,
    SerialState,
)
from vmgui.ui.console.serialwidget import SerialTerminal
from vmgui.ui.console.session import ConsoleSession
from vmgui.ui.controller import HostController
from vmgui.ui.widgets import MUTED_STYLE, RED_COLOR


class SerialTab(QWidget):
    """The Serial tab (its terminal is ``serialConsole``).

    Args:
        guest: the guest.
        graphical: the window's graphical session (the guest's latest snapshot).
        controller: the hosts.
        opener: makes the console stream (tests pass a fake).

    Signals:
        lifecycleRequested(GuestAction): the user asked for a lifecycle action (Start).
    """

    lifecycleRequested = Signal(GuestAction)

    def __init__(
        self,
        guest: GuestInfo,
        graphical: ConsoleSession,
        controller: HostController,
        *,
        opener: SerialOpener,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("serialTab")
        self.terminal = SerialTerminal()
        self.message_label = QLabel()
        self.message_label.setObjectName("serialMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_button = QPushButton()
        self.message_button.setObjectName("serialMessageButton")
        self.bar = QWidget()
        self.bar.setObjectName("serialBar")
        bar = QHBoxLayout(self.bar)
        bar.setContentsMargins(8, 4, 8, 4)
        bar.addWidget(self.message_label, 1)
        bar.addWidget(self.message_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.bar)
        layout.addWidget(self.terminal, 1)
        self.session = SerialSession(guest, graphical, controller, self.terminal, opener=opener)
        self.session.setParent(self)
        self.session.stateChanged.connect(self._on_session_state_changed)
        self.message_button.clicked.connect(self._on_message_button_clicked)
        self._show_state(self.session.state)

    def start(self) -> None:
        """Open the console (once the window is shown)."""
        self.session.start()

    def _show_state(self, state: SerialState) -> None:
        live = state.phase is SerialPhase.LIVE
        self.bar.setVisible(not live)
        self.message_label.setText(state.text)
        self.message_label.setStyleSheet(
            f"color: {RED_COLOR};" if state.phase is SerialPhase.ERROR else MUTED_STYLE
        )
        self.message_button.setText(state.button.value if state.button else "")
        self.message_button.setVisible(state.button is not None)
        if live and self.isVisible() and self.window().isActiveWindow():
            self.terminal.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_session_state_changed(self, state: SerialState) -> None:
        self._show_state(state)

    def _on_message_button_clicked(self) -> None:
        button = self.session.state.button
        if button in (SerialButton.TAKE_OVER, SerialButton.TAKE_BACK):
            self.session.take_over()
        elif button is SerialButton.RETRY:
            self.session.retry()
        elif button is SerialButton.START:
            self.lifecycleRequested.emit(GuestAction.START)
