"""Dialogs the main window awaits: delete confirmation, questions, errors.

Every dialog is shown with ``open()`` (window-modal, no nested event loop); the
``async`` functions await its ``finished`` signal on the running (qasync) loop.
The main window takes a :class:`Dialogs` so tests can pass a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.model import DeletePlan
from vmgui.core.validation import host_display_name
from vmgui.ui.widgets import MUTED_STYLE, RED_COLOR, muted_label, scroll_area, title_font

_log = logging.getLogger("vmgui.ui")
_A = TypeVar("_A")


async def exec_async(dialog: QDialog) -> int:
    """Open ``dialog`` window-modal and wait for it to finish, without a nested event loop.

    Args:
        dialog: the dialog; it is not deleted here.

    Returns:
        The dialog's result (``QDialog.DialogCode.Accepted`` = 1, ``Rejected`` = 0; a
        message box returns its own codes). A dialog destroyed while open counts as
        rejected. If the awaiting task is cancelled, the dialog is rejected.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()

    def on_finished(result: int) -> None:
        if not future.done():
            future.set_result(result)

    def on_destroyed(_obj: QObject | None = None) -> None:
        if not future.done():
            future.set_result(QDialog.DialogCode.Rejected.value)

    dialog.finished.connect(on_finished)
    dialog.destroyed.connect(on_destroyed)
    dialog.open()
    try:
        return await future
    except asyncio.CancelledError:
        with contextlib.suppress(RuntimeError):
            dialog.reject()
        raise
    finally:
        with contextlib.suppress(RuntimeError):
            dialog.finished.disconnect(on_finished)
            dialog.destroyed.disconnect(on_destroyed)


@dataclass(frozen=True, slots=True)
class Answer(Generic[_A]):
    """One button of :func:`ask_buttons`: its text, role, objectName and what it answers."""

    text: str
    role: QMessageBox.ButtonRole
    name: str
    value: _A | None


async def ask_buttons(
    box: QMessageBox, answers: Sequence[Answer[_A]], default: int, escape: int | None = None
) -> _A | None:
    """Add ``answers`` as buttons to ``box``, show it window-modal, and return the clicked
    one's value (None when closed otherwise). ``answers[default]`` is the default button,
    ``answers[escape]`` Escape's (default: the same); the box is deleted afterwards."""
    buttons = []
    for answer in answers:
        button = box.addButton(answer.text, answer.role)
        button.setObjectName(answer.name)
        buttons.append(button)
    box.setDefaultButton(buttons[default])
    box.setEscapeButton(buttons[default if escape is None else escape])
    try:
        await exec_async(box)
        clicked = box.clickedButton()
        return next((a.value for a, b in zip(answers, buttons, strict=True) if b == clicked), None)
    finally:
        box.deleteLater()


class Dialogs(Protocol):
    """The dialogs the main window uses; tests pass a fake."""

    async def confirm_delete(self, parent: QWidget, plans: list[DeletePlan]) -> list[str] | None:
        """Ask to delete guests; returns the storage paths to remove, or None if cancelled."""
        ...

    async def confirm(self, parent: QWidget, title: str, text: str, ok_label: str) -> bool:
        """Ask a yes/no question; True if the user chose ``ok_label``."""
        ...

    def show_error(self, parent: QWidget, error: VmguiError) -> None:
        """Show ``error`` (non-blocking) and log it."""
        ...

    def show_info(self, parent: QWidget, title: str, text: str) -> None:
        """Show a message (non-blocking)."""
        ...


