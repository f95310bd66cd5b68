"""The serial console's screen model (pyte underneath) and the key sequences."""

from __future__ import annotations

import pytest

from vmgui.core.terminal import DEFAULT_STYLE, CursorState, Run, Style, TerminalModel
from vmgui.core.terminalkeys import Key, key_sequence


def _styles(model: TerminalModel, row: int) -> list[tuple[str, Style]]:
    return [(run.text, run.style) for run in model.line(row)]


def test_colours_bold_and_reverse_become_runs() -> None:
    model = TerminalModel(40, 5)
    model.feed(b"\x1b[31mred\x1b[0m plain \x1b[1;44mbold\x1b[7mrev\x1b[0m")
    assert _styles(model, 0) == [
        ("red", Style(fg="red")),
        (" plain ", DEFAULT_STYLE),
        ("bold", Style(bg="blue", bold=True)),
        ("rev", Style(bg="blue", bold=True, reverse=True)),
    ]
    runs = model.line(0)
    assert [(run.column, run.width) for run in runs] == [(0, 3), (3, 7), (10, 4), (14, 3)]


def test_bright_256_and_true_colours() -> None:
    model = TerminalModel(20, 2)
    model.feed(b"\x1b[33my\x1b[93mY\x1b[38;5;196mp\x1b[48;2;1;2;3mt\x1b[0m")
    assert [(run.text, run.style.fg, run.style.bg) for run in model.line(0)] == [
        ("y", "yellow", "default"),
        ("Y", "bright_yellow", "default"),
        ("p", "#ff0000", "default"),
        ("t", "#ff0000", "#010203"),
    ]


def test_cursor_moves_and_clear() -> None:
    model = TerminalModel(20, 5)
    model.feed(b"abc\r\ndef")
    assert model.cursor == CursorState(1, 3, True)
    model.feed(b"\x1b[4;6HX")  # row 4, column 6 (1-based)
    assert model.text().splitlines()[3] == "     X"
    assert model.cursor == CursorState(3, 6, True)
    model.feed(b"\x1b[2A\x1b[3D")  # up 2, back 3
    assert model.cursor == CursorState(1, 3, True)
    model.feed(b"\x1b[?25l")
    assert not model.cursor.visible
    model.take_dirty()
    model.feed(b"\x1b[H\x1b[2J")
    assert model.text() == "\n" * 4
    assert model.cursor == CursorState(0, 0, False)
    assert model.take_dirty() == {0, 1, 2, 3, 4}


def test_dirty_lines_since_the_last_paint() -> None:
    model = TerminalModel(20, 5)
    model.take_dirty()
    model.feed(b"\x1b[3;1Hx")
    assert model.take_dirty() == {2}
    assert model.take_dirty() == set()


def test_scrollback_after_more_than_rows_lines() -> None:
    model = TerminalModel(20, 3, scrollback=4)
    model.feed(b"\r\n".join(f"line{n}".encode() for n in range(8)))
    assert model.text() == "line5\nline6\nline7"
    assert model.scrollback_text() == ["line1", "line2", "line3", "line4"]  # bounded
    assert model.scrollback_size == 4
    assert model.scrollback_line(0) == (Run(0, 5, "line1", DEFAULT_STYLE),)
    model.feed(b"\x1b[3J")  # xterm: erase the saved lines only
    assert model.scrollback_text() == []
    assert model.text() == "line5\nline6\nline7"


def test_scroll_region_does_not_feed_the_scrollback() -> None:
    model = TerminalModel(20, 4)
    model.feed(b"\x1b[2;3r\x1b[3;1Ha\r\nb\r\nc")  # lines scrolled inside rows 2-3 only
    assert model.scrollback_text() == []


def test_resize_keeps_the_cursor_line_and_moves_the_rest_to_the_scrollback() -> None:
    model = TerminalModel(20, 5)
    model.feed(b"a1\r\na2\r\na3\r\na4\r\nprompt$ ")
    model.resize(10, 2)
    assert (model.columns, model.rows) == (10, 2)
    assert model.scrollback_text() == ["a1", "a2", "a3"]
    assert model.text() == "a4\nprompt$"
    assert model.cursor == CursorState(1, 8, True)
    assert model.take_dirty() == {0, 1}
    model.feed(b"\r\n0123456789abc")  # wraps at the new width
    assert model.text().splitlines()[-1] == "abc"
    model.resize(30, 4)
    assert model.text().splitlines()[:2] == ["0123456789", "abc"]
    model.feed(b"\r\n\t\ttab")  # tab stops continue past the old width
    assert model.text().splitlines()[2] == " " * 16 + "tab"
    with pytest.raises(ValueError, match="at least 1x1"):
        model.resize(0, 4)


def test_resize_narrower_cuts_columns() -> None:
    model = TerminalModel(20, 3)
    model.feed(b"0123456789abcdef")
    model.resize(8, 3)
    assert model.text() == "01234567\n\n"
    assert model.cursor.column == 7


def test_utf8_split_across_feeds() -> None:
    model = TerminalModel(20, 2)
    euro = "€ größe".encode()
    model.feed(euro[:1])
    model.feed(euro[1:5])
    model.feed(euro[5:])
    assert model.text().splitlines()[0] == "€ größe"
    model.feed(b" bad:\xff!")
    assert model.text().splitlines()[0] == "€ größe bad:\ufffd!"


