"""Painting a :class:`~vmgui.core.terminal.TerminalModel` line with QPainter, cell by cell.

:class:`TerminalPainter` knows the font and the cell size and paints one row: the default
background, each run's background and text in its :class:`~vmgui.core.terminal.Style`
(colours from :data:`~vmgui.core.terminal.PALETTE`, bold, italic, underline, strike-through,
reverse), then the selected cells and the cursor as inverse video.
"""

from __future__ import annotations

import functools
import unicodedata

from PySide6.QtCore import QPointF, QRect
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QPainter

from vmgui.core.terminal import PALETTE, Line, Run, Style

#: The terminal's default colours (xterm's "white on black" console look).
DEFAULT_FG = PALETTE["white"]
DEFAULT_BG = PALETTE["black"]
_INVERT = QColor(255, 255, 255)


def terminal_font() -> QFont:
    """The desktop's fixed-width font (a monospace fallback where there is none)."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    font.setKerning(False)
    return font


@functools.lru_cache(maxsize=512)
def colour(name: str, default: str) -> QColor:
    """The colour of a :class:`Style` value: "default", a PALETTE name or "#rrggbb"."""
    if name == "default":
        return QColor(default)
    return QColor(PALETTE.get(name, name))


def style_colours(style: Style) -> tuple[QColor, QColor]:
    """(foreground, background) of a style, reverse applied."""
    fg = colour(style.fg, DEFAULT_FG)
    bg = colour(style.bg, DEFAULT_BG)
    return (bg, fg) if style.reverse else (fg, bg)


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


class TerminalPainter:
    """Paints terminal rows in one monospace font.

    Args:
        font: the base font (its bold/italic/underline variants are derived).
    """

    def __init__(self, font: QFont) -> None:
        self._base = QFont(font)
        metrics = QFontMetrics(self._base)
        self.cell_width = max(1, metrics.horizontalAdvance("M"))
        self.cell_height = max(1, metrics.height())
        self._ascent = metrics.ascent()
        self._fonts: dict[tuple[bool, bool, bool, bool], QFont] = {}
        self.default_bg = QColor(DEFAULT_BG)

    def font_for(self, style: Style) -> QFont:
        """The font a run of ``style`` is drawn in."""
        key = (style.bold, style.italic, style.underline, style.strikethrough)
        font = self._fonts.get(key)
        if font is None:
            font = QFont(self._base)
            font.setBold(style.bold)
            font.setItalic(style.italic)
            font.setUnderline(style.underline)
            font.setStrikeOut(style.strikethrough)
            self._fonts[key] = font
        return font

    def cell_rect(self, y: int, column: int, width: int = 1) -> QRect:
        """The pixels of ``width`` cells from ``column`` in the row painted at ``y``."""
        return QRect(column * self.cell_width, y, width * self.cell_width, self.cell_height)

    def paint_row(
        self,
        painter: QPainter,
        y: int,
        line: Line,
        pixel_width: int,
        *,
        selected: tuple[int, int] | None = None,
        cursor: int | None = None,
        cursor_filled: bool = True,
    ) -> None:
        """Paint one row at ``y``, ``pixel_width`` wide.

        Args:
            painter: paints on the terminal's viewport.
            y: the row's top pixel.
            line: the row's runs.
            pixel_width: how wide the row is (the part right of the last cell included).
            selected: the selected columns [left, right) of this row, or None.
            cursor: the cursor's column if it is on this row, else None.
            cursor_filled: a block cursor (focused) rather than an outline.
        """
        height = self.cell_height
        painter.fillRect(QRect(0, y, pixel_width, height), self.default_bg)
        for run in line:
            self._paint_run(painter, y, run)
        if selected is not None and selected[1] > selected[0]:
            self._invert(painter, self.cell_rect(y, selected[0], selected[1] - selected[0]))
        if cursor is not None:
            rect = self.cell_rect(y, cursor)
            if cursor_filled:
                self._invert(painter, rect)
            else:
                painter.setPen(colour("default", DEFAULT_FG))
                painter.drawRect(rect.adjusted(0, 0, -1, -1))

    def _paint_run(self, painter: QPainter, y: int, run: Run) -> None:
        fg, bg = style_colours(run.style)
        if bg != self.default_bg:
            painter.fillRect(self.cell_rect(y, run.column, run.width), bg)
        if not run.text.strip() and not (run.style.underline or run.style.strikethrough):
            return
        painter.setFont(self.font_for(run.style))
        painter.setPen(fg)
        baseline = y + self._ascent
        if run.text.isascii():
            painter.drawText(QPointF(run.column * self.cell_width, baseline), run.text)
            return
        # A fallback font's glyphs need not be one cell wide: put each character in its cell.
        column = run.column
        for char in run.text:
            painter.drawText(QPointF(column * self.cell_width, baseline), char)
            column += 2 if _wide(char) else 1

    def _invert(self, painter: QPainter, rect: QRect) -> None:
        painter.save()
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Difference)
        painter.fillRect(rect, _INVERT)
        painter.restore()
