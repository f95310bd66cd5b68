"""The guest list's tag widgets: the tag filter, the "Select by Tag" menu, the tags editor.

* :class:`TagFilter` (``tagFilter``): "All tags" and every tag the listed guests have, kept
  current as guests change (recomputed once per burst of model changes, not per row).
* :class:`TagMenu` (``selectByTagMenu``): one entry per tag of the guests in view; choosing
  one selects them all, so the lifecycle actions run on them.
* :class:`TagsEdit`: the details pane's comma-separated tags line (``tagsEdit``), checked as
  it is typed (:func:`vmgui.core.tags.parse_tag_list`), the rule broken shown beneath it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QMenu, QVBoxLayout, QWidget

from vmgui.core.tags import all_tags, format_tag_list, parse_tag_list, tag_key
from vmgui.core.validation import ValidationError
from vmgui.ui.guests.model import GuestColumn, GuestModel
from vmgui.ui.widgets import RED_COLOR

ALL_TAGS = "All tags"
_TAGS_COLUMN = GuestColumn.TAGS.value


class TagFilter(QComboBox):
    """The tag filter: "All tags", then every tag of ``model``'s guests, sorted.

    The chosen tag stays in the list while it is chosen, even when no guest has it any more.

    Signals:
        tagChosen(str): the user chose a tag to filter by ("" for all tags).
    """

    tagChosen = Signal(str)

    def __init__(self, model: GuestModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tagFilter")
        self.setToolTip("Show only the guests with this tag")
        # A steady width: tags come and go as guests change (the popup shows them whole).
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.addItem(ALL_TAGS)
        self._model = model
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_timer_timeout)
        model.rowsInserted.connect(self._on_model_rows_changed)
        model.rowsRemoved.connect(self._on_model_rows_changed)
        model.modelReset.connect(self._on_model_reset)
        model.dataChanged.connect(self._on_model_data_changed)
        self.currentIndexChanged.connect(self._on_current_index_changed)

    def tags(self) -> list[str]:
        """The tags offered (without "All tags")."""
        return [self.itemText(i) for i in range(1, self.count())]

    def current_tag(self) -> str:
        """The tag filtered by, or "" for all."""
        return "" if self.currentIndex() <= 0 else self.currentText()

    def choose(self, tag: str) -> None:
        """Filter by ``tag`` ("" for all); a tag no guest has is added while chosen."""
        if not tag:
            self.setCurrentIndex(0)
            return
        found = next((i for i, t in enumerate(self.tags(), 1) if tag_key(t) == tag_key(tag)), -1)
        if found < 0:
            self._fill(all_tags([self._present(), [tag]]))
            found = self.findText(tag)
        self.setCurrentIndex(found)

    def refresh(self) -> None:
        """Re-read the tags now (normally done once after each burst of model changes)."""
        self._timer.stop()
        self._fill(self._present())

    def _present(self) -> list[str]:
        return all_tags(guest.tags for guest in self._model.guests())

    def _fill(self, tags: list[str]) -> None:
        current = self.current_tag()
        if current:  # stays offered, spelled as chosen
            key = tag_key(current)
            tags = all_tags([[current], [t for t in tags if tag_key(t) != key]])
        if tags == self.tags():
            return
        blocked = self.blockSignals(True)
        try:
            self.clear()
            self.addItem(ALL_TAGS)
            self.addItems(tags)
            index = next((i for i, t in enumerate(tags, 1) if t == current), 0)
            self.setCurrentIndex(index)
        finally:
            self.blockSignals(blocked)

    def _on_model_rows_changed(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        self._timer.start()

    def _on_model_reset(self) -> None:
        self._timer.start()

    def _on_model_data_changed(
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        _roles: list[int] | None = None,
    ) -> None:
        if top_left.column() <= _TAGS_COLUMN <= bottom_right.column():
            self._timer.start()

    def _on_timer_timeout(self) -> None:
        self.refresh()

    def _on_current_index_changed(self, _index: int) -> None:
        self.tagChosen.emit(self.current_tag())


class TagMenu(QMenu):
    """ "Select by Tag": one entry per tag of the guests in view, rebuilt each time it opens.

    Args:
        tags: the tags to offer (those of the guests in view).
        select: selects the guests in view with a tag.

    Signals:
        tagChosen(str): the user chose a tag (after ``select`` ran).
    """

    tagChosen = Signal(str)

    def __init__(
        self,
        tags: Callable[[], list[str]],
        select: Callable[[str], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Select by &Tag", parent)
        self.setObjectName("selectByTagMenu")
        self.setToolTipsVisible(True)
        self.menuAction().setStatusTip("Select every guest in view that has a tag")
        self._tags = tags
        self._select = select
        self.aboutToShow.connect(self._on_about_to_show)

    def rebuild(self) -> None:
        """Offer the current tags (done when the menu opens)."""
        self.clear()
        tags = self._tags()
        if not tags:
            empty = self.addAction("No guest in view has a tag")
            empty.setEnabled(False)
            return
        for tag in tags:
            action = QAction(tag, self)
            action.setData(tag)
            action.setStatusTip(f"Select every guest in view tagged {tag}")
            action.triggered.connect(lambda _checked=False, t=tag: self._choose(t))
            self.addAction(action)

    def _choose(self, tag: str) -> None:
        self._select(tag)
        self.tagChosen.emit(tag)

    def _on_about_to_show(self) -> None:
        self.rebuild()


class TagsEdit(QWidget):
    """A guest's tags as one comma-separated line, checked as it is typed.

    Signals:
        edited(): the text changed (read :meth:`tags` and :attr:`error`).
    """

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line = QLineEdit()
        self.line.setObjectName("tagsEdit")
        self.line.setPlaceholderText("web, db  (comma-separated)")
        self.line.setToolTip("Tags: single words, separated by commas; applied with Apply")
        self.line.setMaximumWidth(480)
        self.error_label = QLabel()
        self.error_label.setObjectName("tagsError")
        self.error_label.setStyleSheet(f"color: {RED_COLOR};")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.line)
        layout.addWidget(self.error_label)
        self._error = ""
        self.line.textChanged.connect(self._on_line_text_changed)

    @property
    def error(self) -> str:
        """Why the typed tags are refused ("" when they are fine)."""
        return self._error

    def tags(self) -> tuple[str, ...] | None:
        """The typed tags, or None while they break a rule."""
        try:
            return parse_tag_list(self.line.text())
        except ValidationError:
            return None

    def set_tags(self, tags: tuple[str, ...]) -> None:
        """Show ``tags`` (the line is only rewritten when it says something else)."""
        if self.tags() != tags:
            self.line.setText(format_tag_list(tags))

    def _on_line_text_changed(self, text: str) -> None:
        try:
            parse_tag_list(text)
        except ValidationError as exc:
            self._error = exc.message
        else:
            self._error = ""
        self.error_label.setText(self._error)
        self.error_label.setVisible(bool(self._error))
        self.edited.emit()
