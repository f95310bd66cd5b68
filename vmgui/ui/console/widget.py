"""``guestConsole``: the guest's framebuffer, painted with QPainter, taking keyboard and mouse.

The framebuffer is the session's numpy array wrapped in a ``QImage`` (``Format_RGB32``,
no copy); an update repaints only its damaged rectangles. The widget maps its own key,
mouse, wheel and clipboard events to RFB input for a :class:`ConsoleInput` (the VNC
session). It never talks to libvirt.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.pixels import Pixels, Rect
from vmgui.ui.console.keymap import ALTS, CONTROLS, KeyMapper

#: One wheel notch (QWheelEvent.angleDelta units).
WHEEL_STEP = 120
_BUTTONS = {
    Qt.MouseButton.LeftButton: msg.BUTTON_LEFT,
    Qt.MouseButton.MiddleButton: msg.BUTTON_MIDDLE,
    Qt.MouseButton.RightButton: msg.BUTTON_RIGHT,
}
_BACKGROUND = QColor(0, 0, 0)


class ConsoleInput(Protocol):
    """Where the console's input goes (:class:`~vmgui.virt.vnc.VncSession`)."""

    def send_keys(self, transitions: Iterable[tuple[int, bool]]) -> None:
        """Send key transitions (keysym, pressed) in order."""

    def send_pointer(self, x: int, y: int, buttons: int = 0) -> None:
        """Move the pointer to framebuffer pixel (x, y) with ``buttons`` pressed."""

    def send_clipboard(self, text: str) -> None:
        """Give the guest the host's clipboard text."""


