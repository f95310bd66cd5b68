"""A long job's progress window: what runs, bytes/rate/ETA, and Cancel.

:func:`run_with_progress` shows a :class:`JobDialog`, runs the job with a progress callback
that feeds it, and cancels the job when the user presses Cancel (the job's transaction then
removes what it made). The dialog is window-modal and closes when the job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.provisioning import Progress, ProgressCallback
from vmgui.core.units import format_bytes, format_rate, format_seconds
from vmgui.ui.widgets import muted_label

_T = TypeVar("_T")


def transfer_line(p: Progress) -> str:
    """ "12.3 MiB of 100 MiB · 45.6 MiB/s · 2 s left" ("" when nothing moves)."""
    if not p.done_bytes and not p.total_bytes:
        return ""
    text = format_bytes(p.done_bytes)
    if p.total_bytes:
        text += f" of {format_bytes(p.total_bytes)}"
    if p.speed:
        text += f" · {format_rate(p.speed)}"
    if p.eta is not None:
        text += f" · {format_seconds(p.eta)} left"
    return text


class JobDialog(QDialog):
    """Shows one job's progress.

    Signals:
        cancelRequested(): the user pressed Cancel.
    """

    cancelRequested = Signal()

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mobilityJobDialog")
        self.setWindowTitle(title)
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        self.step_label = QLabel("Starting…")
        self.step_label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.transfer_label = muted_label()
        layout.addWidget(self.step_label)
        layout.addWidget(self.bar)
        layout.addWidget(self.transfer_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self._on_buttons_rejected)
        layout.addWidget(self.buttons)

    def progress(self, p: Progress) -> None:
        """Show one report (the job's progress callback)."""
        self.step_label.setText(f"{p.step.label}: {p.message}" if p.message else p.step.label)
        if p.fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(p.fraction * 1000))
        self.transfer_label.setText(transfer_line(p))

    def _on_buttons_rejected(self) -> None:
        self.step_label.setText("Cancelling: removing what the job made…")
        self.buttons.setEnabled(False)
        self.cancelRequested.emit()

    def reject(self) -> None:
        """Escape and the close button cancel too (the dialog closes when the job ends)."""
        if self.buttons.isEnabled():
            self._on_buttons_rejected()


async def run_with_progress(
    parent: QWidget,
    title: str,
    job: Callable[[ProgressCallback], Awaitable[_T]],
    dialog_factory: Callable[[str, QWidget], JobDialog] = JobDialog,
) -> _T | None:
    """Run ``job`` with a :class:`JobDialog`; its result, or None if the user cancelled.

    Raises:
        VmguiError: the job failed (after its own clean-up).
    """
    dialog = dialog_factory(title, parent)
    task = asyncio.ensure_future(job(dialog.progress))
    dialog.cancelRequested.connect(task.cancel)
    dialog.open()
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled() and not _outer_cancelled():
            return None
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    finally:
        dialog.close()
        dialog.deleteLater()


def _outer_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
