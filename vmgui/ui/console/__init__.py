"""Guest consoles: one ``consoleWindow`` per guest, its Graphical tab showing ``guestConsole``
and its Serial tab the terminal ``serialConsole``.

Layer: a feature of ``vmgui.ui`` beside :mod:`vmgui.ui.wizard`, below the main window
(``pyproject.toml``'s ui layers contract). It may use :mod:`vmgui.ui.guests` (the lifecycle
runner), :mod:`vmgui.ui.hosts` and the shared bottom (controller, dialogs, shell, tasks,
widgets); never :mod:`vmgui.ui.main`. The main window imports it on first use (it brings
numpy with the RFB client).
"""

from __future__ import annotations

from vmgui.ui.console.manager import ConsoleManager
from vmgui.ui.console.serialsession import SerialButton, SerialPhase, SerialSession, SerialState
from vmgui.ui.console.serialwidget import SerialTerminal
from vmgui.ui.console.session import ConsoleSession, ConsoleState, Phase
from vmgui.ui.console.widget import GuestConsole
from vmgui.ui.console.window import ConsoleWindow

__all__ = [
    "ConsoleManager",
    "ConsoleSession",
    "ConsoleState",
    "ConsoleWindow",
    "GuestConsole",
    "Phase",
    "SerialButton",
    "SerialPhase",
    "SerialSession",
    "SerialState",
    "SerialTerminal",
]
