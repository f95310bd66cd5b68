"""Pieces every wizard page uses: the page base class, message labels, size texts."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QWidget,
    QWizardPage,
)

from vmgui.ui.widgets import AMBER_COLOR, MUTED_STYLE, RED_COLOR
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.state import WizardState

_T = TypeVar("_T")

PAGE_MIN_WIDTH = 640


class MessageLabel(QLabel):
    """A word-wrapped line that shows an error, a warning or a note (hidden when empty)."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_error(self, text: str) -> None:
        """Show ``text`` in red (hidden when empty)."""
        self._show(text, f"color: {RED_COLOR};")

    def show_warning(self, text: str) -> None:
        """Show ``text`` in amber (hidden when empty)."""
        self._show(text, f"color: {AMBER_COLOR};")

    def show_note(self, text: str) -> None:
        """Show ``text`` muted (hidden when empty)."""
        self._show(text, MUTED_STYLE)

    def clear_message(self) -> None:
        """Hide the message."""
        self._show("", "")

    def _show(self, text: str, style: str) -> None:
        self.setStyleSheet(style)
        self.setText(text)
        self.setVisible(bool(text))


def make_tree(name: str, headers: list[str]) -> QTreeWidget:
    """A flat, single-selection list with ``headers``; the first column takes the spare width."""
    tree = QTreeWidget()
    tree.setObjectName(name)
    tree.setHeaderLabels(headers)
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(headers)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return tree


class WizardPage(QWizardPage):
    """A page of the new-guest wizard, with the shared :class:`WizardContext`.

    Args:
        ctx: the wizard's shared state and services.
        title: the page's title.
        subtitle: one line under the title.
    """

    def __init__(self, ctx: WizardContext, title: str, subtitle: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.setMinimumWidth(PAGE_MIN_WIDTH)

    @property
    def state(self) -> WizardState:
        """The wizard's choices so far."""
        return self.ctx.state

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> None:
        """Run ``coro`` owned by the wizard."""
        self.ctx.spawn(coro)
