"""The progress page: each step with its state, a progress bar with bytes, speed and ETA,
and, when the run fails, which step failed, why, and the details. A batch shows one row per
guest (:class:`~vmgui.ui.wizard.batchrows.GuestRows`) and the overall progress instead."""

from __future__ import annotations

import enum
import html
import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from vmgui.core.batch import BatchPlan, BatchProgress, BatchResult
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import Progress, ProvisionError, ProvisionResult, Step
from vmgui.core.units import format_bytes, format_rate, format_seconds
from vmgui.ui.widgets import RED_COLOR
from vmgui.ui.wizard.batchrows import GuestRows
from vmgui.ui.wizard.common import WizardPage
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.state import SourceKind

_STEP_ROLE = Qt.ItemDataRole.UserRole + 1


class StepState(enum.Enum):
    """Where a step stands, as its icon shows."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def step_label(step: Step, kind: SourceKind) -> str:
    """A step's label for the chosen source (a local file is checksummed, not downloaded)."""
    if step is Step.DOWNLOAD and kind in (SourceKind.LOCAL, SourceKind.ISO):
        return "Reading and checksumming the image file"
    if step is Step.OVERLAY and kind is SourceKind.TEMPLATE:
        return "Creating copy-on-write overlays of the template's disks"
    return step.label


def transfer_text(p: Progress) -> str:
    """ "12.3 MiB of 15.3 MiB · 4.5 MiB/s · 1 s left" ("" when nothing is transferred)."""
    if not p.done_bytes and not p.total_bytes:
        return ""
    text = format_bytes(p.done_bytes)
    if p.total_bytes:
        text += f" of {format_bytes(p.total_bytes)}"
    if p.speed:
        text += f" · {format_rate(p.speed)}"
    if p.eta is not None and p.total_bytes and p.done_bytes < p.total_bytes:
        text += f" · {format_seconds(p.eta)} left"
    return text


