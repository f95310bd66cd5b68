"""Details panes: what one guest or one host is, from snapshots; edits go out as signals.

Neither pane talks to libvirt: the main window fetches a :class:`GuestOverview` or hands
over a host's latest :class:`HostInfo`, and applies the edits the guest pane requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.model import (
    ConnectionState,
    GuestInfo,
    GuestOverview,
    HostInfo,
    HostStatus,
    consolidation,
)
from vmgui.core.validation import MAX_VCPUS, MIN_MEMORY_MIB, host_display_name
from vmgui.ui.detailparts import (
    MUTED_STYLE,
    RED_COLOR,
    ConsolidationBar,
    ElidedLabel,
    NoWheelSpinBox,
    StateBadge,
    align_forms,
    connection_reason,
    consolidation_texts,
    disk_row,
    fill_table,
    guest_state_summary,
    make_table,
    memory_color,
    muted_label,
    plural,
    scroll_area,
    section,
    title_font,
    value_label,
    vcpu_color,
)
from vmgui.ui.models import HOST_COLORS, STATE_COLORS, format_memory

MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB
NARROW_WIDTH = 560


@dataclass(frozen=True, slots=True)
class GuestConfigEdit:
    """What the user changed in the guest pane; each field is None when unchanged.

    Attributes:
        guest: the guest the edit is for.
        vcpus: the new vCPU count.
        memory_mib: the new memory in MiB.
        title: the new title ("" removes it).
        autostart: whether the guest should start with the host.
    """

    guest: GuestInfo
    vcpus: int | None = None
    memory_mib: int | None = None
    title: str | None = None
    autostart: bool | None = None

    @property
    def is_empty(self) -> bool:
        """Whether nothing was changed."""
        return (self.vcpus, self.memory_mib, self.title, self.autostart) == (None,) * 4


@dataclass(frozen=True, slots=True)
class _Values:
    vcpus: int
    memory_mib: int
    title: str
    autostart: bool


class GuestDetailsPane(QWidget):
    """One guest's configuration, with a few settings editable.

    Signals:
        configEditRequested(GuestConfigEdit): the user applied edits; unchanged fields are None.
    """

    configEditRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guestDetails")
        self._overview: GuestOverview | None = None
        self._baseline = _Values(1, MIN_MEMORY_MIB, "", False)
        self._applied = False

        self.name_label = QLabel()
        title_font(self.name_label)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state_badge = StateBadge()
        self.host_label = muted_label()
        self._header = QWidget()
        header = QVBoxLayout(self._header)
        header.setContentsMargins(16, 12, 16, 4)
        header.setSpacing(4)
        header.addWidget(self.name_label)
        state_row = QHBoxLayout()
        state_row.setSpacing(12)
        state_row.addWidget(self.state_badge, 0, Qt.AlignmentFlag.AlignLeft)
        state_row.addWidget(self.host_label, 1)
        header.addLayout(state_row)

        self.message_label = QLabel()
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setMargin(24)

        self.uuid_label = value_label(selectable=True)
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("A short description")
        self.title_edit.setMaximumWidth(480)
        self.description_label = ElidedLabel()
        self.os_label = value_label()
        self.virt_label = value_label()
        self.autostart_check = QCheckBox("Start when the host boots")
        self.managed_save_label = value_label()
        self.vcpus_spin = NoWheelSpinBox()
        self.vcpus_spin.setRange(1, MAX_VCPUS)
        self.vcpus_spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.vcpus_spin.setMaximumWidth(140)
        self.cpu_model_label = value_label()
        self.memory_spin = NoWheelSpinBox()
        self.memory_spin.setRange(MIN_MEMORY_MIB, MAX_MEMORY_MIB)
        self.memory_spin.setSingleStep(256)
        self.memory_spin.setSuffix(" MiB")
        self.memory_spin.setGroupSeparatorShown(True)
        self.memory_spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.memory_spin.setMaximumWidth(180)
        self.max_memory_label = value_label()
        self.balloon_label = value_label()
        self.disk_table = make_table(["Target", "Device", "Bus", "Source", "Format", "Flags"], 3)
        self.no_disks_label = muted_label("No disks.")
        self.nic_table = make_table(["Type", "Source", "Model", "MAC address"], 1)
        self.no_nics_label = muted_label("No network interfaces.")
        self.note_label = muted_label()
        self.revert_button = QPushButton("Revert")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyGuestConfig")
        self.apply_button.setDefault(True)

        general, form = section("General")
        form.addRow("UUID", self.uuid_label)
        form.addRow("Title", self.title_edit)
        form.addRow("Description", self.description_label)
        form.addRow("Operating system", self.os_label)
        form.addRow("Virtualization", self.virt_label)
        form.addRow("Autostart", self.autostart_check)
        form.addRow("Saved state", self.managed_save_label)
        cpu, cpu_form = section("CPU")
        cpu_form.addRow("vCPUs", self.vcpus_spin)
        cpu_form.addRow("CPU model", self.cpu_model_label)
        memory, memory_form = section("Memory")
        memory_form.addRow("Memory", self.memory_spin)
        memory_form.addRow("Maximum", self.max_memory_label)
        memory_form.addRow("Balloon", self.balloon_label)
        disks, disks_form = section("Disks")
        disks_form.addRow(self.disk_table)
        disks_form.addRow(self.no_disks_label)
        nics, nics_form = section("Network interfaces")
        nics_form.addRow(self.nic_table)
        nics_form.addRow(self.no_nics_label)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(16, 8, 16, 16)
        body_layout.setSpacing(18)
        body_layout.addWidget(general)
        self._cpu_memory = side_by_side = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        side_by_side.setSpacing(24)
        side_by_side.addWidget(cpu, 1, Qt.AlignmentFlag.AlignTop)
        side_by_side.addWidget(memory, 1, Qt.AlignmentFlag.AlignTop)
        align_forms(form, cpu_form, memory_form)
        body_layout.addLayout(side_by_side)
        body_layout.addWidget(disks)
        body_layout.addWidget(nics)
        body_layout.addStretch(1)

        separator = QFrame()
        separator.setFrameShape(QFrame.Shape.HLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        bar = QHBoxLayout()
        bar.setContentsMargins(16, 8, 16, 12)
        bar.addWidget(self.note_label, 1)
        bar.addWidget(self.revert_button)
        bar.addWidget(self.apply_button)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(0)
        content_layout.addWidget(scroll_area(body), 1)
        content_layout.addWidget(separator)
        content_layout.addLayout(bar)

        self._stack = QStackedWidget()
        self._stack.addWidget(self.message_label)
        self._stack.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._header)
        layout.addWidget(self._stack, 1)

        self.title_edit.textChanged.connect(self._on_title_edit_text_changed)
        self.vcpus_spin.valueChanged.connect(self._on_vcpus_spin_value_changed)
        self.memory_spin.valueChanged.connect(self._on_memory_spin_value_changed)
        self.autostart_check.toggled.connect(self._on_autostart_check_toggled)
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.revert_button.clicked.connect(self._on_revert_button_clicked)
        self.show_overview(None)

    # -- public API ------------------------------------------------------------------------

    @property
    def overview(self) -> GuestOverview | None:
        """The overview shown, or None."""
        return self._overview

    def show_overview(self, overview: GuestOverview | None) -> None:
        """Show ``overview`` (None: nothing selected).

        Showing a fresh overview of the same guest keeps the edits not yet applied; after
        an apply, the fresh overview's values are shown.
        """
        previous, edited = self._overview, self._current_values()
        old, applied = self._baseline, self._applied
        self._overview = overview
        self._applied = False
        if overview is None:
            self._header.setVisible(False)
            self.message_label.setText("Select a guest to see its details.")
            self.message_label.setStyleSheet(MUTED_STYLE)
            self._stack.setCurrentIndex(0)
            return
        self._show_header(overview.guest)
        self._fill(overview)
        if not applied and previous is not None and previous.guest.key == overview.guest.key:
            self._keep_edits(old, edited)
        self._stack.setCurrentIndex(1)
        self._update_buttons()

    def show_loading(self, guest: GuestInfo) -> None:
        """Show that ``guest``'s details are being fetched."""
        if self._overview is not None and self._overview.guest.key == guest.key:
            self._show_header(guest)
            return  # keep showing the old overview (and edits) until the new one arrives
        self._overview = None
        self._show_header(guest)
        self.message_label.setText(f"Loading details of {guest.name}…")
        self.message_label.setStyleSheet(MUTED_STYLE)
        self._stack.setCurrentIndex(0)

    def show_error(self, text: str) -> None:
        """Show why the details could not be fetched."""
        self._overview = None
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {RED_COLOR};")
        self._stack.setCurrentIndex(0)

    def pending_edit(self) -> GuestConfigEdit | None:
        """The edits made and not applied, or None."""
        if self._overview is None:
            return None
        now, old = self._current_values(), self._baseline
        edit = GuestConfigEdit(
            guest=self._overview.guest,
            vcpus=now.vcpus if now.vcpus != old.vcpus else None,
            memory_mib=now.memory_mib if now.memory_mib != old.memory_mib else None,
            title=now.title if now.title != old.title else None,
            autostart=now.autostart if now.autostart != old.autostart else None,
        )
        return None if edit.is_empty else edit

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        narrow = event.size().width() < NARROW_WIDTH
        self._cpu_memory.setDirection(
            QBoxLayout.Direction.TopToBottom if narrow else QBoxLayout.Direction.LeftToRight
        )
        self._cpu_memory.setSpacing(18 if narrow else 24)

    # -- slots -----------------------------------------------------------------------------

    def _on_title_edit_text_changed(self, _text: str) -> None:
        self._update_buttons()

    def _on_vcpus_spin_value_changed(self, _value: int) -> None:
        self._update_buttons()

    def _on_memory_spin_value_changed(self, _value: int) -> None:
        self._update_buttons()

    def _on_autostart_check_toggled(self, _checked: bool) -> None:
        self._update_buttons()

    def _on_apply_button_clicked(self) -> None:
        edit = self.pending_edit()
        if edit is not None:
            self._applied = True
            self.configEditRequested.emit(edit)

    def _on_revert_button_clicked(self) -> None:
        self._set_values(self._baseline)

    # -- helpers ---------------------------------------------------------------------------

    def _show_header(self, guest: GuestInfo) -> None:
        self._header.setVisible(True)
        self.name_label.setText(guest.name)
        self.state_badge.set_state(guest.state.label, STATE_COLORS[guest.state])
        self.host_label.setText(f"on {host_display_name(guest.host_uri)}")
        self.host_label.setToolTip(guest.host_uri)

    def _fill(self, overview: GuestOverview) -> None:
        details, guest = overview.details, overview.guest
        self.uuid_label.setText(details.uuid or guest.uuid)
        self.description_label.set_full_text(details.description)
        self.os_label.setText(details.os_name or "unknown")
        if details.osinfo_id:
            self.os_label.setToolTip(details.osinfo_id)
        virt = [details.domain_type, details.arch, details.machine]
        self.virt_label.setText(" · ".join(part for part in virt if part) or "unknown")
        self.managed_save_label.setText(
            "A saved state is restored at the next start" if overview.has_managed_save else "None"
        )
        cpu = details.cpu_mode or "hypervisor default"
        if details.cpu_model:
            cpu = f"{details.cpu_model} ({cpu})" if details.cpu_mode else details.cpu_model
        self.cpu_model_label.setText(cpu)
        self.max_memory_label.setText(format_memory(details.max_memory_kib or details.memory_kib))
        self.balloon_label.setText("Present" if details.has_balloon else "None")
        fill_table(self.disk_table, [disk_row(disk) for disk in details.disks])
        self.no_disks_label.setVisible(not details.disks)
        nic_rows = [
            ([nic.type, nic.source or "—", nic.model or "default", nic.mac], nic.target_dev)
            for nic in details.nics
        ]
        fill_table(self.nic_table, nic_rows)
        self.no_nics_label.setVisible(not details.nics)

        config = overview.editable
        memory_kib = config.memory_kib or guest.memory_kib
        self._set_values(
            _Values(
                vcpus=config.vcpus or guest.vcpus,
                memory_mib=max(MIN_MEMORY_MIB, math.ceil(memory_kib / 1024)),
                title=config.title,
                autostart=overview.autostart,
            )
        )
        self._baseline = self._current_values()
        editable = guest.persistent
        for widget in (self.title_edit, self.vcpus_spin, self.memory_spin, self.autostart_check):
            widget.setEnabled(editable)
        if not editable:
            self.note_label.setText("This guest is transient: its settings cannot be changed.")
        elif guest.is_active:
            note = "The guest is running: vCPU and memory changes apply at its next boot."
            if (config.vcpus, config.memory_kib) != (details.vcpus, details.memory_kib):
                note += (
                    f" Running now with {plural(details.vcpus, 'vCPU')} and "
                    f"{format_memory(details.memory_kib)}."
                )
            self.note_label.setText(note)
        else:
            self.note_label.setText("")

    def _current_values(self) -> _Values:
        return _Values(
            vcpus=self.vcpus_spin.value(),
            memory_mib=self.memory_spin.value(),
            title=self.title_edit.text().strip(),
            autostart=self.autostart_check.isChecked(),
        )

    def _set_values(self, values: _Values) -> None:
        self.vcpus_spin.setValue(values.vcpus)
        self.memory_spin.setValue(values.memory_mib)
        self.title_edit.setText(values.title)
        self.autostart_check.setChecked(values.autostart)

    def _keep_edits(self, old: _Values, edited: _Values) -> None:
        if edited.vcpus != old.vcpus:
            self.vcpus_spin.setValue(edited.vcpus)
        if edited.memory_mib != old.memory_mib:
            self.memory_spin.setValue(edited.memory_mib)
        if edited.title != old.title:
            self.title_edit.setText(edited.title)
        if edited.autostart != old.autostart:
            self.autostart_check.setChecked(edited.autostart)

    def _update_buttons(self) -> None:
        changed = self.pending_edit() is not None
        self.apply_button.setEnabled(changed)
        self.revert_button.setEnabled(changed)