class DeleteGuestDialog(QDialog):
    """Confirms deleting guests and lets the user choose which of their disks go too."""

    def __init__(self, plans: list[DeletePlan], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deleteGuestDialog")
        self._boxes: list[tuple[QCheckBox, str]] = []
        names = [plan.guest.name for plan in plans]
        single = len(plans) == 1
        self.setWindowTitle("Delete Guest" if single else "Delete Guests")

        icon = QLabel()
        style_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon.setPixmap(style_icon.pixmap(48, 48))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title_label = QLabel(
            f"Delete {names[0]}?" if single else f"Delete {len(plans)} guests?"
        )
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        title_font(self.title_label)
        if single:
            host = host_display_name(plans[0].guest.host_uri)
            what = f"The definition of {names[0]} is removed from {host}."
        else:
            what = f"These guests are removed: {', '.join(names)}."
        if any(plan.guest.is_active for plan in plans):
            what += " Running guests are forced off first."
        text = QLabel(f"{html.escape(what)} <b>This cannot be undone.</b>")
        text.setWordWrap(True)
        heading = QVBoxLayout()
        heading.setSpacing(6)
        heading.addWidget(self.title_label)
        heading.addWidget(text)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(icon)
        top.addLayout(heading, 1)

        storage = QWidget()
        storage_layout = QVBoxLayout(storage)
        storage_layout.setContentsMargins(0, 0, 0, 0)
        storage_layout.setSpacing(4)
        for plan in plans:
            self._add_plan(storage_layout, plan, show_name=not single)
        storage_layout.addStretch(1)
        area = scroll_area(storage)
        rows = sum(max(len(plan.storage), 1) + (0 if single else 1) for plan in plans)
        area.setMinimumHeight(min(rows, 4) * 28)
        area.setMaximumHeight(320)

        self.cancel_button = QPushButton("Cancel")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setAutoDefault(False)
        self.delete_button.setStyleSheet(f"QPushButton {{ color: {RED_COLOR}; }}")
        self.cancel_button.setDefault(True)
        buttons = QDialogButtonBox()
        buttons.addButton(self.delete_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)

        storage_title = QLabel("<b>Storage to remove</b>")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addWidget(storage_title)
        layout.addWidget(area, 1)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.cancel_button.setFocus()

    def chosen_paths(self) -> list[str]:
        """The storage paths the user chose to remove, in display order, without repeats."""
        paths: list[str] = []
        for box, path in self._boxes:
            if box.isEnabled() and box.isChecked() and path not in paths:
                paths.append(path)
        return paths

    def checkboxes(self) -> list[tuple[QCheckBox, str]]:
        """The disk checkboxes with their paths."""
        return list(self._boxes)

    def _add_plan(self, parent: QVBoxLayout, plan: DeletePlan, show_name: bool) -> None:
        if show_name:
            parent.addWidget(QLabel(f"<b>{html.escape(plan.guest.name)}</b>"))
        layout = QVBoxLayout()
        layout.setContentsMargins(16 if show_name else 0, 0, 0, 4)
        layout.setSpacing(2)
        parent.addLayout(layout)
        if not plan.storage:
            layout.addWidget(muted_label("No disks: only the definition is removed."))
        for item in plan.storage:
            label = f"{item.target}:  {item.path}" if item.target else item.path
            box = QCheckBox(label.replace("&", "&&"))
            box.setChecked(item.removable)
            box.setEnabled(item.removable)
            box.setToolTip(item.path if item.removable else f"{item.path}\nKept: {item.reason}")
            layout.addWidget(box)
            if not item.removable:
                reason = QLabel(f"Kept: {item.reason or 'not owned by this guest'}")
                reason.setTextFormat(Qt.TextFormat.PlainText)
                reason.setStyleSheet(MUTED_STYLE)
                reason.setContentsMargins(24, 0, 0, 2)
                layout.addWidget(reason)
            self._boxes.append((box, item.path))

    def _on_delete_button_clicked(self) -> None:
        self.accept()

    def _on_cancel_button_clicked(self) -> None:
        self.reject()


class QtDialogs:
    """The real dialogs, shown window-modal with ``open()``."""

    async def confirm_delete(self, parent: QWidget, plans: list[DeletePlan]) -> list[str] | None:
        """Show a :class:`DeleteGuestDialog`; the chosen paths, or None if cancelled."""
        dialog = DeleteGuestDialog(plans, parent)
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            return dialog.chosen_paths()
        finally:
            dialog.deleteLater()

    async def confirm(self, parent: QWidget, title: str, text: str, ok_label: str) -> bool:
        """Ask a question; Cancel is the default button."""
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(title)
        box.setText(text)
        ok = box.addButton(ok_label, QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        try:
            await exec_async(box)
            return box.clickedButton() == ok
        finally:
            box.deleteLater()

    def show_error(self, parent: QWidget, error: VmguiError) -> None:
        """Show ``error`` in a window-modal message box and log it at warning level."""
        _log.warning("%s%s", error.summary, f": {error.details}" if error.details else "")
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Error")
        box.setText(error.summary)
        if error.hint:
            box.setInformativeText(error.hint)
        if error.details:
            box.setDetailedText(error.details)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_info(self, parent: QWidget, title: str, text: str) -> None:
        """Show a message in a window-modal message box."""
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle(title)
        box.setText(text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
