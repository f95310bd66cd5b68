"""``guestConsole`` on its own: painting, damaged-rect repaint, keys, pointer, clipboard."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import (
    QAction,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPaintEvent,
    QWheelEvent,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.keys import KEYSYMS
from vmgui.core.rfb.pixels import Pixels, Rect
from vmgui.ui.console.widget import GuestConsole

S = KEYSYMS
SHIFT = S["Shift_L"]
K = Qt.Key
M = Qt.KeyboardModifier


class Recorder:
    """A ConsoleInput that remembers what it was sent."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, bool]] = []
        self.pointer: list[tuple[int, int, int]] = []
        self.clipboard: list[str] = []

    def send_keys(self, transitions: Iterable[tuple[int, bool]]) -> None:
        self.keys += list(transitions)

    def send_pointer(self, x: int, y: int, buttons: int = 0) -> None:
        self.pointer.append((x, y, buttons))

    def send_clipboard(self, text: str) -> None:
        self.clipboard.append(text)

    def take(self) -> list[tuple[int, bool]]:
        keys, self.keys = self.keys, []
        return keys


def frame(width: int = 720, height: int = 400, seed: int = 1) -> Pixels:
    """A framebuffer of random opaque pixels."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 1 << 24, size=(height, width), dtype=np.uint32)
    return pixels | np.uint32(0xFF000000)


def pixels_of(image: QImage) -> Pixels:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), dtype=np.uint32, count=height * width)
    return data.reshape(height, width) | np.uint32(0xFF000000)


@pytest.fixture
def console(qtbot: QtBot) -> Iterator[tuple[GuestConsole, Recorder]]:
    widget = GuestConsole()
    qtbot.addWidget(widget)
    sink = Recorder()
    widget.set_input(sink)
    widget.show()
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus)
    yield widget, sink
    widget.set_input(None)


def key(widget: GuestConsole, kind: QEvent.Type, k: int, text: str = "", **kw: int) -> None:
    """Deliver one key event to the widget itself, with optional native codes."""
    event = QKeyEvent(
        kind,
        k,
        Qt.KeyboardModifier(kw.get("modifiers", 0)),
        kw.get("scan", 0),
        kw.get("native", 0),
        0,
        text,
    )
    QApplication.sendEvent(widget, event)


def test_paints_the_framebuffer_at_one_to_one(qtbot: QtBot) -> None:
    widget = GuestConsole()
    qtbot.addWidget(widget)
    pixels = frame()
    widget.show_frame(pixels)
    widget.resize(720, 400)
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.image_rect() == QRect(0, 0, 720, 400)
    assert widget.minimumSize().width() == 720, "1:1: the screen is never squeezed"
    assert np.array_equal(pixels_of(widget.grab().toImage()), pixels)
    assert np.array_equal(pixels_of(widget.screenshot()), pixels)


def test_repaints_only_the_damaged_rectangles(qtbot: QtBot) -> None:
    widget = GuestConsole()
    qtbot.addWidget(widget)
    pixels = frame()
    widget.show_frame(pixels)
    widget.resize(720, 400)
    widget.show()
    qtbot.waitExposed(widget)
    painted: list[QRect] = []

    class Spy(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if obj is widget and isinstance(event, QPaintEvent):
                painted.append(event.rect())
            return False

    spy = Spy()
    widget.installEventFilter(spy)
    QApplication.processEvents()
    painted.clear()
    pixels[20:25, 10:40] = 0xFFFF0000
    widget.show_frame(pixels, (Rect(10, 20, 30, 5),))
    qtbot.waitUntil(lambda: bool(painted))
    QApplication.processEvents()
    assert painted == [QRect(10, 20, 30, 5)]
    assert np.array_equal(pixels_of(widget.grab().toImage()), pixels)
    widget.removeEventFilter(spy)


def test_new_size_rewraps_and_announces_it(qtbot: QtBot) -> None:
    widget = GuestConsole()
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.screenResized) as blocker:
        widget.show_frame(frame(640, 480))
    assert blocker.args == [widget.screen_size()]
    assert widget.screen_size().width() == 640
    with qtbot.waitSignal(widget.screenResized):
        widget.show_frame(frame(720, 400))
    assert (widget.screen_size().width(), widget.screen_size().height()) == (720, 400)


def test_characters_take_shift_from_the_text(console: tuple[GuestConsole, Recorder]) -> None:
    widget, sink = console
    QTest.keyClick(widget, K.Key_A)
    assert sink.take() == [(ord("a"), True), (ord("a"), False)]
    QTest.keyClicks(widget, "A$")  # text, no Shift modifier: Shift comes from the characters
    assert sink.take() == [
        (SHIFT, True),
        (ord("A"), True),
        (SHIFT, False),
        (ord("A"), False),
        (SHIFT, True),
        (ord("$"), True),
        (SHIFT, False),
        (ord("$"), False),
    ]


def test_held_shift_is_lifted_for_an_unshifted_character(
    console: tuple[GuestConsole, Recorder],
) -> None:
    widget, sink = console
    key(widget, QEvent.Type.KeyPress, K.Key_Shift, modifiers=M.ShiftModifier.value)
    key(widget, QEvent.Type.KeyPress, K.Key_1, "!", modifiers=M.ShiftModifier.value)
    key(widget, QEvent.Type.KeyRelease, K.Key_1, "!", modifiers=M.ShiftModifier.value)
    # An AZERTY keyboard: Shift+& types 1, which needs no Shift on the guest's keymap.
    key(widget, QEvent.Type.KeyPress, K.Key_1, "1", modifiers=M.ShiftModifier.value, scan=10)
    key(widget, QEvent.Type.KeyRelease, K.Key_1, "1", modifiers=M.ShiftModifier.value, scan=10)
    key(widget, QEvent.Type.KeyRelease, K.Key_Shift)
    assert sink.take() == [
        (SHIFT, True),
        (ord("!"), True),
        (ord("!"), False),
        (SHIFT, False),
        (ord("1"), True),
        (SHIFT, True),
        (ord("1"), False),
        (SHIFT, False),
    ]


def test_named_keys_keypad_and_function_keys(console: tuple[GuestConsole, Recorder]) -> None:
    widget, sink = console
    for k in (K.Key_Return, K.Key_Tab, K.Key_Escape, K.Key_Left, K.Key_F1, K.Key_F5, K.Key_F12):
        QTest.keyClick(widget, k)
    expected = ["Return", "Tab", "Escape", "Left", "F1", "F5", "F12"]
    assert sink.take() == [(S[n], d) for n in expected for d in (True, False)]
    for k in (K.Key_5, K.Key_Plus, K.Key_Enter, K.Key_Period, K.Key_Home):
        QTest.keyClick(widget, k, M.KeypadModifier)
    expected = ["KP_5", "KP_Add", "KP_Enter", "KP_Decimal", "KP_Home"]
    assert sink.take() == [(S[n], d) for n in expected for d in (True, False)]


def test_modifiers_altgr_and_control_letters(console: tuple[GuestConsole, Recorder]) -> None:
    widget, sink = console
    press, release = QEvent.Type.KeyPress, QEvent.Type.KeyRelease
    altgr = M.GroupSwitchModifier.value
    key(widget, press, K.Key_AltGr, modifiers=altgr)
    key(widget, press, K.Key_Q, "@", modifiers=altgr)  # German AltGr+Q: no Shift added
    key(widget, release, K.Key_Q, "@", modifiers=altgr)
    key(widget, release, K.Key_AltGr)
    assert sink.take() == [
        (S["ISO_Level3_Shift"], True),
        (ord("@"), True),
        (ord("@"), False),
        (S["ISO_Level3_Shift"], False),
    ]
    QTest.keyClick(widget, K.Key_C, M.ControlModifier)  # text "\x03": the key code counts
    assert sink.take() == [
        (S["Control_L"], True),
        (ord("c"), True),
        (ord("c"), False),
        (S["Control_L"], False),
    ]
    key(widget, press, K.Key_Shift, native=S["Shift_R"], scan=62)
    key(widget, release, K.Key_Shift, native=S["Shift_R"], scan=62)
    assert sink.take() == [(S["Shift_R"], True), (S["Shift_R"], False)]


def test_release_sends_what_the_press_sent(console: tuple[GuestConsole, Recorder]) -> None:
    widget, sink = console
    press, release = QEvent.Type.KeyPress, QEvent.Type.KeyRelease
    key(widget, press, K.Key_A, "a", scan=38)
    key(widget, release, K.Key_A, "A", scan=38, modifiers=M.ShiftModifier.value)
    assert sink.take() == [(ord("a"), True), (ord("a"), False)]
    key(widget, release, K.Key_B, "b", scan=56)  # pressed before the console had focus
    assert sink.take() == []
    key(widget, press, K.Key_Control)
    widget.clearFocus()  # focus lost with a key down: released in the guest
    assert sink.take() == [(S["Control_L"], True), (S["Control_L"], False)]


def test_tab_and_shortcuts_reach_the_guest(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    layout = QVBoxLayout(parent)
    widget, other = GuestConsole(), QLineEdit()
    layout.addWidget(widget)
    layout.addWidget(other)
    quit_action = QAction("Quit", parent)
    quit_action.setShortcut(QKeySequence("Ctrl+Q"))
    fired: list[bool] = []
    quit_action.triggered.connect(lambda: fired.append(True))
    parent.addAction(quit_action)
    sink = Recorder()
    widget.set_input(sink)
    parent.show()
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus)
    QTest.keyClick(widget, K.Key_Tab)
    assert widget.hasFocus(), "Tab does not move the focus away"
    QTest.keyClick(widget, K.Key_Q, M.ControlModifier)
    assert not fired, "a window shortcut does not take the guest's key"
    assert sink.take() == [
        (S["Tab"], True),
        (S["Tab"], False),
        (S["Control_L"], True),
        (ord("q"), True),
        (ord("q"), False),
        (S["Control_L"], False),
    ]


def test_pointer_is_mapped_through_the_scale(
    qtbot: QtBot, console: tuple[GuestConsole, Recorder]
) -> None:
    widget, sink = console
    widget.show_frame(frame())
    widget.set_scaled(True)
    widget.resize(360, 200)
    qtbot.waitUntil(lambda: widget.image_rect() == QRect(0, 0, 360, 200))
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(100, 50))
    assert sink.pointer == [(200, 100, msg.BUTTON_LEFT), (200, 100, 0)]
    sink.pointer.clear()
    wheel = QWheelEvent(
        QPointF(10, 20),
        QPointF(widget.mapToGlobal(QPoint(10, 20))),
        QPoint(),
        QPoint(0, -240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, wheel)
    down = (20, 40, msg.WHEEL_DOWN)
    assert sink.pointer == [down, (20, 40, 0), down, (20, 40, 0)]
    widget.set_scaled(False)
    widget.resize(800, 500)  # 1:1 in a larger widget: centred
    qtbot.waitUntil(lambda: widget.image_rect() == QRect(40, 50, 720, 400))
    assert widget.to_framebuffer(QPoint(45, 60)) == (5, 10)
    assert widget.to_framebuffer(QPoint(0, 0)) == (0, 0), "clamped to the screen"


#: The offscreen platform cannot grab; X11 and Wayland can.
NO_GRAB = "This plugin does not support grabbing the keyboard"


@pytest.mark.qt_log_ignore(NO_GRAB)
def test_keyboard_grab_is_released_by_ctrl_alt(
    qtbot: QtBot, console: tuple[GuestConsole, Recorder]
) -> None:
    widget, sink = console
    with qtbot.waitSignal(widget.grabChanged) as taken:
        widget.set_grab(True)
    assert taken.args == [True]
    press = QEvent.Type.KeyPress
    key(widget, press, K.Key_Control, modifiers=M.ControlModifier.value)
    with qtbot.waitSignal(widget.grabChanged) as released:
        key(widget, press, K.Key_Alt, modifiers=(M.ControlModifier | M.AltModifier).value)
    assert released.args == [False] and not widget.grabbed
    assert sink.take() == [
        (S["Control_L"], True),
        (S["Alt_L"], True),
        (S["Alt_L"], False),
        (S["Control_L"], False),
    ], "nothing stays pressed in the guest"


def test_clipboard_both_ways(qtbot: QtBot, console: tuple[GuestConsole, Recorder]) -> None:
    widget, sink = console
    clipboard = QGuiApplication.clipboard()
    widget.set_guest_clipboard("from the guest")
    assert clipboard.text() == "from the guest"
    assert sink.clipboard == [], "the guest's own text is not echoed back"
    clipboard.setText("from the host")
    qtbot.waitUntil(lambda: sink.clipboard == ["from the host"])
    widget.clearFocus()
    clipboard.setText("while elsewhere")
    QApplication.processEvents()
    assert sink.clipboard == ["from the host"], "not focused: not sent"
    widget.setFocus()
    qtbot.waitUntil(lambda: sink.clipboard == ["from the host", "while elsewhere"])
