"""Qt key events -> the bytes an xterm sends, in the terminal's current modes.

Named keys (arrows, Home/End, PgUp/PgDn, Insert/Delete, F1-F12, Backspace, Tab, Escape,
Enter) map by ``QKeyEvent.key()`` through :meth:`TerminalModel.keys_for`; Ctrl with a letter
or one of xterm's control symbols maps by the key code too (an event's text for Ctrl+C is
``"\\x03"`` on X11 but ``"c"`` from QTest); everything else sends the event's text as UTF-8
(with Alt: ESC first, "meta sends escape"). Ctrl+Shift+C / Ctrl+Shift+V (and Shift+Insert)
are the terminal's copy and paste, never sent.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from vmgui.core.terminal import TerminalModel
from vmgui.core.terminalkeys import Key

K = Qt.Key
_M = Qt.KeyboardModifier

NAMED_KEYS: dict[int, Key] = {
    K.Key_Up.value: Key.UP,
    K.Key_Down.value: Key.DOWN,
    K.Key_Left.value: Key.LEFT,
    K.Key_Right.value: Key.RIGHT,
    K.Key_Home.value: Key.HOME,
    K.Key_End.value: Key.END,
    K.Key_PageUp.value: Key.PAGE_UP,
    K.Key_PageDown.value: Key.PAGE_DOWN,
    K.Key_Insert.value: Key.INSERT,
    K.Key_Delete.value: Key.DELETE,
    K.Key_Backspace.value: Key.BACKSPACE,
    K.Key_Tab.value: Key.TAB,
    K.Key_Escape.value: Key.ESCAPE,
    K.Key_Return.value: Key.ENTER,
    K.Key_Enter.value: Key.ENTER,
    **{getattr(K, f"Key_F{n}").value: Key(f"F{n}") for n in range(1, 13)},
}
_FIRST_PRINTABLE, _LAST_PRINTABLE = 0x20, 0x7E


class Clipboard(enum.Enum):
    """A key that is the terminal's own, not the guest's."""

    COPY = "copy"
    PASTE = "paste"


def clipboard_key(event: QKeyEvent) -> Clipboard | None:
    """Whether ``event`` is copy (Ctrl+Shift+C) or paste (Ctrl+Shift+V, Shift+Insert)."""
    mods = event.modifiers() & (_M.ShiftModifier | _M.ControlModifier | _M.AltModifier)
    key = event.key()
    if mods == _M.ShiftModifier | _M.ControlModifier:
        if key == K.Key_C.value:
            return Clipboard.COPY
        if key == K.Key_V.value:
            return Clipboard.PASTE
    if mods == _M.ShiftModifier and key == K.Key_Insert.value:
        return Clipboard.PASTE
    return None


def key_bytes(event: QKeyEvent, model: TerminalModel) -> bytes:
    """The bytes to send for ``event`` (b"" for keys that send nothing, like Shift alone)."""
    mods = event.modifiers()
    shift = bool(mods & _M.ShiftModifier)
    ctrl = bool(mods & _M.ControlModifier)
    alt = bool(mods & _M.AltModifier)
    key = event.key()
    if key == K.Key_Backtab.value:
        return model.keys_for(Key.TAB, shift=True, ctrl=ctrl, alt=alt)
    named = NAMED_KEYS.get(key)
    if named is not None:
        return model.keys_for(named, shift=shift, ctrl=ctrl, alt=alt)
    if ctrl and _FIRST_PRINTABLE <= key <= _LAST_PRINTABLE:
        char = chr(key).lower()
        return model.keys_for(char, ctrl=True, alt=alt)
    text = event.text()
    if not text:
        return b""
    if alt and len(text) == 1:
        return model.keys_for(text, alt=True)
    return text.encode("utf-8")