class ProgressPage(WizardPage):
    """Shows a run as it goes. The wizard feeds it; it runs nothing itself.

    Args:
        ctx: the wizard's shared state.
        clock: a monotonic clock (for the steps' durations).
    """

    def __init__(self, ctx: WizardContext, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ctx, "Creating the guest", "")
        self.setObjectName("progressPage")
        self._clock = clock
        self._rows: dict[Step, QTreeWidgetItem] = {}
        self._started: dict[Step, float] = {}
        self._current: Step | None = None
        self.finished_ok = False
        self.step_list = QTreeWidget()
        self.step_list.setObjectName("stepList")
        self.step_list.setHeaderHidden(True)
        self.step_list.setColumnCount(2)
        self.step_list.setRootIsDecorated(False)
        self.step_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.step_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.step_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.status_label = QLabel()
        self.status_label.setObjectName("statusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.transfer_label = QLabel()
        self.transfer_label.setObjectName("transferLabel")
        self.result_label = QLabel()
        self.result_label.setObjectName("resultLabel")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.hide()
        self.details_button = QPushButton("Show Details")
        self.details_button.setObjectName("detailsButton")
        self.details_button.setCheckable(True)
        self.details_button.hide()
        self.details_edit = QPlainTextEdit()
        self.details_edit.setObjectName("detailsEdit")
        self.details_edit.setReadOnly(True)
        self.details_edit.setMaximumHeight(110)
        self.details_edit.hide()
        self.step_list.setStyleSheet("QTreeWidget::item { padding: 3px 2px; }")
        self.step_list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.guest_rows = GuestRows()
        self.guest_rows.hide()
        self.batch_result: BatchResult | None = None
        self._labels: dict[str, str] = {}
        self._batch_count = 0
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.step_list)
        layout.addWidget(self.guest_rows, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.transfer_label)
        layout.addWidget(self.result_label)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details_edit, 1)
        layout.addStretch(1)
        self.details_button.toggled.connect(self._on_details_button_toggled)
        style = self.style()
        blank = QPixmap(16, 16)
        blank.fill(QColor(0, 0, 0, 0))
        self._icons = {
            StepState.PENDING: QIcon(blank),
            StepState.RUNNING: style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
            StepState.DONE: style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton),
            StepState.FAILED: style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
            StepState.CANCELLED: style.standardIcon(QStyle.StandardPixmap.SP_DialogCancelButton),
        }

    # -- the wizard feeds these --------------------------------------------------------------

    def begin(self, steps: tuple[Step, ...], name: str) -> None:
        """Show ``steps`` as pending and start."""
        self.setSubTitle(f"Making {name} on {self.ctx.host_label()}.")
        self.guest_rows.hide()
        self.step_list.show()
        self.finished_ok = False
        self.step_list.clear()
        self._rows.clear()
        self._started.clear()
        self._current = None
        for step in steps:
            item = QTreeWidgetItem([step_label(step, self.state.kind), ""])
            item.setData(0, _STEP_ROLE, step)
            self.step_list.addTopLevelItem(item)
            self._rows[step] = item
            self._set_state(step, StepState.PENDING)
        self._fit_step_list()
        self.status_label.setText("Starting…")
        self.status_label.show()
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self._set_transfer("")
        self.result_label.hide()
        self.details_button.hide()
        self.details_button.setChecked(False)
        self.details_edit.hide()
        self.completeChanged.emit()

    def on_progress(self, p: Progress) -> None:
        """A report from the engine (on the loop's thread, i.e. the Qt thread)."""
        if p.step not in self._rows:
            return
        if p.step is not self._current:
            if self._current is not None:
                self._finish_step(self._current, StepState.DONE)
            for step in self._rows:  # steps the engine did not report were skipped
                if step is p.step:
                    break
                if self.step_state(step) is StepState.PENDING:
                    self._set_state(step, StepState.DONE, "skipped")
            self._current = p.step
            self._started[p.step] = self._clock()
            self._set_state(p.step, StepState.RUNNING)
        self.status_label.setText(f"{step_label(p.step, self.state.kind)} — {p.message}")
        if p.fraction is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(round(min(max(p.fraction, 0.0), 1.0) * 1000))
        self._set_transfer(transfer_text(p))

    def show_success(self, result: ProvisionResult) -> None:
        """Every step is done."""
        if self._current is not None:
            self._finish_step(self._current, StepState.DONE)
        for timing in result.timings:
            if timing.step in self._rows:
                note = f" ({timing.note})" if timing.note else ""
                self._rows[timing.step].setText(1, f"{timing.seconds:.2f} s{note}")
                self._set_state(timing.step, StepState.DONE, keep_text=True)
        self.finished_ok = True
        state = "running" if result.started else "defined"
        self.status_label.setText(f"{result.name} is {state} ({result.total_seconds:.1f} s).")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(1000)
        self._set_transfer("")
        self.completeChanged.emit()

    def show_failure(self, error: VmguiError) -> None:
        """Say which step failed, why, what to do, and what the rollback did."""
        step = error.step if isinstance(error, ProvisionError) else self._current
        if step is not None and step in self._rows:
            self._finish_step(step, StepState.FAILED)
        left = error.left_behind if isinstance(error, ProvisionError) else ()
        where = step_label(step, self.state.kind) if step is not None else "The run"
        lines = [
            f"<b style='color:{RED_COLOR}'>Failed at the step “{html.escape(where)}”.</b>",
            html.escape(error.summary),
        ]
        if error.hint:
            lines.append(f"<i>{html.escape(error.hint)}</i>")
        if left:
            lines.append("<b>The clean-up could not remove:</b> " + html.escape(", ".join(left)))
        else:
            lines.append("Everything this run created was removed again.")
        self._show_result(lines, error.details)

    def show_cancelling(self) -> None:
        """The run is being cancelled (the engine removes what it made)."""
        self.status_label.setText("Cancelling: removing what this run created…")
        self.progress_bar.setRange(0, 0)
        self._set_transfer("")

    def show_cancelled(self) -> None:
        """The run was cancelled and rolled back."""
        lines = [
            "<b>Cancelled.</b>",
            "Everything this run created was removed again (rolled back).",
        ]
        if self._current is Step.DOWNLOAD and self.state.kind is SourceKind.CATALOG:
            lines.append("The partial download is kept: it resumes next time.")
        if self._current is not None:
            self._finish_step(self._current, StepState.CANCELLED)
        self._show_result(lines, "")

    # -- a batch ----------------------------------------------------------------------------

    def begin_batch(self, plan: BatchPlan, labels: dict[str, str]) -> None:
        """Show a waiting row per guest (``labels``: the hosts' names by URI) and start."""
        self.begin((), plan.items[0].name)
        hosts = ", ".join(labels.get(uri, uri) for uri in plan.uris)
        self.setSubTitle(f"Making {plan.count} guests on {hosts}.")
        self.step_list.hide()
        self.guest_rows.begin(plan, labels)
        self.guest_rows.show()
        self.batch_result = None
        self._labels = labels
        self._batch_count = plan.count

    def on_batch_progress(self, report: BatchProgress) -> None:
        """A report from the batch engine (on the Qt thread)."""
        if report.index == 0:  # a step the guests share: validate, download, pool, upload
            if report.step is not None and report.progress is not None:
                where = f" ({self._labels.get(report.uri, report.uri)})" if report.uri else ""
                label = step_label(report.step, self.state.kind)
                self.status_label.setText(f"{label}{where} — {report.progress.message}")
                self._set_transfer(transfer_text(report.progress))
            return
        self.guest_rows.apply(report)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(round(self.guest_rows.fraction() * 1000))
        self._set_transfer("")
        self.status_label.setText(
            f"{self.guest_rows.finished()} of {self._batch_count} guests made…"
        )

    def show_batch_success(self, result: BatchResult) -> None:
        """Every guest was made."""
        self.batch_result = result
        self.finished_ok = True
        self.status_label.setText(f"{result.summary()} ({result.seconds:.1f} s).")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(1000)
        self._set_transfer("")
        self.completeChanged.emit()

    def show_batch_end(self, error: VmguiError | None, result: BatchResult | None) -> None:
        """The batch failed (``error``) or was cancelled (None): what was kept or removed."""
        self.batch_result = result
        summary = result.summary() if result is not None else error.summary if error else ""
        head = "Cancelled." if error is None else "The batch failed."
        color = "" if error is None else f" style='color:{RED_COLOR}'"
        lines = [f"<b{color}>{head}</b>", html.escape(summary)]
        if error is not None and error.hint:
            lines.append(f"<i>{html.escape(error.hint)}</i>")
        if result is not None and result.left_behind:
            lines.append(
                "<b>The clean-up could not remove:</b> "
                + html.escape(", ".join(result.left_behind))
            )
        self._show_result(lines, error.details if error is not None else "")

    # -- queries ----------------------------------------------------------------------------

    def step_state(self, step: Step) -> StepState | None:
        """The state shown for ``step``."""
        item = self._rows.get(step)
        return None if item is None else StepState(item.data(1, _STEP_ROLE))

    def isComplete(self) -> bool:  # noqa: N802
        """Only a successful run completes the page."""
        return self.finished_ok

    # -- helpers ----------------------------------------------------------------------------

    def _finish_step(self, step: Step, state: StepState) -> None:
        started = self._started.get(step)
        text = f"{self._clock() - started:.1f} s" if started is not None else ""
        self._set_state(step, state, text)
        if step is self._current:
            self._current = None

    def _set_state(
        self, step: Step, state: StepState, text: str = "", keep_text: bool = False
    ) -> None:
        item = self._rows[step]
        item.setIcon(0, self._icons[state])
        item.setData(1, _STEP_ROLE, state.value)
        if not keep_text:
            item.setText(1, text)
        font = item.font(0)
        font.setBold(state is StepState.RUNNING)
        item.setFont(0, font)

    def _fit_step_list(self) -> None:
        rows = self.step_list.topLevelItemCount()
        first = self.step_list.topLevelItem(0)
        row_height = self.step_list.visualItemRect(first).height() if first is not None else 0
        row_height = max(row_height, self.fontMetrics().height() + 8)
        self.step_list.setFixedHeight(rows * row_height + 2 * self.step_list.frameWidth() + 2)

    def _set_transfer(self, text: str) -> None:
        self.transfer_label.setText(text)
        self.transfer_label.setVisible(bool(text))

    def _show_result(self, lines: list[str], details: str) -> None:
        self.status_label.hide()
        self.progress_bar.hide()
        self._set_transfer("")
        self.result_label.setText("<br>".join(lines))
        self.result_label.show()
        self.details_edit.setPlainText(details)
        self.details_button.setVisible(bool(details))

    def _on_details_button_toggled(self, checked: bool) -> None:
        self.details_edit.setVisible(checked)
        self.details_button.setText("Hide Details" if checked else "Show Details")
