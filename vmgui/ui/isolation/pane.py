"""The Limits tab's widget: one guest's limits as editable fields, checked as you type.

:class:`LimitsPane` shows a :class:`~vmgui.core.limits.LimitsView` and emits the changes the
user applies; it never talks to libvirt. Every field's label says where a change goes (live,
config, or both: the scope chosen above the fields). Each edit is checked at once with
:func:`~vmgui.core.limits.check_change`: an error disables Apply and is shown under the
fields, a warning (a memory limit below what the guest uses) is shown and Apply stays on.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.limits import (
    MAX_WEIGHT,
    GuestLimits,
    LimitChange,
    LimitsView,
    Scope,
    check_change,
    scope_label,
)
from vmgui.core.units import format_kib
from vmgui.core.validation import ValidationError
from vmgui.ui.widgets import (
    AMBER_COLOR,
    RED_COLOR,
    NoWheelSpinBox,
    align_forms,
    muted_label,
    scroll_area,
    section,
    title_font,
)

_INT_MAX = 2**31 - 1
_SCOPES = (
    (Scope.LIVE | Scope.CONFIG, "Running guest and saved config"),
    (Scope.LIVE, "Running guest only (until it stops)"),
    (Scope.CONFIG, "Saved config only (from the next start)"),
)


def _spin(maximum: int, suffix: str, none_text: str) -> NoWheelSpinBox:
    box = NoWheelSpinBox()
    box.setRange(0, maximum)
    box.setSuffix(suffix)
    box.setSpecialValueText(none_text)
    return box


class LimitsPane(QWidget):
    """One guest's limits, editable.

    Signals:
        applyRequested(list, Scope): the user pressed Apply: the
            :class:`~vmgui.core.limits.LimitChange` list (one for CPU and memory, one per
            changed disk and NIC) and the :class:`~vmgui.core.limits.Scope`.
        refreshRequested(): the user asked to re-read the limits.
    """

    applyRequested = Signal(list, Scope)
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("limitsPane")
        self._view: LimitsView | None = None
        self._disk_boxes: dict[str, tuple[NoWheelSpinBox, ...]] = {}
        self._nic_boxes: dict[str, tuple[NoWheelSpinBox, NoWheelSpinBox]] = {}
        self._labels: list[tuple[QLabel, str]] = []

        self.title = QLabel("Select one guest to see its limits.")
        title_font(self.title)
        self.scope_box = QComboBox()
        self.scope_box.setObjectName("limitsScope")
        self.scope_box.currentIndexChanged.connect(self._on_scope_box_current_index_changed)

        cpu_section, cpu_form = section("CPU")
        self.cpu_weight = _spin(MAX_WEIGHT, "", "default (1024)")
        self.cpu_weight.setObjectName("limitsCpuWeight")
        self.cpu_weight.setToolTip(
            "cpu_shares: the guest's share of the host CPUs under contention"
        )
        self.cpu_cap = QDoubleSpinBox()
        self.cpu_cap.setObjectName("limitsCpuCap")
        self.cpu_cap.setDecimals(0)
        self.cpu_cap.setSuffix(" % of one host CPU")
        self.cpu_cap.setSpecialValueText("no cap")
        self.cpu_cap.setToolTip(
            "Split evenly over the vCPUs: each gets vcpu_quota = cap / vCPUs of vcpu_period "
            "(100 ms)."
        )
        self._add(cpu_form, "Weight", self.cpu_weight)
        self._add(cpu_form, "Cap", self.cpu_cap)
        memory_section, memory_form = section("Memory")
        self.memory_hard = _spin(_INT_MAX, " MiB", "no limit")
        self.memory_hard.setObjectName("limitsMemoryHard")
        self.memory_soft = _spin(_INT_MAX, " MiB", "no limit")
        self.memory_soft.setObjectName("limitsMemorySoft")
        self._add(memory_form, "Hard limit", self.memory_hard)
        self._add(memory_form, "Soft limit", self.memory_soft)
        self.memory_used = muted_label()
        memory_form.addRow("", self.memory_used)

        self.disk_section, disk_form = section("Disks (KiB/s and operations/s; 0 = none)")
        self.disk_scope = muted_label()
        disk_form.addRow(self.disk_scope)
        self.disk_grid = QGridLayout()
        disk_form.addRow(self.disk_grid)
        self.nic_section, nic_form = section("Network interfaces (KiB/s; 0 = none)")
        self.nic_scope = muted_label()
        nic_form.addRow(self.nic_scope)
        self.nic_grid = QGridLayout()
        nic_form.addRow(self.nic_grid)
        self._forms = (cpu_form, memory_form)

        self.message = QLabel()
        self.message.setObjectName("limitsMessage")
        self.message.setWordWrap(True)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("limitsApply")
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self._on_revert_button_clicked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refreshRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        for button in (self.refresh_button, self.revert_button, self.apply_button):
            buttons.addWidget(button)

        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(self.title)
        scope_row = QHBoxLayout()
        scope_row.addWidget(QLabel("Apply to:"))
        scope_row.addWidget(self.scope_box, 1)
        column.addLayout(scope_row)
        for part in (cpu_section, memory_section, self.disk_section, self.nic_section):
            column.addWidget(part)
        column.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll_area(body), 1)
        outer.addLayout(buttons)
        for box in (self.cpu_weight, self.memory_hard, self.memory_soft):
            box.valueChanged.connect(self._on_field_value_changed)
        self.cpu_cap.valueChanged.connect(self._on_field_value_changed)
        self.show_limits(None)

    # -- what the presenter uses ----------------------------------------------------------------

    @property
    def view(self) -> LimitsView | None:
        """The limits shown, or None."""
        return self._view

    def scope(self) -> Scope:
        """Where Apply sends the changes."""
        data = self.scope_box.currentData()
        return data if isinstance(data, Scope) else Scope(0)

    def show_limits(self, view: LimitsView | None) -> None:
        """Show ``view``'s limits (None: no single guest), discarding unapplied edits."""
        self._view = view
        enabled = view is not None
        for widget in (self.scope_box, self.apply_button, self.revert_button, self.refresh_button):
            widget.setEnabled(enabled)
        self._fill_scopes(view)
        self._fill(view.current if view is not None else None)
        if view is None:
            self.title.setText("Select one guest to see its limits.")
            self.memory_used.setText("")
        else:
            state = "running" if view.running else "shut off"
            self.title.setText(f"{view.name} ({state})")
            used = view.memory_used_kib
            self.memory_used.setText(
                f"The guest's process uses {format_kib(used)} now." if used else ""
            )
        self._on_field_value_changed()

    def show_unavailable(self, name: str, reason: str) -> None:
        """Say in the tab that ``name``'s limits cannot be read on its host, and why."""
        self.show_limits(None)
        self.title.setText(f"The limits of {name} cannot be read on this host.")
        self.message.setStyleSheet(f"color: {RED_COLOR};")
        self.message.setText(reason)

    def changes(self) -> list[LimitChange]:
        """What differs from the limits shown: CPU and memory, then each disk and NIC."""
        view = self._view
        if view is None:
            return []
        shown = view.current
        out: list[LimitChange] = []
        main = LimitChange(
            cpu_weight=_changed(self.cpu_weight.value(), shown.cpu_weight),
            cpu_cap_percent=_changed_cap(self.cpu_cap.value(), shown.cpu_cap_percent),
            memory_hard_limit_kib=_changed(
                self.memory_hard.value() * 1024, _mib(shown.memory_hard_limit_kib)
            ),
            memory_soft_limit_kib=_changed(
                self.memory_soft.value() * 1024, _mib(shown.memory_soft_limit_kib)
            ),
        )
        if not main.is_empty:
            out.append(main)
        for disk in shown.disks:
            rb, wb, ri, wi = (box.value() for box in self._disk_boxes[disk.target])
            change = LimitChange(
                disk_read_bps=_changed(rb * 1024, disk.read_bps // 1024 * 1024),
                disk_write_bps=_changed(wb * 1024, disk.write_bps // 1024 * 1024),
                disk_read_iops=_changed(ri, disk.read_iops),
                disk_write_iops=_changed(wi, disk.write_iops),
                disks=(disk.target,),
            )
            if not change.is_empty:
                out.append(change)
        for nic in shown.nics:
            if nic.mac not in self._nic_boxes:
                continue
            inbound, outbound = (box.value() for box in self._nic_boxes[nic.mac])
            change = LimitChange(
                net_in_kib=_changed(inbound, nic.inbound_kib),
                net_out_kib=_changed(outbound, nic.outbound_kib),
                nics=(nic.mac,),
            )
            if not change.is_empty:
                out.append(change)
        return out

    # -- building -------------------------------------------------------------------------------

    def _add(self, form: QFormLayout, text: str, field: QWidget) -> None:
        label = QLabel(text)
        self._labels.append((label, text))
        form.addRow(label, field)

    def _fill_scopes(self, view: LimitsView | None) -> None:
        self.scope_box.blockSignals(True)
        self.scope_box.clear()
        if view is not None:
            default = view.default_scope
            for scope, text in _SCOPES:
                if scope & default == scope:
                    self.scope_box.addItem(text, scope)
        self.scope_box.blockSignals(False)
        self._relabel()

    def _fill(self, limits: GuestLimits | None) -> None:
        for box in (self.cpu_weight, self.memory_hard, self.memory_soft):
            box.blockSignals(True)
        self.cpu_cap.blockSignals(True)
        self.cpu_weight.setValue(limits.cpu_weight if limits else 0)
        self.cpu_cap.setRange(0, 100 * (limits.vcpus if limits else 1))
        self.cpu_cap.setValue(limits.cpu_cap_percent if limits else 0)
        self.memory_hard.setValue(_mib(limits.memory_hard_limit_kib) // 1024 if limits else 0)
        self.memory_soft.setValue(_mib(limits.memory_soft_limit_kib) // 1024 if limits else 0)
        for box in (self.cpu_weight, self.memory_hard, self.memory_soft):
            box.blockSignals(False)
        self.cpu_cap.blockSignals(False)
        self._fill_disks(limits)
        self._fill_nics(limits)

    def _fill_disks(self, limits: GuestLimits | None) -> None:
        _clear(self.disk_grid)
        self._disk_boxes = {}
        disks = limits.disks if limits else ()
        self.disk_section.setVisible(bool(disks))
        for column, head in enumerate(("", "Read KiB/s", "Write KiB/s", "Read IOPS", "Write IOPS")):
            self.disk_grid.addWidget(muted_label(head), 0, column)
        for row, disk in enumerate(disks, 1):
            boxes = (
                _spin(_INT_MAX, "", "none"),
                _spin(_INT_MAX, "", "none"),
                _spin(_INT_MAX, "", "none"),
                _spin(_INT_MAX, "", "none"),
            )
            values = (
                disk.read_bps // 1024,
                disk.write_bps // 1024,
                disk.read_iops,
                disk.write_iops,
            )
            self.disk_grid.addWidget(QLabel(disk.target), row, 0)
            for column, (box, value) in enumerate(zip(boxes, values, strict=True), 1):
                box.setObjectName(f"limitsDisk_{disk.target}_{column}")
                box.setValue(value)
                box.valueChanged.connect(self._on_field_value_changed)
                self.disk_grid.addWidget(box, row, column)
            self._disk_boxes[disk.target] = boxes

    def _fill_nics(self, limits: GuestLimits | None) -> None:
        _clear(self.nic_grid)
        self._nic_boxes = {}
        nics = limits.nics if limits else ()
        self.nic_section.setVisible(bool(nics))
        for column, head in enumerate(("", "Inbound", "Outbound")):
            self.nic_grid.addWidget(muted_label(head), 0, column)
        for row, nic in enumerate(nics, 1):
            self.nic_grid.addWidget(QLabel(f"{nic.mac} ({nic.type})"), row, 0)
            if nic.unsupported:
                reason = muted_label(f"not supported: {nic.unsupported}")
                reason.setObjectName("limitsNicUnsupported")
                reason.setWordWrap(True)
                self.nic_grid.addWidget(reason, row, 1, 1, 2)
                continue
            boxes = (_spin(_INT_MAX, "", "none"), _spin(_INT_MAX, "", "none"))
            for column, (box, value) in enumerate(
                zip(boxes, (nic.inbound_kib, nic.outbound_kib), strict=True), 1
            ):
                box.setValue(value)
                box.valueChanged.connect(self._on_field_value_changed)
                self.nic_grid.addWidget(box, row, column)
            self._nic_boxes[nic.mac] = boxes

    def _relabel(self) -> None:
        where = scope_label(self.scope()) if self._view is not None else ""
        for label, text in self._labels:
            label.setText(f"{text} ({where})" if where else text)
        for note in (self.disk_scope, self.nic_scope):
            note.setText(f"Changes apply to: {where}" if where else "")
        align_forms(*self._forms)

    # -- slots ------------------------------------------------------------------------------------

    def _on_scope_box_current_index_changed(self, _index: int) -> None:
        self._relabel()
        self._on_field_value_changed()

    def _on_field_value_changed(self, *_args: object) -> None:
        view = self._view
        changes = self.changes()
        error, warnings = "", list[str]()
        if view is not None:
            for change in changes:
                try:
                    warnings += check_change(view, change, self.scope()).warnings
                except ValidationError as exc:
                    error = exc.message
                    break
        if error:
            self.message.setStyleSheet(f"color: {RED_COLOR};")
            self.message.setText(error)
        elif warnings:
            self.message.setStyleSheet(f"color: {AMBER_COLOR};")
            self.message.setText(" ".join(warnings))
        else:
            self.message.setStyleSheet("")
            self.message.setText("")
        self.apply_button.setEnabled(bool(changes) and not error)
        self.revert_button.setEnabled(bool(changes))

    def _on_apply_button_clicked(self) -> None:
        changes = self.changes()
        if changes:
            self.applyRequested.emit(changes, self.scope())

    def _on_revert_button_clicked(self) -> None:
        self.show_limits(self._view)


def _mib(kib: int) -> int:
    """KiB rounded down to whole MiB, in KiB (what the MiB fields can show)."""
    return kib // 1024 * 1024


def _changed(value: int, shown: int) -> int | None:
    return None if value == shown else value


def _changed_cap(value: float, shown: float) -> float | None:
    return None if round(value) == round(shown) else value


def _clear(grid: QGridLayout) -> None:
    while grid.count():
        item = grid.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.deleteLater()
