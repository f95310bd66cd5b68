"""``serialConsole``: a VT100/xterm terminal painted with QPainter, with scrollback.

:class:`SerialTerminal` shows a :class:`~vmgui.core.terminal.TerminalModel` in a monospace font
(:mod:`vmgui.ui.console.termpaint`): :meth:`SerialTerminal.feed` gives it the guest's output
and repaints only the rows that changed; the terminal's answers to the guest's queries go
back through the sink at once. The vertical scroll bar (and the wheel) scrolls through the
scrollback; a resize gives the model as many columns and rows as fit. Key events delivered to
the widget itself become bytes (:mod:`vmgui.ui.console.termkeys`), Tab included. The mouse
selects (:mod:`vmgui.ui.console.termselect`); Ctrl+Shift+C copies, Ctrl+Shift+V, Shift+Insert
and the middle button paste. It never talks to libvirt.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QClipboard,
    QFocusEvent,
    QGuiApplication,
    QInputMethodEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QFrame, QWidget

from vmgui.core.terminal import Line, TerminalModel
from vmgui.ui.console.termkeys import Clipboard, clipboard_key, key_bytes
from vmgui.ui.console.termpaint import TerminalPainter, terminal_font
from vmgui.ui.console.termselect import Position, TextSelection

#: Lines kept above the screen.
SCROLLBACK = 2000
#: Where the typed and answered bytes go (the serial console's ``send``).
Sink = Callable[[bytes], None]


class SerialTerminal(QAbstractScrollArea):
    """The guest's serial terminal (objectName ``serialConsole``).

    Args:
        scrollback: how many lines scrolled off the top are kept.
    """

    def __init__(self, parent: QWidget | None = None, *, scrollback: int = SCROLLBACK) -> None:
        super().__init__(parent)
        self.setObjectName("serialConsole")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always shown: a scroll bar appearing with the first scrolled line would take
        # columns away.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
        self._painter = TerminalPainter(terminal_font())
        self._model = TerminalModel(80, 24, scrollback=scrollback)
        self._sink: Sink | None = None
        self._selection: TextSelection | None = None
        self._selecting = False
        self._cursor_row = self._cursor_doc_row()
        self.verticalScrollBar().setSingleStep(1)
        self._sync_scroll_bar(follow=True)

    # -- queries -------------------------------------------------------------------------------

    @property
    def model(self) -> TerminalModel:
        """The screen being shown."""
        return self._model

    @property
    def painter(self) -> TerminalPainter:
        """The font and cell size."""
        return self._painter

    @property
    def top_row(self) -> int:
        """The document row shown at the top (``model.scrollback_size`` at the bottom)."""
        return self.verticalScrollBar().value()

    @property
    def at_bottom(self) -> bool:
        """Whether the screen (not the scrollback) is shown."""
        return self.top_row >= self._model.scrollback_size

    @property
    def selection(self) -> TextSelection | None:
        """The mouse selection, if any."""
        return self._selection

    def selected_text(self) -> str:
        """The selected text ("" without a selection)."""
        if self._selection is None or self._selection.empty:
            return ""
        return self._model.selection_text(*self._selection.start_end)

    def sizeHint(self) -> QSize:  # noqa: N802
        cells = QSize(80 * self._painter.cell_width, 24 * self._painter.cell_height)
        return cells + QSize(self.verticalScrollBar().sizeHint().width(), 0)

    # -- control -------------------------------------------------------------------------------

    def set_sink(self, sink: Sink | None) -> None:
        """Send typed bytes and the terminal's replies to ``sink`` (None: drop them)."""
        self._sink = sink

    def feed(self, data: bytes) -> None:
        """Show the guest's output; its replies (cursor position reports) go to the sink."""
        follow = self.at_bottom  # before the scrollback grows
        replies = self._model.feed(data)
        if replies and self._sink is not None:
            self._sink(replies)
        self._changed(follow)

    def scroll_to_bottom(self) -> None:
        """Show the screen (leave the scrollback)."""
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def copy(self, mode: QClipboard.Mode = QClipboard.Mode.Clipboard) -> None:
        """Put the selected text on the clipboard (or the X11 selection)."""
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text, mode)

    def paste(self, mode: QClipboard.Mode = QClipboard.Mode.Clipboard) -> None:
        """Type the clipboard's text (line breaks as Enter, like xterm)."""
        text = QGuiApplication.clipboard().text(mode)
        if text:
            self._type(text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8"))

    # -- geometry ------------------------------------------------------------------------------

    def cell_at(self, pos: QPoint) -> Position:
        """The (document row, boundary) nearest viewport position ``pos``."""
        cell_w, cell_h = self._painter.cell_width, self._painter.cell_height
        row = self.top_row + min(max(pos.y() // cell_h, 0), self._model.rows - 1)
        boundary = min(max(round(pos.x() / cell_w), 0), self._model.columns)
        return row, boundary

    def _fit(self) -> None:
        viewport = self.viewport().size()
        columns = max(1, viewport.width() // self._painter.cell_width)
        rows = max(1, viewport.height() // self._painter.cell_height)
        if (columns, rows) != (self._model.columns, self._model.rows):
            follow = self.at_bottom
            self._model.resize(columns, rows)
            self._model.take_dirty()
            self._sync_scroll_bar(follow=follow)
            self._cursor_row = self._cursor_doc_row()
            self.viewport().update()

    def _sync_scroll_bar(self, *, follow: bool) -> None:
        bar = self.verticalScrollBar()
        bar.setRange(0, self._model.scrollback_size)
        bar.setPageStep(self._model.rows)
        if follow:
            bar.setValue(bar.maximum())

    def _cursor_doc_row(self) -> int:
        return self._model.scrollback_size + self._model.cursor.row

    def _update_doc_row(self, doc_row: int) -> None:
        view_row = doc_row - self.top_row
        if 0 <= view_row < self._model.rows:
            y = view_row * self._painter.cell_height
            self.viewport().update(QRect(0, y, self.viewport().width(), self._painter.cell_height))

    def _changed(self, follow: bool) -> None:
        """Repaint what the last feed changed (only those rows); ``follow``: stay at the bottom."""
        before = self.top_row
        self._sync_scroll_bar(follow=follow)
        dirty = self._model.take_dirty()
        if self.top_row != before:
            return  # scrolled: scrollContentsBy repaints everything
        if not follow and len(dirty) >= self._model.rows:
            # The screen scrolled (pyte marks every row): with a full scrollback the
            # lines in view moved up too.
            self.viewport().update()
            return
        base = self._model.scrollback_size
        for row in dirty:
            self._update_doc_row(base + row)
        cursor_row = self._cursor_doc_row()
        self._update_doc_row(self._cursor_row)
        self._update_doc_row(cursor_row)
        self._cursor_row = cursor_row

    # -- sending -------------------------------------------------------------------------------

    def _type(self, data: bytes) -> None:
        if not data:
            return
        self.scroll_to_bottom()
        if self._sink is not None:
            self._sink(data)

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
        action = clipboard_key(event)
        if action is Clipboard.COPY:
            self.copy()
        elif action is Clipboard.PASTE:
            self.paste()
        else:
            self._type(key_bytes(event, self._model))

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        event.accept()

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:  # noqa: N802
        event.accept()
        self._type(event.commitString().encode("utf-8"))

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusInEvent(event)
        self._update_doc_row(self._cursor_row)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self._update_doc_row(self._cursor_row)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        event.accept()
        button = event.button()
        if button == Qt.MouseButton.LeftButton:
            cell = self.cell_at(event.position().toPoint())
            self._set_selection(TextSelection(cell, cell))
            self._selecting = True
        elif button == Qt.MouseButton.MiddleButton:
            clipboard = QGuiApplication.clipboard()
            self.paste(
                QClipboard.Mode.Selection
                if clipboard.supportsSelection()
                else QClipboard.Mode.Clipboard
            )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        event.accept()
        if self._selecting and self._selection is not None:
            pos = event.position().toPoint()
            bar = self.verticalScrollBar()
            if pos.y() < 0:
                bar.setValue(bar.value() - 1)
            elif pos.y() >= self.viewport().height():
                bar.setValue(bar.value() + 1)
            self._set_selection(TextSelection(self._selection.anchor, self.cell_at(pos)))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        event.accept()
        if event.button() == Qt.MouseButton.LeftButton and self._selecting:
            self._selecting = False
            if QGuiApplication.clipboard().supportsSelection():
                self.copy(QClipboard.Mode.Selection)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self.viewport())
        cell_h = self._painter.cell_height
        width = self.viewport().width()
        rows = self._model.rows
        top = self.top_row
        cursor = self._model.cursor
        show_cursor = cursor.visible and self._cursor_doc_row() - top in range(rows)
        region = event.region()
        bounds = event.rect()
        first = max(0, bounds.top() // cell_h)
        last = min(rows - 1, bounds.bottom() // cell_h)
        for view_row in range(first, last + 1):
            y = view_row * cell_h
            if not region.intersects(QRect(0, y, width, cell_h)):
                continue  # between two updated rows: unchanged
            doc_row = top + view_row
            is_cursor_row = show_cursor and doc_row == self._cursor_doc_row()
            self._painter.paint_row(
                painter,
                y,
                self._doc_line(doc_row),
                width,
                selected=self._selected_columns(doc_row),
                cursor=cursor.column if is_cursor_row else None,
                cursor_filled=self.hasFocus(),
            )
        below = rows * cell_h
        if bounds.bottom() >= below:
            painter.fillRect(
                QRect(0, below, width, self.viewport().height() - below),
                self._painter.default_bg,
            )

    # -- helpers -------------------------------------------------------------------------------

    def _doc_line(self, doc_row: int) -> Line:
        scrollback = self._model.scrollback_size
        if doc_row < scrollback:
            return self._model.scrollback_line(doc_row)
        return self._model.line(doc_row - scrollback)

    def _selected_columns(self, doc_row: int) -> tuple[int, int] | None:
        if self._selection is None:
            return None
        return self._selection.columns(doc_row, self._model.columns)

    def _set_selection(self, selection: TextSelection | None) -> None:
        old, self._selection = self._selection, selection
        rows = set(old.rows if old is not None else ())
        rows |= set(selection.rows if selection is not None else ())
        for doc_row in rows:
            self._update_doc_row(doc_row)