class HostDetailsPane(QWidget):
    """One host: its connection, identity, guests and what they commit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hostDetails")
        self.label = QLabel()
        title_font(self.label)
        self.state_badge = StateBadge()
        self.reason_label = value_label(selectable=True)
        self.uri_label = value_label(selectable=True)
        self.hostname_label = value_label(selectable=True)
        self.hypervisor_label = value_label()
        self.libvirt_label = value_label()
        self.arch_label = value_label()
        self.cpu_model_label = value_label()
        self.cpus_label = value_label()
        self.memory_label = value_label()
        self.guests_total_label = value_label()
        self.guest_states_label = value_label()
        self.consolidation_caption = muted_label()
        self.vcpu_bar = ConsolidationBar()
        self.memory_bar = ConsolidationBar()
        self.defined_label = value_label()

        header = QVBoxLayout()
        header.setSpacing(4)
        header.addWidget(self.label)
        state_row = QHBoxLayout()
        state_row.setSpacing(12)
        state_row.addWidget(self.state_badge, 0, Qt.AlignmentFlag.AlignLeft)
        state_row.addWidget(self.reason_label, 1)
        header.addLayout(state_row)
        identity, form = section("Host")
        form.addRow("URI", self.uri_label)
        form.addRow("Hostname", self.hostname_label)
        form.addRow("Hypervisor", self.hypervisor_label)
        form.addRow("libvirt", self.libvirt_label)
        form.addRow("Architecture", self.arch_label)
        form.addRow("CPU model", self.cpu_model_label)
        form.addRow("Logical CPUs", self.cpus_label)
        form.addRow("Memory", self.memory_label)
        guests, guests_form = section("Guests")
        guests_form.addRow("Total", self.guests_total_label)
        guests_form.addRow("States", self.guest_states_label)
        self._consolidation, cons_form = section("Consolidation")
        cons_form.addRow(self.consolidation_caption)
        for text, bar in (("vCPUs", self.vcpu_bar), ("Memory", self.memory_bar)):
            bar_label = QLabel(text)
            bar_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            cons_form.addRow(bar_label, bar)
        cons_form.addRow("If all ran", self.defined_label)
        align_forms(form, guests_form, cons_form)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(16, 12, 16, 16)
        body_layout.setSpacing(18)
        body_layout.addLayout(header)
        body_layout.addWidget(identity)
        body_layout.addWidget(guests)
        body_layout.addWidget(self._consolidation)
        body_layout.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll_area(body))

    def show_host(
        self, label: str, status: HostStatus, info: HostInfo | None, guests: list[GuestInfo]
    ) -> None:
        """Show a host's connection state, identity, guests and consolidation."""
        self.label.setText(label)
        self.state_badge.set_state(status.state.label, HOST_COLORS[status.state])
        reason = connection_reason(status)
        self.reason_label.setText(reason)
        self.reason_label.setStyleSheet(
            f"color: {RED_COLOR};" if status.state == ConnectionState.FAILED else MUTED_STYLE
        )
        self.reason_label.setVisible(bool(reason))

        self.uri_label.setText(info.uri if info else status.uri)
        unknown = "—" if info is None else "unknown"
        self.hostname_label.setText(info.hostname if info and info.hostname else unknown)
        if info is not None and info.hypervisor:
            self.hypervisor_label.setText(f"{info.hypervisor} {info.hypervisor_version}".strip())
        else:
            self.hypervisor_label.setText(unknown)
        self.libvirt_label.setText(
            info.libvirt_version if info and info.libvirt_version else unknown
        )
        if info is not None and not info.capabilities_known:
            self.arch_label.setText(info.arch or "probing…")
            self.cpu_model_label.setText("probing…")
        else:
            self.arch_label.setText(info.arch if info and info.arch else unknown)
            self.cpu_model_label.setText(info.cpu_model if info and info.cpu_model else unknown)
        self.cpus_label.setText(str(info.cpus) if info and info.cpus else unknown)
        self.memory_label.setText(format_memory(info.memory_kib) if info else unknown)

        self.guests_total_label.setText(plural(len(guests), "guest"))
        self.guest_states_label.setText(guest_state_summary(guests))

        self._consolidation.setVisible(info is not None)
        if info is not None:
            self._show_consolidation(info, guests)

    def _show_consolidation(self, info: HostInfo, guests: list[GuestInfo]) -> None:
        cons = consolidation(info, guests)
        self.consolidation_caption.setText(
            f"What the {plural(cons.active_guests, 'active guest')} commit on this host "
            "(running, paused or suspended)."
        )
        vcpu_text, memory_text, defined_text = consolidation_texts(cons)
        self.vcpu_bar.set_value(vcpu_text, cons.vcpu_ratio, vcpu_color(cons.vcpu_ratio))
        self.memory_bar.set_value(memory_text, cons.memory_ratio, memory_color(cons.memory_ratio))
        self.defined_label.setText(defined_text)
