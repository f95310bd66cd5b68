"""The resources page's batch fields: how many guests, their name pattern, and what a failure does.

No checks against hosts here (the page does them, :func:`~vmgui.core.batch.fit_problems`);
this group knows the pattern's own rules and shows the live preview of the names.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.batch import COUNTER, MAX_BATCH, preview_names
from vmgui.core.validation import ValidationError
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import MessageLabel


class BatchFields(QObject):
    """The widgets of a batch: ``countSpin``, ``patternEdit`` (+ ``patternMessage`` with the
    preview or the broken rule), ``removeAllRadio`` / ``keepFinishedRadio``; the page lays
    out :attr:`count_row`, :attr:`pattern_row` and :attr:`failure_row`.

    Signals:
        changed(): a value changed.

    Args:
        parent: the page.
    """

    changed = Signal()

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.count_spin = QSpinBox()
        self.count_spin.setObjectName("countSpin")
        self.count_spin.setRange(1, MAX_BATCH)
        self.count_spin.setFixedWidth(150)
        self.count_note = muted_label()
        self.count_row = _row(self.count_spin, self.count_note)
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setObjectName("patternEdit")
        self.pattern_edit.setMaxLength(80)
        self.pattern_edit.setPlaceholderText("web-{n}")
        self.pattern_message = MessageLabel("patternMessage")
        self.pattern_row = QWidget()
        column = QVBoxLayout(self.pattern_row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.pattern_edit)
        column.addWidget(self.pattern_message)
        self.remove_all_radio = QRadioButton("&Remove all")
        self.remove_all_radio.setObjectName("removeAllRadio")
        self.remove_all_radio.setToolTip("All or none: the guests already made are removed too.")
        self.keep_radio = QRadioButton("&Keep the finished ones")
        self.keep_radio.setObjectName("keepFinishedRadio")
        self.keep_radio.setToolTip("The guests already made stay (running); the rest is removed.")
        self.remove_all_radio.setChecked(True)
        group = QButtonGroup(self.pattern_row)
        group.addButton(self.remove_all_radio)
        group.addButton(self.keep_radio)
        self.failure_row = QWidget()
        radios = QHBoxLayout(self.failure_row)
        radios.setContentsMargins(0, 0, 0, 0)
        radios.addWidget(self.remove_all_radio)
        radios.addWidget(self.keep_radio)
        radios.addStretch(1)
        self._pattern_edited = False
        self.count_spin.valueChanged.connect(self._on_count_spin_value_changed)
        self.pattern_edit.textEdited.connect(self._on_pattern_edit_text_edited)
        self.pattern_edit.textChanged.connect(self._on_pattern_edit_text_changed)
        self.keep_radio.toggled.connect(self._on_keep_radio_toggled)

    @property
    def count(self) -> int:
        """How many guests."""
        return self.count_spin.value()

    @property
    def pattern(self) -> str:
        """The name pattern as typed (stripped)."""
        return self.pattern_edit.text().strip()

    @property
    def keep(self) -> bool:
        """Keep the finished guests when one fails."""
        return self.keep_radio.isChecked()

    def set_offered(self, offered: bool, why: str = "") -> None:
        """Allow a batch, or fix the count at 1 and say why."""
        if not offered:
            self.count_spin.setValue(1)
        self.count_spin.setEnabled(offered)
        self.count_note.setText(why if not offered else "more than 1 makes a batch")

    def suggest_pattern(self, stem: str) -> None:
        """Fill the pattern from the guest name (until the user edits it)."""
        if not self._pattern_edited:
            self.pattern_edit.setText(f"{stem}-{COUNTER}")

    def pattern_error(self) -> str:
        """The pattern's broken rule, or ""."""
        try:
            preview_names(self.pattern, self.count)
        except ValidationError as exc:
            return exc.message
        return ""

    def show_problem(self, problem: str) -> None:
        """Show why the batch cannot be made, or (with "") the live preview of its names."""
        if problem:
            self.pattern_message.show_error(problem)
        else:
            names = preview_names(self.pattern, self.count)
            self.pattern_message.show_note(f"Names: {names}")

    def _on_count_spin_value_changed(self, _value: int) -> None:
        self.changed.emit()

    def _on_pattern_edit_text_edited(self, _text: str) -> None:
        self._pattern_edited = True

    def _on_pattern_edit_text_changed(self, _text: str) -> None:
        self.changed.emit()

    def _on_keep_radio_toggled(self, _checked: bool) -> None:
        self.changed.emit()


def _row(widget: QWidget, note: QWidget) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(12)
    layout.addWidget(widget)
    layout.addWidget(note, 1)
    return box
