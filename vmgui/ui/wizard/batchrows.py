"""The progress page's rows for a batch: one per guest with its host, current step and state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from vmgui.core.batch import BatchPlan, BatchProgress, GuestPhase
from vmgui.core.provisioning import Step
from vmgui.ui.widgets import RED_COLOR
from vmgui.virt.batch import COMMIT_STEPS, PREPARE_STEPS

GUEST_STEPS = PREPARE_STEPS + COMMIT_STEPS
_NAME, _HOST, _STEP, _STATE = range(4)
_STEP_TEXT = {
    Step.OVERLAY: "creating the disk",
    Step.SEED: "writing the seed",
    Step.DEFINE: "defining",
    Step.START: "starting",
}


class GuestRows(QTreeWidget):
    """``guestRows``: Guest, Host, Step, State for each guest of a batch."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("guestRows")
        self.setHeaderLabels(["Guest", "Host", "Step", "State"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(_NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_HOST, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(_STEP, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_STATE, QHeaderView.ResizeMode.ResizeToContents)
        self._phases: list[GuestPhase] = []
        self._done_steps: list[int] = []

    def begin(self, plan: BatchPlan, labels: dict[str, str]) -> None:
        """One waiting row per guest."""
        self.clear()
        self._phases = [GuestPhase.WAITING] * plan.count
        self._done_steps = [0] * plan.count
        for item in plan.items:
            row = QTreeWidgetItem([item.name, labels.get(item.uri, item.uri), "", "waiting"])
            row.setToolTip(_HOST, item.uri)
            self.addTopLevelItem(row)

    def apply(self, report: BatchProgress) -> None:
        """A guest's report (index ≥ 1) changes its row."""
        row = self.topLevelItem(report.index - 1)
        if row is None:
            return
        i = report.index - 1
        self._phases[i] = report.phase
        if report.phase is GuestPhase.RUNNING and report.step in GUEST_STEPS:
            step = report.step
            self._done_steps[i] = GUEST_STEPS.index(step)
            if report.progress is not None and report.progress.fraction == 1.0:
                self._done_steps[i] += 1
            row.setText(_STEP, _STEP_TEXT[step])
            row.setText(_STATE, "running")
        elif report.phase.final:
            if report.phase is GuestPhase.FINISHED:
                self._done_steps[i] = len(GUEST_STEPS)
                row.setText(_STEP, "")
            row.setText(_STATE, report.message or report.phase.value)
            if report.phase is GuestPhase.FAILED:
                row.setForeground(_STATE, QBrush(QColor(RED_COLOR)))
                row.setToolTip(_STATE, report.message)
        self.scrollToItem(row)

    def phase(self, index: int) -> GuestPhase:
        """The phase shown for guest ``index`` (1-based)."""
        return self._phases[index - 1]

    def state_text(self, index: int) -> str:
        """The State column of guest ``index``."""
        row = self.topLevelItem(index - 1)
        return row.text(_STATE) if row is not None else ""

    def fraction(self) -> float:
        """How far the guests are, 0..1 (each guest's steps done)."""
        if not self._done_steps:
            return 0.0
        return sum(self._done_steps) / (len(GUEST_STEPS) * len(self._done_steps))

    def finished(self) -> int:
        """How many guests are finished now."""
        return sum(p is GuestPhase.FINISHED for p in self._phases)
