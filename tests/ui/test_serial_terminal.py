"""``serialConsole`` on its own: painting, dirty rows, keys, selection, resize, scrollback."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPaintEvent,
    QRegion,
    QWheelEvent,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from tests.ui.test_console_widget import pixels_of
from vmgui.core.rfb.pixels import Pixels
from vmgui.core.terminal import PALETTE, Style
from vmgui.ui.console.serialwidget import SerialTerminal
from vmgui.ui.console.termpaint import DEFAULT_BG, DEFAULT_FG

K = Qt.Key
M = Qt.KeyboardModifier


def rgb(name: str) -> np.uint32:
    return np.uint32(QColor(name).rgb())


class Sent:
    """The terminal's sink: everything typed or answered."""

    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, data: bytes) -> None:
        self.data += data

    def take(self) -> bytes:
        data = bytes(self.data)
        self.data.clear()
        return data


Terminal = tuple[SerialTerminal, Sent, QLineEdit]


@pytest.fixture
def terminal(qtbot: QtBot) -> Iterator[Terminal]:
    """A shown terminal with focus, next to a line edit (where Tab would move focus)."""
    host = QWidget()
    qtbot.addWidget(host)
    layout = QVBoxLayout(host)
    term = SerialTerminal()
    other = QLineEdit()
    layout.addWidget(term)
    layout.addWidget(other)
    sink = Sent()
    term.set_sink(sink)
    host.resize(800, 500)
    host.show()
    qtbot.waitExposed(host)
    term.setFocus()
    qtbot.waitUntil(term.hasFocus)
    yield term, sink, other
    term.set_sink(None)
    host.close()


def shot(term: SerialTerminal) -> Pixels:
    """The viewport's pixels, as painted."""
    return pixels_of(term.viewport().grab().toImage())


def cell(term: SerialTerminal, pixels: Pixels, row: int, column: int, width: int = 1) -> Pixels:
    cw, ch = term.painter.cell_width, term.painter.cell_height
    return pixels[row * ch : (row + 1) * ch, column * cw : (column + width) * cw]


def test_output_is_painted_in_its_colours(terminal: Terminal) -> None:
    term, _sink, _other = terminal
    term.feed(b"\x1b[31mRED\x1b[0m \x1b[44mBLUE\x1b[0m \x1b[7mrev\x1b[0m plain\r\n")
    assert term.model.text().splitlines()[0] == "RED BLUE rev plain"
    pixels = shot(term)
    red = cell(term, pixels, 0, 0, 3)
    assert np.any(red == rgb(PALETTE["red"])), "red text"
    assert not np.any(red == rgb(DEFAULT_FG)), "in red only"
    blue = cell(term, pixels, 0, 4, 4)
    assert np.mean(blue == rgb(PALETTE["blue"])) > 0.5, "blue background behind the text"
    reverse = cell(term, pixels, 0, 9, 3)
    assert np.mean(reverse == rgb(DEFAULT_FG)) > 0.5, "reverse: light background"
    plain = cell(term, pixels, 0, 13, 5)
    assert np.any(plain == rgb(DEFAULT_FG)) and np.mean(plain == rgb(DEFAULT_BG)) > 0.5
    assert np.all(cell(term, pixels, 3, 0, 20) == rgb(DEFAULT_BG)), "empty rows are black"


def test_bold_text_uses_the_bold_font(terminal: Terminal) -> None:
    term, _sink, _other = terminal
    assert term.painter.font_for(Style(bold=True)).bold()
    assert not term.painter.font_for(Style()).bold()
    term.feed(b"WWWWWWWW\r\n\x1b[1mWWWWWWWW\x1b[0m")
    pixels = shot(term)
    normal = np.count_nonzero(cell(term, pixels, 0, 0, 8) != rgb(DEFAULT_BG))
    bold = np.count_nonzero(cell(term, pixels, 1, 0, 8) != rgb(DEFAULT_BG))
    assert bold > normal * 1.05, (normal, bold)