def test_wide_characters_cover_two_cells() -> None:
    model = TerminalModel(20, 2)
    model.feed("日本x".encode())
    assert model.line(0) == (Run(0, 5, "日本x", DEFAULT_STYLE),)
    assert model.cursor.column == 5


def test_queries_are_answered() -> None:
    model = TerminalModel(80, 24)
    assert model.feed(b"/ # ") == b""
    assert model.feed(b"\x1b[6n") == b"\x1b[1;5R"  # busybox asks at every prompt
    assert model.feed(b"\x1b[c") == b"\x1b[?6c"


def test_title() -> None:
    model = TerminalModel(20, 2)
    model.feed(b"\x1b]0;guest shell\x07")
    assert model.title == "guest shell"


def test_copy_text_of_a_selection_reaching_into_the_scrollback() -> None:
    model = TerminalModel(12, 3, scrollback=10)
    model.feed(b"first line\r\nsecond\r\nthird one\r\nfourth")
    assert model.scrollback_text() == ["first line"]
    # document rows: 0 = scrollback "first line", 1.. = screen
    assert model.selection_text((0, 6), (2, 5)) == "line\nsecond\nthird"
    assert model.selection_text((2, 5), (0, 6)) == "line\nsecond\nthird"  # either direction
    assert model.selection_text((1, 0), (1, 3)) == "sec"
    assert model.selection_text((3, 0), (99, 99)) == "fourth"
    assert model.text() == "second\nthird one\nfourth"


@pytest.mark.parametrize(
    ("key", "kwargs", "expected"),
    [
        (Key.UP, {}, b"\x1b[A"),
        (Key.DOWN, {}, b"\x1b[B"),
        (Key.RIGHT, {}, b"\x1b[C"),
        (Key.LEFT, {}, b"\x1b[D"),
        (Key.UP, {"application_cursor": True}, b"\x1bOA"),
        (Key.HOME, {}, b"\x1b[H"),
        (Key.END, {"application_cursor": True}, b"\x1bOF"),
        (Key.LEFT, {"ctrl": True}, b"\x1b[1;5D"),
        (Key.RIGHT, {"shift": True, "alt": True}, b"\x1b[1;4C"),
        (Key.PAGE_UP, {}, b"\x1b[5~"),
        (Key.PAGE_DOWN, {"shift": True}, b"\x1b[6;2~"),
        (Key.INSERT, {}, b"\x1b[2~"),
        (Key.DELETE, {}, b"\x1b[3~"),
        (Key.F1, {}, b"\x1bOP"),
        (Key.F4, {}, b"\x1bOS"),
        (Key.F1, {"ctrl": True}, b"\x1b[1;5P"),
        (Key.F5, {}, b"\x1b[15~"),
        (Key.F10, {}, b"\x1b[21~"),
        (Key.F11, {}, b"\x1b[23~"),
        (Key.F12, {"ctrl": True}, b"\x1b[24;5~"),
        (Key.BACKSPACE, {}, b"\x7f"),
        (Key.BACKSPACE, {"ctrl": True}, b"\x08"),
        (Key.TAB, {}, b"\t"),
        (Key.TAB, {"shift": True}, b"\x1b[Z"),
        (Key.ESCAPE, {}, b"\x1b"),
        (Key.ENTER, {}, b"\r"),
        (Key.ENTER, {"newline_mode": True}, b"\r\n"),
        ("PgUp", {}, b"\x1b[5~"),
        ("c", {"ctrl": True}, b"\x03"),
        ("D", {"ctrl": True}, b"\x04"),
        ("[", {"ctrl": True}, b"\x1b"),
        (" ", {"ctrl": True}, b"\x00"),
        ("x", {"alt": True}, b"\x1bx"),
        ("é", {}, "é".encode()),
    ],
)
def test_key_sequences(key: Key | str, kwargs: dict[str, bool], expected: bytes) -> None:
    assert key_sequence(key, **kwargs) == expected


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown key 'Hyper'"):
        key_sequence("Hyper")


def test_keys_follow_the_modes_the_guest_set() -> None:
    model = TerminalModel(20, 2)
    assert model.keys_for(Key.UP) == b"\x1b[A"
    model.feed(b"\x1b[?1h")  # DECCKM: application cursor keys (less, vi)
    assert model.application_cursor
    assert model.keys_for(Key.UP) == b"\x1bOA"
    assert model.keys_for(Key.HOME) == b"\x1bOH"
    model.feed(b"\x1b[?1l\x1b[20h")  # back to normal; newline mode on
    assert model.keys_for(Key.UP) == b"\x1b[A"
    assert model.keys_for(Key.ENTER) == b"\r\n"
    assert model.keys_for("a", ctrl=True) == b"\x01"


def test_size_is_checked() -> None:
    with pytest.raises(ValueError, match="at least 1x1"):
        TerminalModel(0, 24)
    with pytest.raises(ValueError, match="scrollback"):
        TerminalModel(80, 24, scrollback=-1)
    with pytest.raises(IndexError):
        TerminalModel(80, 24).line(24)
