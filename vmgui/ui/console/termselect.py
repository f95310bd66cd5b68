"""A mouse selection in the terminal: two cell boundaries in document coordinates.

A position is (document row, boundary), where boundary ``b`` lies just left of column ``b``
(the mouse picks the nearest one), so a selection from (r, 2) to (r, 5) covers columns 2-4.
Document rows count from the oldest scrollback line
(:mod:`vmgui.core.terminal`), so a selection stays on its text while the view scrolls.
"""

from __future__ import annotations

from dataclasses import dataclass

Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TextSelection:
    """From where the mouse went down (``anchor``) to where it is (``end``), in any order."""

    anchor: Position
    end: Position

    @property
    def start_end(self) -> tuple[Position, Position]:
        """The two positions in document order."""
        first, last = sorted((self.anchor, self.end))
        return first, last

    @property
    def empty(self) -> bool:
        """Whether nothing is selected (a click without a drag)."""
        return self.anchor == self.end

    @property
    def rows(self) -> range:
        """The document rows the selection touches."""
        first, last = self.start_end
        return range(first[0], last[0] + 1)

    def columns(self, doc_row: int, width: int) -> tuple[int, int] | None:
        """The selected columns [left, right) of ``doc_row`` (``width`` cells), or None."""
        if self.empty:
            return None
        first, last = self.start_end
        if not first[0] <= doc_row <= last[0]:
            return None
        left = first[1] if doc_row == first[0] else 0
        right = last[1] if doc_row == last[0] else width
        left, right = max(0, min(left, width)), max(0, min(right, width))
        return (left, right) if right > left else None
