"""A VT100/xterm screen model for the serial console, over pyte (no Qt, no I/O).

:class:`TerminalModel` turns the bytes a guest prints into a grid a widget can paint: the
visible lines as runs of equally styled cells, the cursor, the lines that changed since the
last paint and a bounded scrollback. It answers the terminal queries guests send (busybox's
shell asks for the cursor position at every prompt): :meth:`TerminalModel.feed` returns the
reply bytes, which the caller sends back to the guest. :meth:`TerminalModel.keys_for` gives the
bytes a key sends in the terminal's current modes (:mod:`vmgui.core.terminalkeys`).

Rows are counted in two ways: *screen rows* (0 = the top visible line) and *document rows*
(0 = the oldest scrollback line; screen row ``r`` is document row ``scrollback_size + r``),
which selections use so that they can reach into the scrollback.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from typing import Any

import pyte
from pyte import modes
from pyte.screens import Char, Margins

from vmgui.core.terminalkeys import Key, key_sequence

#: The 16 ANSI colour names used in :class:`Style` and their xterm default RGB values.
PALETTE: dict[str, str] = {
    "black": "#000000",
    "red": "#cd0000",
    "green": "#00cd00",
    "yellow": "#cdcd00",
    "blue": "#0000ee",
    "magenta": "#cd00cd",
    "cyan": "#00cdcd",
    "white": "#e5e5e5",
    "bright_black": "#7f7f7f",
    "bright_red": "#ff0000",
    "bright_green": "#00ff00",
    "bright_yellow": "#ffff00",
    "bright_blue": "#5c5cff",
    "bright_magenta": "#ff00ff",
    "bright_cyan": "#00ffff",
    "bright_white": "#ffffff",
}

# pyte's colour names -> ours (pyte says "brown" for yellow, and misspells one bright name).
_PYTE_COLOURS = {
    "brown": "yellow",
    "brightbrown": "bright_yellow",
    "bfightmagenta": "bright_magenta",
    **{f"bright{name}": f"bright_{name}" for name in PALETTE if "_" not in name},
}

_DECCKM = 1 << 5  # application cursor keys (ESC [ ? 1 h); pyte keeps private modes << 5


@dataclass(frozen=True, slots=True)
class Style:
    """How a run of cells is drawn.

    Attributes:
        fg: foreground: ``"default"``, a :data:`PALETTE` name or ``"#rrggbb"``.
        bg: background, likewise.
        bold: bold (or bright) text.
        italic: italic text.
        underline: underlined text.
        strikethrough: struck-through text.
        reverse: swap foreground and background when painting.
        blink: blinking text.
    """

    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    italic: bool = False
    underline: bool = False
    strikethrough: bool = False
    reverse: bool = False
    blink: bool = False


DEFAULT_STYLE = Style()


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive cells of one line with one style.

    Attributes:
        column: the first cell.
        width: how many cells the run covers (a wide character covers two).
        text: the characters (``len(text)`` differs from ``width`` with wide characters).
        style: how to draw them.
    """

    column: int
    width: int
    text: str
    style: Style


Line = tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class CursorState:
    """Where the cursor is.

    Attributes:
        row: the screen row.
        column: the column (the last one while a wrap is pending).
        visible: whether the guest wants it shown (DECTCEM).
    """

    row: int
    column: int
    visible: bool


def _colour(name: str) -> str:
    if name == "default" or name in PALETTE:
        return name
    if name in _PYTE_COLOURS:
        return _PYTE_COLOURS[name]
    if len(name) == 6:  # pyte's 256-colour and true-colour values: "rrggbb"
        return f"#{name.lower()}"
    return "default"


def _style(char: Char) -> Style:
    return _cached_style(
        char.fg,
        char.bg,
        char.bold,
        char.italics,
        char.underscore,
        char.strikethrough,
        char.reverse,
        char.blink,
    )


@functools.lru_cache(maxsize=1024)
def _cached_style(
    fg: str,
    bg: str,
    bold: bool,
    italic: bool,
    underline: bool,
    strikethrough: bool,
    reverse: bool,
    blink: bool,
) -> Style:
    return Style(_colour(fg), _colour(bg), bold, italic, underline, strikethrough, reverse, blink)


_Cells = dict[int, Char]  # one pyte line: column -> cell (missing columns are blank)


