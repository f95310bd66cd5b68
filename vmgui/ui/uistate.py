"""What the UI remembers across runs: window geometry, splitter sizes, and what features store.

One INI file in the XDG config directory (``$XDG_CONFIG_HOME/vmgui/ui.ini``), written by Qt's
:class:`QSettings`. It is read once at start-up (a few hundred bytes) and written when the
window closes. Part of the shared bottom layer of ``vmgui.ui``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QByteArray, QSettings

from vmgui.core.settings import ui_state_file

_T = TypeVar("_T", bool, int, float, str, QByteArray)


class UiState:
    """Named values that outlive the window (features pick their own ``group/name`` keys).

    Args:
        path: the INI file (default: the XDG config directory's ``ui.ini``).
    """

    def __init__(self, path: Path | None = None) -> None:
        self._settings = QSettings(str(path or ui_state_file()), QSettings.Format.IniFormat)

    def value(self, key: str, default: _T) -> _T:
        """The stored value of ``key`` as ``default``'s type, or ``default`` when missing or
        not of that type (INI files keep numbers and flags as text)."""
        raw = self._settings.value(key)
        if raw is None:
            return default
        if isinstance(default, QByteArray) or isinstance(raw, QByteArray):
            return raw if isinstance(raw, type(default)) else default
        if isinstance(default, bool):
            text = str(raw).lower()
            return (text == "true") if text in ("true", "false") else default
        try:
            return type(default)(raw)
        except (TypeError, ValueError):
            return default

    def set_value(self, key: str, value: bool | int | float | str | QByteArray) -> None:
        """Store ``value`` under ``key`` (written at :meth:`sync` or when Qt sees fit)."""
        self._settings.setValue(key, value)

    def sync(self) -> None:
        """Write the stored values to the file now."""
        self._settings.sync()