class GuestConsole(QWidget):
    """The guest's screen (objectName ``guestConsole``).

    At 1:1 its minimum size is the framebuffer's (put it in a scroll area); scaled, the
    screen fits the widget keeping its aspect ratio. Either way the screen is centred on
    black.

    Signals:
        grabChanged(bool): the keyboard grab was taken (True) or released.
        screenResized(QSize): the guest's screen has a new size (or its first one).
    """

    grabChanged = Signal(bool)
    screenResized = Signal(QSize)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guestConsole")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, False)
        self._framebuffer: Pixels | None = None
        self._image = QImage()
        self._scaled = False
        self._target = QRect()
        self._scale = 1.0
        self._input: ConsoleInput | None = None
        self._keys = KeyMapper()
        self._buttons = 0
        self._wheel = QPoint()
        self._grabbed = False
        self._clipboard_seen = ""  # the text last given to or taken from the guest
        QGuiApplication.clipboard().dataChanged.connect(self._on_clipboard_data_changed)

    # -- what is shown -------------------------------------------------------------------------

    @property
    def scaled(self) -> bool:
        """Whether the screen is scaled to the widget (else 1:1)."""
        return self._scaled

    @property
    def grabbed(self) -> bool:
        """Whether the keyboard is grabbed."""
        return self._grabbed

    def set_scaled(self, scaled: bool) -> None:
        """Scale the screen to the widget, or show it 1:1."""
        self._scaled = scaled
        self._relayout()

    def show_frame(self, framebuffer: Pixels, damage: Sequence[Rect] = ()) -> None:
        """Show ``framebuffer``; repaint only ``damage`` (everything for a new array).

        The array is wrapped, not copied: it must stay alive and keep its shape, which
        the RFB client guarantees (a resize makes a new array).
        """
        if framebuffer is not self._framebuffer:
            self._framebuffer = framebuffer
            height, width = framebuffer.shape
            old = self._image.size()
            self._image = QImage(
                framebuffer.data, width, height, width * 4, QImage.Format.Format_RGB32
            )
            self._relayout()
            if self._image.size() != old:
                self.screenResized.emit(self._image.size())
            return
        for rect in damage:
            self.update(self._to_widget(rect))

    def clear_frame(self) -> None:
        """Show nothing (black)."""
        self._framebuffer = None
        self._image = QImage()
        self._relayout()

    def screen_size(self) -> QSize:
        """The framebuffer's size (empty before the first frame)."""
        return self._image.size()

    def image_rect(self) -> QRect:
        """Where the screen is painted, in widget coordinates."""
        return QRect(self._target)

    def screenshot(self) -> QImage:
        """A copy of the framebuffer (not of the scaled widget)."""
        return self._image.copy()

    def sizeHint(self) -> QSize:  # noqa: N802
        return self._image.size() if not self._image.isNull() else QSize(640, 400)

    # -- input ---------------------------------------------------------------------------------

    def set_input(self, sink: ConsoleInput | None) -> None:
        """Send input to ``sink`` from now on (None: drop it; keys still down are released)."""
        if self._input is not None and sink is not self._input:
            self._input.send_keys(self._keys.release_all())
        self._input = sink
        self._buttons = 0

    def set_grab(self, grab: bool) -> None:
        """Take (or release) the keyboard: every key goes to the guest while it is taken."""
        if grab == self._grabbed:
            return
        self._grabbed = grab
        if grab:
            self.setFocus(Qt.FocusReason.OtherFocusReason)
            self.grabKeyboard()
        else:
            self.releaseKeyboard()
        self.grabChanged.emit(grab)

    def set_guest_clipboard(self, text: str) -> None:
        """The guest's clipboard changed: put its text on the host's clipboard."""
        self._clipboard_seen = text
        QGuiApplication.clipboard().setText(text)

    # -- events --------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()  # every key is the guest's: no window shortcut fires while focused
            return True
        return super().event(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802
        return False  # Tab and Shift+Tab are the guest's keys

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        event.accept()
        transitions = self._keys.press(event)
        self._send_keys(transitions)
        held = self._keys.held
        if self._grabbed and held & CONTROLS and held & ALTS and len(held) == 2:
            self._send_keys(self._keys.release_all())
            self.set_grab(False)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        event.accept()
        if not event.isAutoRepeat():
            self._send_keys(self._keys.release(event))

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusInEvent(event)
        self._offer_clipboard()

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self._send_keys(self._keys.release_all())
        if self._grabbed and event.reason() is not Qt.FocusReason.PopupFocusReason:
            self.set_grab(False)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._pointer(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._pointer(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._pointer(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        event.accept()
        x, y = self.to_framebuffer(event.position().toPoint())
        self._wheel += event.angleDelta()
        up, left = int(self._wheel.y() / WHEEL_STEP), int(self._wheel.x() / WHEEL_STEP)
        self._wheel -= QPoint(left * WHEEL_STEP, up * WHEEL_STEP)
        for notches, forward, backward in (
            (up, msg.WHEEL_UP, msg.WHEEL_DOWN),
            (left, msg.WHEEL_LEFT, msg.WHEEL_RIGHT),
        ):
            bit = forward if notches > 0 else backward
            for _ in range(abs(notches)):  # one click of button 4-7: press and release
                self._send_pointer(x, y, self._buttons | bit)
                self._send_pointer(x, y, self._buttons)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        exposed = event.rect()
        target = self._target
        if self._image.isNull() or not target.contains(exposed):
            painter.fillRect(exposed, _BACKGROUND)
        if self._image.isNull():
            return
        if self._scaled and self._scale != 1.0:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(target), self._image, QRectF(self._image.rect()))
            return
        area = exposed & target
        if not area.isEmpty():
            painter.drawImage(area.topLeft(), self._image, area.translated(-target.topLeft()))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._place()

    # -- coordinates ---------------------------------------------------------------------------

    def to_framebuffer(self, pos: QPoint) -> tuple[int, int]:
        """The framebuffer pixel under widget position ``pos`` (clamped to the screen)."""
        size = self._image.size()
        if size.isEmpty():
            return 0, 0
        x = math.floor((pos.x() - self._target.x()) / self._scale)
        y = math.floor((pos.y() - self._target.y()) / self._scale)
        return min(max(x, 0), size.width() - 1), min(max(y, 0), size.height() - 1)

    def _to_widget(self, rect: Rect) -> QRect:
        s, origin = self._scale, self._target.topLeft()
        if s == 1.0:
            return QRect(origin.x() + rect.x, origin.y() + rect.y, rect.width, rect.height)
        left, top = math.floor(rect.x * s), math.floor(rect.y * s)
        right, bottom = math.ceil((rect.x + rect.width) * s), math.ceil((rect.y + rect.height) * s)
        # One pixel more on each side: smooth scaling blends neighbours.
        return QRect(
            origin.x() + left - 1, origin.y() + top - 1, right - left + 2, bottom - top + 2
        )

    def _relayout(self) -> None:
        size = self._image.size()
        self.setMinimumSize(QSize(1, 1) if self._scaled or size.isEmpty() else size)
        self.updateGeometry()
        self._place()
        self.update()

    def _place(self) -> None:
        size = self._image.size()
        if size.isEmpty():
            self._target, self._scale = QRect(), 1.0
            return
        width, height = size.width(), size.height()
        scale = min(self.width() / width, self.height() / height) if self._scaled else 1.0
        if scale <= 0:
            scale = 1.0
        shown = QSize(round(width * scale), round(height * scale))
        x = max(0, (self.width() - shown.width()) // 2)
        y = max(0, (self.height() - shown.height()) // 2)
        self._target, self._scale = QRect(QPoint(x, y), shown), scale
        self.update()

    # -- sending -------------------------------------------------------------------------------

    def _send_keys(self, transitions: list[tuple[int, bool]]) -> None:
        if transitions and self._input is not None:
            self._input.send_keys(transitions)

    def _pointer(self, event: QMouseEvent) -> None:
        event.accept()
        buttons = 0
        for qt_button, bit in _BUTTONS.items():
            if event.buttons() & qt_button:
                buttons |= bit
        self._buttons = buttons
        self._send_pointer(*self.to_framebuffer(event.position().toPoint()), buttons)

    def _send_pointer(self, x: int, y: int, buttons: int) -> None:
        if self._input is not None:
            self._input.send_pointer(x, y, buttons)

    def _offer_clipboard(self) -> None:
        text = QGuiApplication.clipboard().text()
        if text and text != self._clipboard_seen and self._input is not None:
            self._clipboard_seen = text
            self._input.send_clipboard(text)

    def _on_clipboard_data_changed(self) -> None:
        if self.hasFocus():
            self._offer_clipboard()
