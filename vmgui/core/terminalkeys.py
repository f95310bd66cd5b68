"""The bytes an xterm sends for a key (VT100/xterm conventions; pure, no Qt).

:func:`key_sequence` maps named keys (arrows, Home/End, PgUp/PgDn, Insert/Delete, F1-F12,
Backspace, Tab, Escape, Enter) and typed characters (Ctrl+letter, Alt as an ESC prefix) to what
a guest's terminal line discipline and programs expect; modifiers on special keys use xterm's
``CSI 1;m X`` / ``CSI n;m ~`` form with m = 1 + Shift + 2*Alt + 4*Ctrl.
:meth:`vmgui.core.terminal.TerminalModel.keys_for` passes the terminal's current modes.
"""

from __future__ import annotations

from enum import StrEnum


class Key(StrEnum):
    """The named keys :func:`key_sequence` knows (values are the names accepted as strings)."""

    UP = "Up"
    DOWN = "Down"
    RIGHT = "Right"
    LEFT = "Left"
    HOME = "Home"
    END = "End"
    PAGE_UP = "PgUp"
    PAGE_DOWN = "PgDn"
    INSERT = "Insert"
    DELETE = "Delete"
    BACKSPACE = "Backspace"
    TAB = "Tab"
    ESCAPE = "Escape"
    ENTER = "Enter"
    F1 = "F1"
    F2 = "F2"
    F3 = "F3"
    F4 = "F4"
    F5 = "F5"
    F6 = "F6"
    F7 = "F7"
    F8 = "F8"
    F9 = "F9"
    F10 = "F10"
    F11 = "F11"
    F12 = "F12"


_CSI = "\x1b["
_SS3 = "\x1bO"
_CURSOR_FINALS = {Key.UP: "A", Key.DOWN: "B", Key.RIGHT: "C", Key.LEFT: "D"}
_HOME_END_FINALS = {Key.HOME: "H", Key.END: "F"}
_SS3_FUNCTION_FINALS = {Key.F1: "P", Key.F2: "Q", Key.F3: "R", Key.F4: "S"}
_TILDE_CODES = {
    Key.INSERT: 2,
    Key.DELETE: 3,
    Key.PAGE_UP: 5,
    Key.PAGE_DOWN: 6,
    Key.F5: 15,
    Key.F6: 17,
    Key.F7: 18,
    Key.F8: 19,
    Key.F9: 20,
    Key.F10: 21,
    Key.F11: 23,
    Key.F12: 24,
}
# Ctrl with a non-letter: the control characters xterm sends.
_CTRL_SYMBOLS = {
    "@": 0,
    " ": 0,
    "2": 0,
    "[": 27,
    "3": 27,
    "\\": 28,
    "4": 28,
    "]": 29,
    "5": 29,
    "^": 30,
    "6": 30,
    "_": 31,
    "-": 31,
    "/": 31,
    "7": 31,
    "?": 127,
    "8": 127,
}


def key_sequence(
    key: Key | str,
    *,
    shift: bool = False,
    ctrl: bool = False,
    alt: bool = False,
    application_cursor: bool = False,
    newline_mode: bool = False,
) -> bytes:
    """The bytes an xterm sends for a key.

    Args:
        key: a :class:`Key` (or its name, ``"PgUp"``), or one typed character.
        shift: Shift held (Tab becomes back-tab; special keys get xterm's modifier code).
        ctrl: Ctrl held (Ctrl+letter is the control character: Ctrl+C is ``\\x03``).
        alt: Alt held (characters are prefixed with ESC, "meta sends escape").
        application_cursor: the guest enabled application cursor keys (DECCKM):
            arrows, Home and End send ``ESC O x`` instead of ``ESC [ x``.
        newline_mode: the guest enabled newline mode (LNM): Enter sends CR LF.

    Raises:
        ValueError: ``key`` is neither a known name nor a single character.
    """
    if isinstance(key, str) and not isinstance(key, Key) and len(key) == 1:
        return _character(key, ctrl=ctrl, alt=alt)
    try:
        named = Key(key)
    except ValueError:
        raise ValueError(f"unknown key {key!r}") from None
    modifier = 1 + (1 if shift else 0) + (2 if alt else 0) + (4 if ctrl else 0)
    if named in _CURSOR_FINALS or named in _HOME_END_FINALS:
        final = _CURSOR_FINALS.get(named) or _HOME_END_FINALS[named]
        if modifier > 1:
            return f"{_CSI}1;{modifier}{final}".encode()
        return ((_SS3 if application_cursor else _CSI) + final).encode()
    if named in _SS3_FUNCTION_FINALS:
        final = _SS3_FUNCTION_FINALS[named]
        return (f"{_CSI}1;{modifier}{final}" if modifier > 1 else _SS3 + final).encode()
    if named in _TILDE_CODES:
        code = _TILDE_CODES[named]
        return (f"{_CSI}{code};{modifier}~" if modifier > 1 else f"{_CSI}{code}~").encode()
    prefix = b"\x1b" if alt else b""
    if named is Key.TAB:
        return f"{_CSI}Z".encode() if shift else prefix + b"\t"
    if named is Key.BACKSPACE:
        return prefix + (b"\x08" if ctrl else b"\x7f")
    if named is Key.ENTER:
        return prefix + (b"\r\n" if newline_mode else b"\r")
    return prefix + b"\x1b"  # Key.ESCAPE


def _character(char: str, *, ctrl: bool, alt: bool) -> bytes:
    prefix = b"\x1b" if alt else b""
    if ctrl:
        if char.isascii() and char.isalpha():
            return prefix + bytes([ord(char.upper()) - 64])
        if char in _CTRL_SYMBOLS:
            return prefix + bytes([_CTRL_SYMBOLS[char]])
    return prefix + char.encode("utf-8")