def test_cursor_is_a_block_with_focus_and_an_outline_without(
    qtbot: QtBot, terminal: Terminal
) -> None:
    term, _sink, other = terminal
    term.feed(b"ab")
    assert (term.model.cursor.row, term.model.cursor.column) == (0, 2)
    block = cell(term, shot(term), 0, 2)
    assert np.mean(block == rgb("#ffffff")) > 0.9, "the inverted blank cell"
    other.setFocus()
    qtbot.waitUntil(lambda: not term.hasFocus())
    outline = cell(term, shot(term), 0, 2)
    ch, cw = outline.shape
    assert outline[ch // 2, cw // 2] == rgb(DEFAULT_BG), "hollow"
    assert outline[0, cw // 2] == rgb(DEFAULT_FG), "outlined"
    term.feed(b"\x1b[?25l")  # the guest hides it
    assert not np.any(cell(term, shot(term), 0, 2) == rgb(DEFAULT_FG))


class PaintSpy(QObject):
    """Records the regions the viewport repaints."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[QRegion] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            assert isinstance(event, QPaintEvent)
            self.regions.append(QRegion(event.region()))
        return False


def test_only_the_changed_rows_are_repainted(qtbot: QtBot, terminal: Terminal) -> None:
    term, _sink, _other = terminal
    term.feed(b"first line")
    spy = PaintSpy()
    term.viewport().installEventFilter(spy)
    QApplication.processEvents()  # the first line's paint
    spy.regions.clear()
    term.feed(b"\x1b[3;1Hx")  # row 2 written; the cursor leaves row 0
    qtbot.waitUntil(lambda: bool(spy.regions))
    painted = QRegion()
    for region in spy.regions:
        painted = painted.united(region)
    ch, width = term.painter.cell_height, term.viewport().width()
    expected = QRegion(QRect(0, 0, width, ch)).united(QRegion(QRect(0, 2 * ch, width, ch)))
    assert painted == expected
    assert term.model.text().splitlines()[2] == "x"


def click(term: SerialTerminal, key: Qt.Key, mods: Qt.KeyboardModifier = M.NoModifier) -> None:
    QTest.keyClick(term, key, mods)


def test_keys_become_the_bytes_an_xterm_sends(terminal: Terminal) -> None:
    term, sink, _other = terminal
    QTest.keyClicks(term, "echo $((6*7))")
    assert sink.take() == b"echo $((6*7))"
    click(term, K.Key_Return)
    assert sink.take() == b"\r"
    click(term, K.Key_Tab)
    assert sink.take() == b"\t"
    assert term.hasFocus(), "Tab reached the terminal, focus stayed"
    click(term, K.Key_Backtab, M.ShiftModifier)
    assert sink.take() == b"\x1b[Z"
    assert term.hasFocus()
    for key, expected in (
        (K.Key_Up, b"\x1b[A"),
        (K.Key_Down, b"\x1b[B"),
        (K.Key_Right, b"\x1b[C"),
        (K.Key_Left, b"\x1b[D"),
        (K.Key_Home, b"\x1b[H"),
        (K.Key_PageUp, b"\x1b[5~"),
        (K.Key_Delete, b"\x1b[3~"),
        (K.Key_Backspace, b"\x7f"),
        (K.Key_Escape, b"\x1b"),
        (K.Key_F1, b"\x1bOP"),
        (K.Key_F12, b"\x1b[24~"),
    ):
        click(term, key)
        assert sink.take() == expected, key
    click(term, K.Key_C, M.ControlModifier)
    assert sink.take() == b"\x03"
    click(term, K.Key_D, M.ControlModifier)
    assert sink.take() == b"\x04"
    click(term, K.Key_BracketLeft, M.ControlModifier)
    assert sink.take() == b"\x1b"
    click(term, K.Key_Up, M.ControlModifier)
    assert sink.take() == b"\x1b[1;5A"
    click(term, K.Key_X, M.AltModifier)
    assert sink.take() == b"\x1bx"
    click(term, K.Key_Shift)
    assert sink.take() == b"", "a modifier alone sends nothing"


def test_application_cursor_keys_follow_the_guest(terminal: Terminal) -> None:
    term, sink, _other = terminal
    term.feed(b"\x1b[?1h")  # DECCKM, as less and vi set it
    click(term, K.Key_Up)
    assert sink.take() == b"\x1bOA"
    term.feed(b"\x1b[?1l")
    click(term, K.Key_Up)
    assert sink.take() == b"\x1b[A"


def test_typed_characters_are_utf8(terminal: Terminal) -> None:
    term, sink, _other = terminal
    for text in ("é", "€", "日"):
        event = QKeyEvent(QEvent.Type.KeyPress, K.Key_unknown, M.NoModifier, text)
        QApplication.sendEvent(term, event)
    assert sink.take() == "é€日".encode()


def test_window_shortcuts_do_not_fire_in_the_terminal(qtbot: QtBot, terminal: Terminal) -> None:
    term, sink, _other = terminal
    fired: list[bool] = []
    action = QAction(term.window())
    action.setShortcut(QKeySequence("Ctrl+L"))
    action.triggered.connect(lambda: fired.append(True))
    term.window().addAction(action)
    click(term, K.Key_L, M.ControlModifier)
    assert sink.take() == b"\x0c" and not fired


def test_terminal_replies_go_back_to_the_guest(terminal: Terminal) -> None:
    term, sink, _other = terminal
    term.feed(b"abc\x1b[6n")  # busybox's shell asks where the cursor is
    assert sink.take() == b"\x1b[1;4R"


def drag(term: SerialTerminal, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Drag with the left button from cell boundary ``start`` to ``end`` (row, boundary)."""
    cw, ch = term.painter.cell_width, term.painter.cell_height
    viewport = term.viewport()
    a = QPoint(start[1] * cw, start[0] * ch + ch // 2)
    b = QPoint(end[1] * cw, end[0] * ch + ch // 2)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, M.NoModifier, a)
    QTest.mouseMove(viewport, b)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, M.NoModifier, b)


def test_mouse_selection_is_copied_with_ctrl_shift_c(terminal: Terminal) -> None:
    term, sink, _other = terminal
    term.feed(b"hello world\r\nsecond line\r\n")
    QGuiApplication.clipboard().setText("before")
    drag(term, (0, 6), (1, 6))
    assert term.selected_text() == "world\nsecond"
    selected = cell(term, shot(term), 0, 6, 5)
    assert np.mean(selected == rgb("#ffffff")) > 0.5, "selected cells are inverted"
    click(term, K.Key_C, M.ControlModifier | M.ShiftModifier)
    assert QGuiApplication.clipboard().text() == "world\nsecond"
    assert sink.take() == b"", "copying sends nothing"


def test_paste_types_the_clipboard(terminal: Terminal) -> None:
    term, sink, _other = terminal
    QGuiApplication.clipboard().setText("ls\necho é")
    click(term, K.Key_V, M.ControlModifier | M.ShiftModifier)
    assert sink.take() == "ls\recho é".encode()
    QTest.mouseClick(term.viewport(), Qt.MouseButton.MiddleButton, M.NoModifier, QPoint(5, 5))
    clipboard = QGuiApplication.clipboard()
    expected = clipboard.text(clipboard.Mode.Selection) if clipboard.supportsSelection() else ""
    assert sink.take() == (expected or "ls\necho é").replace("\n", "\r").encode()


def test_resize_gives_the_model_what_fits(qtbot: QtBot, terminal: Terminal) -> None:
    term, _sink, _other = terminal
    cw, ch = term.painter.cell_width, term.painter.cell_height

    def fits() -> bool:
        viewport = term.viewport().size()
        return (term.model.columns, term.model.rows) == (
            viewport.width() // cw,
            viewport.height() // ch,
        )

    assert fits()
    before = (term.model.columns, term.model.rows)
    term.window().resize(500, 300)
    qtbot.waitUntil(lambda: (term.model.columns, term.model.rows) != before)
    assert fits()
    assert term.model.columns < before[0] and term.model.rows < before[1]


def test_scrollback_with_the_wheel_and_back_on_typing(qtbot: QtBot, terminal: Terminal) -> None:
    term, sink, _other = terminal
    rows = term.model.rows
    term.feed(b"".join(b"line %d\r\n" % n for n in range(100)))
    scrolled = 100 - rows + 1
    assert term.model.scrollback_size == scrolled
    assert term.verticalScrollBar().maximum() == scrolled
    assert term.at_bottom and term.top_row == scrolled
    event = QWheelEvent(
        QPointF(10, 10),
        QPointF(term.viewport().mapToGlobal(QPoint(10, 10))),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        M.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(term.viewport(), event)
    assert term.top_row == scrolled - QApplication.wheelScrollLines()
    assert term.top_row < term.model.scrollback_size, "in the scrollback"
    term.verticalScrollBar().setValue(0)
    top = cell(term, shot(term), 0, 0, 6)
    term.verticalScrollBar().setValue(1)
    assert not np.array_equal(top, cell(term, shot(term), 0, 0, 6)), "line 1 shown, not 0"
    term.verticalScrollBar().setValue(0)
    assert np.array_equal(top, cell(term, shot(term), 0, 0, 6))
    term.feed(b"more\r\n")
    assert term.top_row == 0, "output does not pull the view away while reading"
    QTest.keyClicks(term, "x")
    assert sink.take() == b"x"
    assert term.top_row == term.model.scrollback_size, "typing goes back to the screen"
