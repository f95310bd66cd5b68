"""X keysyms, Shift wrapping and the Send Key sequences."""

from __future__ import annotations

import pytest

from vmgui.core.rfb.keys import (
    KEY_SEQUENCES,
    KEYSYMS,
    SHIFT_L,
    combo,
    keysym_for_char,
    releases,
    type_text,
)


@pytest.mark.parametrize(
    ("ch", "expected"),
    [
        ("a", (0x61, False)),
        ("A", (0x41, True)),
        ("7", (0x37, False)),
        ("$", (0x24, True)),
        ("(", (0x28, True)),
        ("*", (0x2A, True)),
        ("-", (0x2D, False)),
        ("=", (0x3D, False)),
        ("_", (0x5F, True)),
        (" ", (0x20, False)),
        ("é", (0xE9, False)),
        ("É", (0xC9, True)),
        ("€", (0x010020AC, False)),
        ("Ж", (0x01000416, True)),
        ("\n", (0xFF0D, False)),
        ("\t", (0xFF09, False)),
        ("\b", (0xFF08, False)),
        ("\x1b", (0xFF1B, False)),
    ],
)
def test_keysym_for_char(ch: str, expected: tuple[int, bool]) -> None:
    assert keysym_for_char(ch) == expected


@pytest.mark.parametrize("ch", ["\x01", "\x85", "ab", ""])
def test_untypeable(ch: str) -> None:
    with pytest.raises(ValueError, match="character"):
        keysym_for_char(ch)


def test_shifted_characters_are_wrapped_in_shift_l() -> None:
    assert type_text("a$") == [
        (0x61, True),
        (0x61, False),
        (SHIFT_L, True),
        (0x24, True),
        (0x24, False),
        (SHIFT_L, False),
    ]
    keys = type_text("echo typed-$((6*7))\n")
    downs = [k for k, down in keys if down]
    assert downs.count(SHIFT_L) == 6  # $ ( ( * ) )
    assert keys[-2:] == [(0xFF0D, True), (0xFF0D, False)]


def test_named_keys() -> None:
    assert KEYSYMS["Return"] == 0xFF0D
    assert KEYSYMS["F1"] == 0xFFBE
    assert KEYSYMS["F12"] == 0xFFC9
    assert KEYSYMS["KP_0"] == 0xFFB0
    assert KEYSYMS["KP_9"] == 0xFFB9
    assert KEYSYMS["ISO_Level3_Shift"] == 0xFE03
    assert KEYSYMS["Super_L"] == 0xFFEB
    assert KEYSYMS["Page_Down"] == 0xFF56


def test_key_sequences() -> None:
    assert KEY_SEQUENCES["Ctrl+Alt+Del"] == [
        (0xFFE3, True),
        (0xFFE9, True),
        (0xFFFF, True),
        (0xFFFF, False),
        (0xFFE9, False),
        (0xFFE3, False),
    ]
    assert KEY_SEQUENCES["Ctrl+Alt+F12"] == combo(0xFFE3, 0xFFE9, 0xFFC9)
    assert KEY_SEQUENCES["Ctrl+Alt+Backspace"][2] == (0xFF08, True)
    assert KEY_SEQUENCES["PrintScreen"] == [(0xFF61, True), (0xFF61, False)]
    assert sum(label.startswith("Ctrl+Alt+F") for label in KEY_SEQUENCES) == 12


def test_releases() -> None:
    assert releases([1, 2]) == [(1, False), (2, False)]