class _Screen(pyte.Screen):
    """pyte's screen plus a scrollback of the lines scrolled off the top and the replies."""

    def __init__(self, columns: int, lines: int, scrollback: int) -> None:
        self.scrollback: deque[tuple[int, _Cells]] = deque(maxlen=scrollback)
        self.replies: list[str] = []
        super().__init__(columns, lines)

    def index(self) -> None:
        """Line feed; a line leaving the top of the whole screen goes to the scrollback."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0:
            # pyte drops this dict from its buffer (lines below move up): nothing changes it.
            self.scrollback.append((self.columns, self.buffer[top]))
        super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        """ED; ``ESC [ 3 J`` clears the scrollback only, as in xterm."""
        if how == 3:
            self.scrollback.clear()
            return
        super().erase_in_display(how, *args, **kwargs)

    def write_process_input(self, data: str) -> None:
        """Keep what the terminal answers (cursor position, device attributes)."""
        self.replies.append(data)


def _runs(cells: _Cells, columns: int, default: Char) -> Line:
    runs: list[Run] = []
    start, width, style = 0, 0, DEFAULT_STYLE
    text: list[str] = []
    for x in range(columns):
        char = cells.get(x, default)
        cell_style = _style(char)
        if width and cell_style != style:
            runs.append(Run(start, width, "".join(text), style))
            start, width, text = x, 0, []
        style = cell_style
        width += 1
        text.append(char.data)
    if width:
        runs.append(Run(start, width, "".join(text), style))
    # Blank default-styled cells at the end need no painting.
    if runs and runs[-1].style == DEFAULT_STYLE:
        last = runs.pop()
        kept = last.text.rstrip(" ")
        if kept:
            blanks = len(last.text) - len(kept)
            runs.append(Run(last.column, last.width - blanks, kept, last.style))
    return tuple(runs)


def _text(cells: _Cells, start: int, end: int) -> str:
    return "".join(cells[x].data if x in cells else " " for x in range(start, end)).rstrip()


class TerminalModel:
    """The screen of a VT100/xterm terminal fed with a guest's output.

    Args:
        columns: screen width in cells.
        rows: screen height in lines.
        scrollback: how many lines scrolled off the top are kept (0: none).

    Raises:
        ValueError: for a size below 1x1 or a negative scrollback.
    """

    def __init__(self, columns: int = 80, rows: int = 24, *, scrollback: int = 1000) -> None:
        _check_size(columns, rows)
        if scrollback < 0:
            raise ValueError(f"scrollback must not be negative, got {scrollback}")
        self._screen = _Screen(columns, rows, scrollback)
        # ByteStream decodes UTF-8 incrementally ("replace" for invalid bytes): a multibyte
        # character split across two feeds is decoded once both halves arrived.
        self._stream = pyte.ByteStream(self._screen)

    # -- input ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Process the guest's output; return the terminal's replies to send back (or b"")."""
        self._stream.feed(data)
        if not self._screen.replies:
            return b""
        replies = "".join(self._screen.replies)
        self._screen.replies.clear()
        return replies.encode("utf-8")

    def resize(self, columns: int, rows: int) -> None:
        """Change the screen size, keeping the cursor's line on screen.

        Lines above the cursor that no longer fit go to the scrollback; lines below it that
        no longer fit are cut, and so are columns beyond the new width.

        Raises:
            ValueError: for a size below 1x1.
        """
        _check_size(columns, rows)
        screen = self._screen
        if (columns, rows) == (screen.columns, screen.lines):
            return
        if rows < screen.lines:
            drop = max(0, screen.cursor.y - (rows - 1))
            for y in range(drop):
                screen.scrollback.append((screen.columns, screen.buffer[y]))
            for y in range(screen.lines):
                source = y + drop
                if y < rows and source < screen.lines and source in screen.buffer:
                    screen.buffer[y] = screen.buffer[source]
                else:
                    screen.buffer.pop(y, None)
            screen.cursor.y -= drop
        if columns < screen.columns:
            for cells in screen.buffer.values():
                for x in [x for x in cells if x >= columns]:
                    del cells[x]
            screen.cursor.x = min(screen.cursor.x, columns - 1)
            screen.tabstops = {stop for stop in screen.tabstops if stop < columns}
        else:
            first_new_stop = -(-screen.columns // 8) * 8  # the first multiple of 8 >= old width
            screen.tabstops.update(range(first_new_stop, columns, 8))
        screen.lines, screen.columns = rows, columns
        screen.set_margins()
        screen.dirty.update(range(rows))

    # -- what to paint ----------------------------------------------------------------------

    @property
    def columns(self) -> int:
        """Screen width in cells."""
        return int(self._screen.columns)

    @property
    def rows(self) -> int:
        """Screen height in lines."""
        return int(self._screen.lines)

    @property
    def title(self) -> str:
        """The window title the guest set (OSC 0/2), or ""."""
        return str(self._screen.title)

    @property
    def application_cursor(self) -> bool:
        """Whether the guest enabled application cursor keys (DECCKM)."""
        return _DECCKM in self._screen.mode

    @property
    def cursor(self) -> CursorState:
        """The cursor position and visibility."""
        cursor = self._screen.cursor
        visible = modes.DECTCEM in self._screen.mode and not cursor.hidden
        return CursorState(cursor.y, min(cursor.x, self.columns - 1), visible)

    def line(self, row: int) -> Line:
        """The runs of one screen row (trailing blank default cells left out).

        Raises:
            IndexError: ``row`` is outside the screen.
        """
        if not 0 <= row < self.rows:
            raise IndexError(f"row {row} is outside the screen (0..{self.rows - 1})")
        return _runs(self._screen.buffer.get(row, {}), self.columns, self._screen.default_char)

    def lines(self) -> list[Line]:
        """The runs of every screen row, top to bottom."""
        return [self.line(row) for row in range(self.rows)]

    def take_dirty(self) -> set[int]:
        """The screen rows changed since the last call (a widget repaints these)."""
        dirty = {row for row in self._screen.dirty if 0 <= row < self.rows}
        self._screen.dirty.clear()
        return dirty

    # -- scrollback -------------------------------------------------------------------------

    @property
    def scrollback_size(self) -> int:
        """How many lines the scrollback holds (document row of the top screen row)."""
        return len(self._screen.scrollback)

    def scrollback_line(self, index: int) -> Line:
        """The runs of one scrollback line, 0 = the oldest.

        Raises:
            IndexError: ``index`` is outside the scrollback.
        """
        columns, cells = self._screen.scrollback[index]
        return _runs(cells, columns, self._screen.default_char)

    def scrollback_text(self) -> list[str]:
        """The text of every scrollback line, oldest first (trailing blanks stripped)."""
        return [_text(cells, 0, columns) for columns, cells in self._screen.scrollback]

    # -- text (copy) ------------------------------------------------------------------------

    def text(self) -> str:
        """The visible screen as text: one line per row, trailing blanks stripped."""
        return "\n".join(self._row_text(row, 0, self.columns) for row in range(self.rows))

    def selection_text(self, start: tuple[int, int], end: tuple[int, int]) -> str:
        """The text between two cells, as a terminal copies a selection.

        Args:
            start: (document row, column) of the first selected cell.
            end: (document row, column) just after the last selected cell; the order of
                ``start`` and ``end`` does not matter.

        Each line's trailing blanks are stripped; lines are joined with newlines.
        """
        first, last = sorted((start, end))
        total = self.scrollback_size + self.rows
        parts = []
        for doc_row in range(max(0, first[0]), min(last[0], total - 1) + 1):
            width = self._doc_columns(doc_row)
            left = max(0, first[1]) if doc_row == first[0] else 0
            right = min(width, last[1]) if doc_row == last[0] else width
            parts.append(self._doc_text(doc_row, left, max(left, right)))
        return "\n".join(parts)

    def _doc_columns(self, doc_row: int) -> int:
        if doc_row < self.scrollback_size:
            return self._screen.scrollback[doc_row][0]
        return self.columns

    def _doc_text(self, doc_row: int, start: int, end: int) -> str:
        if doc_row < self.scrollback_size:
            return _text(self._screen.scrollback[doc_row][1], start, end)
        return self._row_text(doc_row - self.scrollback_size, start, end)

    def _row_text(self, row: int, start: int, end: int) -> str:
        return _text(self._screen.buffer.get(row, {}), start, end)

    # -- keys -------------------------------------------------------------------------------

    def keys_for(
        self, key: Key | str, *, shift: bool = False, ctrl: bool = False, alt: bool = False
    ) -> bytes:
        """The bytes to send for a key in the terminal's current modes (see key_sequence)."""
        return key_sequence(
            key,
            shift=shift,
            ctrl=ctrl,
            alt=alt,
            application_cursor=self.application_cursor,
            newline_mode=modes.LNM in self._screen.mode,
        )


def _check_size(columns: int, rows: int) -> None:
    if columns < 1 or rows < 1:
        raise ValueError(f"a terminal needs at least 1x1 cells, got {columns}x{rows}")
