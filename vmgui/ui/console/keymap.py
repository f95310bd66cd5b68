"""Qt key events -> RFB key transitions (X keysyms), with the keys held down remembered.

Rules (issue 9, "Exact contracts"):

* Named keys (Return, arrows, F1..F35, ...), the keypad (with ``KeypadModifier``) and the
  modifiers (AltGr = ``ISO_Level3_Shift``) map by ``QKeyEvent.key()``. Where the platform gives
  the key's own keysym (``nativeVirtualKey()`` on X11), left and right modifiers are told apart.
* A printable character maps from the event's *text*, and Shift follows the character, not
  the modifier flags: qemu turns a keysym into a scancode and never adds Shift itself, so a
  character that needs Shift on the guest's (US) keymap gets Shift_L around it, and one that
  needs none is sent with the held Shift keys briefly released. Not while Ctrl, Alt, AltGr or
  Super is held: then the physical modifiers are what the user means (Ctrl+Shift+C).
  Caveat: the guest's own Caps Lock still applies to letters.
* Without usable text (Ctrl+letter gives a control character), the key code is used:
  letters as lower case.
* A release sends exactly the keysym its press sent, whatever the release event's text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from vmgui.core.rfb.keys import KEYSYMS, SHIFT_L, KeyPress, keysym_for_char, releases

K = Qt.Key
_S = KEYSYMS

#: Keys mapped by their Qt key code (outside the keypad).
NAMED_KEYS: dict[int, int] = {
    K.Key_Escape.value: _S["Escape"],
    K.Key_Tab.value: _S["Tab"],
    K.Key_Backtab.value: _S["Tab"],  # Shift+Tab: Shift is already down
    K.Key_Backspace.value: _S["BackSpace"],
    K.Key_Return.value: _S["Return"],
    K.Key_Enter.value: _S["KP_Enter"],
    K.Key_Insert.value: _S["Insert"],
    K.Key_Delete.value: _S["Delete"],
    K.Key_Pause.value: _S["Pause"],
    K.Key_Print.value: _S["Print"],
    K.Key_SysReq.value: _S["Sys_Req"],
    K.Key_Home.value: _S["Home"],
    K.Key_End.value: _S["End"],
    K.Key_Left.value: _S["Left"],
    K.Key_Up.value: _S["Up"],
    K.Key_Right.value: _S["Right"],
    K.Key_Down.value: _S["Down"],
    K.Key_PageUp.value: _S["Page_Up"],
    K.Key_PageDown.value: _S["Page_Down"],
    K.Key_Shift.value: _S["Shift_L"],
    K.Key_Control.value: _S["Control_L"],
    K.Key_Meta.value: _S["Super_L"],  # the "Windows" key on X11 and Wayland
    K.Key_Alt.value: _S["Alt_L"],
    K.Key_AltGr.value: _S["ISO_Level3_Shift"],
    K.Key_CapsLock.value: _S["Caps_Lock"],
    K.Key_NumLock.value: _S["Num_Lock"],
    K.Key_ScrollLock.value: _S["Scroll_Lock"],
    K.Key_Menu.value: _S["Menu"],
    K.Key_Super_L.value: _S["Super_L"],
    K.Key_Super_R.value: _S["Super_R"],
    # F1..F35 are consecutive in Qt and in X (XK_F1 = 0xFFBE).
    **{K.Key_F1.value + n: 0xFFBE + n for n in range(35)},
}

#: Keys mapped by their Qt key code when the event carries ``KeypadModifier``.
KEYPAD_KEYS: dict[int, int] = {
    **{K.Key_0.value + n: _S[f"KP_{n}"] for n in range(10)},
    K.Key_Asterisk.value: _S["KP_Multiply"],
    K.Key_Plus.value: _S["KP_Add"],
    K.Key_Minus.value: _S["KP_Subtract"],
    K.Key_Period.value: _S["KP_Decimal"],
    K.Key_Comma.value: _S["KP_Decimal"],  # the decimal key of layouts with a decimal comma
    K.Key_Slash.value: _S["KP_Divide"],
    K.Key_Equal.value: _S["KP_Equal"],
    K.Key_Enter.value: _S["KP_Enter"],
    K.Key_Home.value: _S["KP_Home"],
    K.Key_End.value: _S["KP_End"],
    K.Key_Left.value: _S["KP_Left"],
    K.Key_Up.value: _S["KP_Up"],
    K.Key_Right.value: _S["KP_Right"],
    K.Key_Down.value: _S["KP_Down"],
    K.Key_PageUp.value: _S["KP_Page_Up"],
    K.Key_PageDown.value: _S["KP_Page_Down"],
    K.Key_Insert.value: _S["KP_Insert"],
    K.Key_Delete.value: _S["KP_Delete"],
    K.Key_Clear.value: _S["KP_Begin"],  # keypad 5 with Num Lock off
}

SHIFTS = frozenset({_S["Shift_L"], _S["Shift_R"]})
CONTROLS = frozenset({_S["Control_L"], _S["Control_R"]})
ALTS = frozenset({_S["Alt_L"], _S["Alt_R"]})
#: Held modifiers that make a character a shortcut: Shift then stays as the user holds it.
_CHORD_MODIFIERS = (
    CONTROLS
    | ALTS
    | frozenset({_S["Meta_L"], _S["Meta_R"], _S["Super_L"], _S["Super_R"]})
    | frozenset({_S["ISO_Level3_Shift"]})
)
#: Modifier keysyms a platform may report as the key's own (``nativeVirtualKey``).
_MODIFIER_KEYSYMS = SHIFTS | _CHORD_MODIFIERS | frozenset({0xFE11})  # ISO_Level5_Shift
_MODIFIER_KEYS = frozenset(
    k.value for k in (K.Key_Shift, K.Key_Control, K.Key_Alt, K.Key_AltGr, K.Key_Meta, K.Key_Super_L)
) | {K.Key_Super_R.value}
_UNICODE_KEYSYM = 0x01000000


class KeyMapper:
    """Maps one widget's key events and remembers which keysyms are down."""

    def __init__(self) -> None:
        self._down: dict[int, int] = {}  # physical key (scan code, else Qt key) -> keysym

    @property
    def held(self) -> frozenset[int]:
        """The keysyms pressed and not yet released."""
        return frozenset(self._down.values())

    def press(self, event: QKeyEvent) -> list[KeyPress]:
        """The transitions for a key press (empty for a key with no keysym)."""
        key, text = event.key(), event.text()
        keypad = bool(event.modifiers() & Qt.KeyboardModifier.KeypadModifier)
        keysym = self._named(key, keypad, event.nativeVirtualKey())
        shifted: bool | None = None  # None: send as is
        if keysym is None and len(text) == 1 and text.isprintable():
            keysym, shifted = keysym_for_char(text)
        if keysym is None:
            keysym = _from_key_code(key)
        if keysym is None:
            return []
        self._down[_physical(event)] = keysym
        held = self.held
        if shifted is None or held & _CHORD_MODIFIERS:
            return [(keysym, True)]
        shifts = sorted(held & SHIFTS)
        if shifted and not shifts:
            return [(SHIFT_L, True), (keysym, True), (SHIFT_L, False)]
        if not shifted and shifts:
            return [*releases(shifts), (keysym, True), *((s, True) for s in shifts)]
        return [(keysym, True)]

    def release(self, event: QKeyEvent) -> list[KeyPress]:
        """The transitions for a key release (what its press sent, released)."""
        keysym = self._down.pop(_physical(event), None)
        return [] if keysym is None else [(keysym, False)]

    def release_all(self) -> list[KeyPress]:
        """Release every key still down (focus lost: no key may stay down in the guest)."""
        keys, self._down = list(dict.fromkeys(reversed(self._down.values()))), {}
        return releases(keys)  # the last pressed first

    @staticmethod
    def _named(key: int, keypad: bool, native: int) -> int | None:
        if keypad and key in KEYPAD_KEYS:
            return KEYPAD_KEYS[key]
        if key in _MODIFIER_KEYS and native in _MODIFIER_KEYSYMS:
            return native  # left or right, as the platform says
        return NAMED_KEYS.get(key)


def _physical(event: QKeyEvent) -> int:
    scan = event.nativeScanCode()
    return scan if scan else event.key() | 1 << 32


def _from_key_code(key: int) -> int | None:
    if 0x20 <= key <= 0x7E:
        return ord(chr(key).lower())
    if 0xA0 <= key <= 0xFF:
        return key
    if 0x100 <= key < 0x110000 and not 0xD800 <= key < 0xE000:
        return _UNICODE_KEYSYM + key  # Qt's key codes for other characters are code points
    return None
