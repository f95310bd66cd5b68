"""The Limits tab's widget: one guest's limits as editable fields, checked as you type.

:class:`LimitsPane` shows a :class:`~vmgui.core.limits.LimitsView` and emits the changes the
user applies; it never talks to libvirt. Every field's label says where a change goes (live,
config, or both: the scope chosen above the fields). Each edit is checked at once with
:func:`~vmgui.core.limits.check_change`: an error disables Apply and is shown under the
fields, a warning (a memory limit below what the guest uses) is shown and Apply stays on.

A running guest's live value can differ from its saved config (set with ``virsh ... --live``):
such a field shows both beside it ("now 256 KiB/s · next boot: none",
:mod:`vmgui.core.limitdiff`), and Apply writes the values shown to every scope chosen where they
differ — with "Running guest and saved config" the config then matches the running guest; the
message under the fields says which it writes.
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

from vmgui.core.limitdiff import Difference, FieldKey, apply_note, differences
from vmgui.core.limits import (
    DEFAULT_WEIGHT,
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
        #: The "now … · next boot: …" note of each CPU and memory field, and of each device.
        self._notes: dict[FieldKey, QLabel] = {}
        self._device_notes: dict[tuple[str, str], QLabel] = {}
        self._differences: tuple[Difference, ...] = ()

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
        self._add(cpu_form, "Weight", self.cpu_weight, ("cpu_weight",))
        self._add(cpu_form, "Cap", self.cpu_cap, ("cpu_cap",))
        memory_section, memory_form = section("Memory")
        self.memory_hard = _spin(_INT_MAX, " MiB", "no limit")
        self.memory_hard.setObjectName("limitsMemoryHard")
        self.memory_soft = _spin(_INT_MAX, " MiB", "no limit")
        self.memory_soft.setObjectName("limitsMemorySoft")
        self._add(memory_form, "Hard limit", self.memory_hard, ("memory_hard",))
        self._add(memory_form, "Soft limit", self.memory_soft, ("memory_soft",))
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
        self._differences = differences(view) if view is not None else ()
        enabled = view is not None
        for widget in (self.scope_box, self.apply_button, self.revert_button, self.refresh_button):
            widget.setEnabled(enabled)
        self._fill_scopes(view)
        self._fill(view.current if view is not None else None)
        self._show_differences()
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
        """What Apply writes: each value shown that differs from it in a scope chosen.

        CPU and memory first, then each disk and NIC. A field the user did not edit is in it
        when its live and config values differ and both are chosen (the config then gets the
        running guest's value), or when only the config is chosen and it differs from the
        value shown.
        """
        view = self._view
        if view is None:
            return []
        chosen = [
            limits
            for flag, limits in ((Scope.LIVE, view.live), (Scope.CONFIG, view.config))
            if flag in self.scope() and limits is not None
        ]
        return self._changes(view.current, chosen or [view.current])

    def _changes(self, shown: GuestLimits, bases: list[GuestLimits]) -> list[LimitChange]:
        out: list[LimitChange] = []
        main = LimitChange(
            cpu_weight=_changed_weight(self.cpu_weight.value(), [b.cpu_weight for b in bases]),
            cpu_cap_percent=_changed_cap(self.cpu_cap.value(), [b.cpu_cap_percent for b in bases]),
            memory_hard_limit_kib=_changed(
                self.memory_hard.value() * 1024, [_mib(b.memory_hard_limit_kib) for b in bases]
            ),
            memory_soft_limit_kib=_changed(
                self.memory_soft.value() * 1024, [_mib(b.memory_soft_limit_kib) for b in bases]
            ),
        )
        if not main.is_empty:
            out.append(main)
        for disk in shown.disks:
            rb, wb, ri, wi = (box.value() for box in self._disk_boxes[disk.target])
            have = [d for d in (b.disk(disk.target) for b in bases) if d is not None]
            change = LimitChange(
                disk_read_bps=_changed(rb * 1024, [d.read_bps // 1024 * 1024 for d in have]),
                disk_write_bps=_changed(wb * 1024, [d.write_bps // 1024 * 1024 for d in have]),
                disk_read_iops=_changed(ri, [d.read_iops for d in have]),
                disk_write_iops=_changed(wi, [d.write_iops for d in have]),
                disks=(disk.target,),
            )
            if not change.is_empty:
                out.append(change)
        for nic in shown.nics:
            if nic.mac not in self._nic_boxes:
                continue
            inbound, outbound = (box.value() for box in self._nic_boxes[nic.mac])
            found = [n for n in (b.nic(nic.mac) for b in bases) if n is not None]
            change = LimitChange(
                net_in_kib=_changed(inbound, [n.inbound_kib for n in found]),
                net_out_kib=_changed(outbound, [n.outbound_kib for n in found]),
                nics=(nic.mac,),
            )
            if not change.is_empty:
                out.append(change)
        return out

    # -- building -------------------------------------------------------------------------------

    def _add(self, form: QFormLayout, text: str, field: QWidget, key: FieldKey) -> None:
        label = QLabel(text)
        self._labels.append((label, text))
        note = _note_label(f"limitsDiff_{key[0]}")
        row = QHBoxLayout()
        row.addWidget(field)
        row.addWidget(note, 1)
        self._notes[key] = note
        form.addRow(label, row)

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
        cpu, memory = (limits.cpu_unavailable, limits.memory_unavailable) if limits else ("", "")
        self.cpu_weight.setEnabled(not cpu)
        self.cpu_cap.setEnabled(not cpu)
        self.memory_hard.setEnabled(not memory)
        self.memory_soft.setEnabled(not memory)
        self._fill_disks(limits)
        self._fill_nics(limits)

    def _show_differences(self) -> None:
        """Mark each field whose live and config values differ, beside it and in its tooltip."""
        for label in (*self._notes.values(), *self._device_notes.values()):
            label.hide()
        shown = self._view.current if self._view is not None else None
        for key, reason in (
            (("cpu_cap",), shown.cpu_unavailable if shown else ""),
            (("memory_soft",), shown.memory_unavailable if shown else ""),
        ):
            if reason:  # what the host lacks, under the fields it disables
                self._notes[key].setText(f"Cannot be set on this host: {reason}.")
                self._notes[key].show()
        per_device: dict[tuple[str, str], list[str]] = {}
        for diff in self._differences:
            note = self._notes.get(diff.key)
            if note is not None:
                note.setText(diff.text)
                note.show()
                continue
            kind, device, column = diff.key
            per_device.setdefault((str(kind), str(device)), []).append(f"{diff.name}: {diff.text}")
            boxes = (self._disk_boxes if kind == "disk" else self._nic_boxes).get(str(device))
            if boxes is not None:
                boxes[int(column) - 1].setToolTip(diff.text)
        for where, texts in per_device.items():
            if where in self._device_notes:
                self._device_notes[where].setText("; ".join(texts))
                self._device_notes[where].show()

    def _fill_disks(self, limits: GuestLimits | None) -> None:
        _clear(self.disk_grid)
        self._disk_boxes = {}
        self._device_notes = {k: v for k, v in self._device_notes.items() if k[0] != "disk"}
        disks = limits.disks if limits else ()
        self.disk_section.setVisible(bool(disks))
        for column, head in enumerate(("", "Read KiB/s", "Write KiB/s", "Read IOPS", "Write IOPS")):
            self.disk_grid.addWidget(muted_label(head), 0, column)
        for index, disk in enumerate(disks):
            row = 1 + 2 * index
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
            note = _note_label(f"limitsDiff_{disk.target}")
            self._device_notes[("disk", disk.target)] = note
            self.disk_grid.addWidget(note, row + 1, 1, 1, 4)

    def _fill_nics(self, limits: GuestLimits | None) -> None:
        _clear(self.nic_grid)
        self._nic_boxes = {}
        self._device_notes = {k: v for k, v in self._device_notes.items() if k[0] != "nic"}
        nics = limits.nics if limits else ()
        self.nic_section.setVisible(bool(nics))
        for column, head in enumerate(("", "Inbound", "Outbound")):
            self.nic_grid.addWidget(muted_label(head), 0, column)
        for index, nic in enumerate(nics):
            row = 1 + 2 * index
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
            note = _note_label(f"limitsDiff_{nic.mac}")
            self._device_notes[("nic", nic.mac)] = note
            self.nic_grid.addWidget(note, row + 1, 1, 1, 2)

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
            self.message.setText(apply_note(self.scope()) if self._differences else "")
        self.apply_button.setEnabled(bool(changes) and not error)
        edited = view is not None and bool(self._changes(view.current, [view.current]))
        self.revert_button.setEnabled(edited)

    def _on_apply_button_clicked(self) -> None:
        changes = self.changes()
        if changes:
            self.applyRequested.emit(changes, self.scope())

    def _on_revert_button_clicked(self) -> None:
        self.show_limits(self._view)


def _mib(kib: int) -> int:
    """KiB rounded down to whole MiB, in KiB (what the MiB fields can show)."""
    return kib // 1024 * 1024


def _changed(value: int, bases: list[int]) -> int | None:
    """``value`` if it differs from any of ``bases`` (the scopes it goes to), else None."""
    return value if any(value != base for base in bases) else None


def _changed_weight(value: int, bases: list[int]) -> int | None:
    # 0 (unset, in a config) is the default weight the running guest reports.
    same = all((value or DEFAULT_WEIGHT) == (base or DEFAULT_WEIGHT) for base in bases)
    return None if same else value


def _changed_cap(value: float, bases: list[float]) -> float | None:
    return value if any(round(value) != round(base) for base in bases) else None


def _note_label(name: str) -> QLabel:
    note = QLabel()
    note.setObjectName(name)
    note.setStyleSheet(f"color: {AMBER_COLOR};")
    note.setWordWrap(True)
    note.hide()
    return note


def _clear(grid: QGridLayout) -> None:
    while grid.count():
        item = grid.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.deleteLater()
