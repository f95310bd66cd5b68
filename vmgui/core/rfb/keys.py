"""X keysyms for RFB KeyEvents: characters, named keys and the Send Key sequences.

qemu turns a keysym into a scancode with its keymap and does **not** add Shift for a shifted
character: typed characters that need Shift are wrapped in Shift_L press/release here
(:func:`type_text`). The Qt key → keysym table belongs to the UI; it uses :data:`KEYSYMS`
(X names → keysyms) and :func:`keysym_for_char`.
"""

from __future__ import annotations

from collections.abc import Iterable

#: A key transition: (keysym, pressed).
KeyPress = tuple[int, bool]

#: Named X keysyms (X11 keysymdef.h names).
KEYSYMS: dict[str, int] = {
    "BackSpace": 0xFF08,
    "Tab": 0xFF09,
    "ISO_Left_Tab": 0xFE20,
    "Return": 0xFF0D,
    "Pause": 0xFF13,
    "Scroll_Lock": 0xFF14,
    "Sys_Req": 0xFF15,
    "Escape": 0xFF1B,
    "Home": 0xFF50,
    "Left": 0xFF51,
    "Up": 0xFF52,
    "Right": 0xFF53,
    "Down": 0xFF54,
    "Page_Up": 0xFF55,
    "Page_Down": 0xFF56,
    "End": 0xFF57,
    "Print": 0xFF61,
    "Insert": 0xFF63,
    "Menu": 0xFF67,
    "Num_Lock": 0xFF7F,
    "KP_Enter": 0xFF8D,
    "KP_Home": 0xFF95,
    "KP_Left": 0xFF96,
    "KP_Up": 0xFF97,
    "KP_Right": 0xFF98,
    "KP_Down": 0xFF99,
    "KP_Page_Up": 0xFF9A,
    "KP_Page_Down": 0xFF9B,
    "KP_End": 0xFF9C,
    "KP_Begin": 0xFF9D,
    "KP_Insert": 0xFF9E,
    "KP_Delete": 0xFF9F,
    "KP_Multiply": 0xFFAA,
    "KP_Add": 0xFFAB,
    "KP_Separator": 0xFFAC,
    "KP_Subtract": 0xFFAD,
    "KP_Decimal": 0xFFAE,
    "KP_Divide": 0xFFAF,
    **{f"KP_{n}": 0xFFB0 + n for n in range(10)},
    "KP_Equal": 0xFFBD,
    **{f"F{n}": 0xFFBD + n for n in range(1, 13)},
    "Shift_L": 0xFFE1,
    "Shift_R": 0xFFE2,
    "Control_L": 0xFFE3,
    "Control_R": 0xFFE4,
    "Caps_Lock": 0xFFE5,
    "Meta_L": 0xFFE7,
    "Meta_R": 0xFFE8,
    "Alt_L": 0xFFE9,
    "Alt_R": 0xFFEA,
    "Super_L": 0xFFEB,
    "Super_R": 0xFFEC,
    "ISO_Level3_Shift": 0xFE03,  # AltGr
    "Delete": 0xFFFF,
}

SHIFT_L = KEYSYMS["Shift_L"]

#: Characters typed with Shift on a US keyboard (qemu's default keymap, en-us).
_US_SHIFTED = frozenset('~!@#$%^&*()_+{}|:"<>?')
_CONTROL_CHARS = {
    "\n": KEYSYMS["Return"],
    "\r": KEYSYMS["Return"],
    "\t": KEYSYMS["Tab"],
    "\b": KEYSYMS["BackSpace"],
    "\x1b": KEYSYMS["Escape"],
    "\x7f": KEYSYMS["Delete"],
}
_UNICODE_KEYSYM = 0x01000000


def keysym_for_char(ch: str) -> tuple[int, bool]:
    """The keysym of one typed character and whether it needs Shift (US layout).

    Latin-1 characters are their own keysyms; other characters are 0x01000000 + code point;
    newline, tab, backspace, escape and DEL are the keys that type them.

    Raises:
        ValueError: ``ch`` is not one character, or a control character no key types.
    """
    if len(ch) != 1:
        raise ValueError(f"one character expected, got {ch!r}")
    if ch in _CONTROL_CHARS:
        return _CONTROL_CHARS[ch], False
    code = ord(ch)
    if code < 0x20 or 0x80 <= code < 0xA0:
        raise ValueError(f"no key types the control character {ch!r}")
    shifted = ch in _US_SHIFTED or (ch.isupper() and ch.lower() != ch)
    if code <= 0xFF:
        return code, shifted
    return _UNICODE_KEYSYM + code, shifted


def press(keysym: int) -> list[KeyPress]:
    """A key pressed and released."""
    return [(keysym, True), (keysym, False)]


def combo(*keysyms: int) -> list[KeyPress]:
    """Keys pressed in order and released in reverse order (Ctrl+Alt+Del)."""
    return [(k, True) for k in keysyms] + [(k, False) for k in reversed(keysyms)]


def type_text(text: str) -> list[KeyPress]:
    """The key transitions that type ``text``; shifted characters get Shift_L around them.

    Raises:
        ValueError: a character no key types (see :func:`keysym_for_char`).
    """
    keys: list[KeyPress] = []
    for ch in text:
        keysym, shifted = keysym_for_char(ch)
        keys += combo(SHIFT_L, keysym) if shifted else press(keysym)
    return keys


def _named(*names: str) -> list[KeyPress]:
    return combo(*(KEYSYMS[name] for name in names))


#: The Send Key menu: label → key transitions.
KEY_SEQUENCES: dict[str, list[KeyPress]] = {
    "Ctrl+Alt+Del": _named("Control_L", "Alt_L", "Delete"),
    "Ctrl+Alt+Backspace": _named("Control_L", "Alt_L", "BackSpace"),
    **{f"Ctrl+Alt+F{n}": _named("Control_L", "Alt_L", f"F{n}") for n in range(1, 13)},
    "PrintScreen": _named("Print"),
}


def releases(pressed: Iterable[int]) -> list[KeyPress]:
    """Release every key in ``pressed`` (on focus loss, so no key stays down in the guest)."""
    return [(k, False) for k in pressed]
