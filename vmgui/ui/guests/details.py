"""The guest details pane: one guest's configuration, with a few settings editable.

* :class:`GuestDetailsPane` shows a :class:`GuestOverview` snapshot and emits the edits the
  user applies; it never talks to libvirt. Its edit state is a pure
  :class:`~vmgui.ui.guests.configform.GuestConfigForm`.
* :class:`DetailsPresenter` fetches the overview of the guest to show (shortly after it is
  chosen, and again when it changes) and applies the pane's edits.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Qt, QTimer, Signal
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

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestConfigEdit, GuestInfo, GuestOverview
from vmgui.core.units import format_kib, plural
from vmgui.core.validation import MAX_VCPUS, MIN_MEMORY_MIB, host_display_name
from vmgui.ui.controller import HostController
from vmgui.ui.guests import commands
from vmgui.ui.guests.configform import MAX_MEMORY_MIB, ConfigValues, GuestConfigForm
from vmgui.ui.guests.tags import TagsEdit
from vmgui.ui.guests.thumbnail import GuestThumbnail, ThumbnailPresenter
from vmgui.ui.shell import Shell
from vmgui.ui.widgets import (
    MUTED_STYLE,
    RED_COLOR,
    STATE_COLORS,
    ElidedLabel,
    NoWheelSpinBox,
    PaneHeader,
    align_forms,
    disk_row,
    fill_table,
    make_table,
    muted_label,
    scroll_area,
    section,
    value_label,
)
from vmgui.virt import guests as guest_service

NARROW_WIDTH = 560
#: How long after a guest is chosen (or changes) its details are fetched (ms).
FETCH_DELAY_MS = 150


class GuestDetailsPane(QWidget):
    """One guest's configuration, with a few settings editable.

    Signals:
        configEditRequested(GuestConfigEdit): the user applied edits; unchanged fields are None.
    """

    configEditRequested = Signal(GuestConfigEdit)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guestDetails")
        self._form = GuestConfigForm()
        self.host_label = muted_label()
        self._header = PaneHeader(self.host_label)
        self._header.setContentsMargins(16, 12, 16, 4)
        self.name_label = self._header.title
        self.state_badge = self._header.badge

        self.message_label = QLabel()
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setMargin(24)

        self.thumbnail = GuestThumbnail()
        self.uuid_label = value_label(selectable=True)
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("A short description")
        self.title_edit.setMaximumWidth(480)
        self.description_label = ElidedLabel()
        self.tags_edit = TagsEdit()
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
        form.addRow("Tags", self.tags_edit)
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
        body_layout.addWidget(self.thumbnail)
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
        self.tags_edit.edited.connect(self._on_tags_edit_edited)
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.revert_button.clicked.connect(self._on_revert_button_clicked)
        self.show_overview(None)

    # -- public API ------------------------------------------------------------------------

    @property
    def overview(self) -> GuestOverview | None:
        """The overview shown, or None."""
        return self._form.overview

    def show_overview(self, overview: GuestOverview | None) -> None:
        """Show ``overview`` (None: nothing selected).

        Showing a fresh overview of the same guest keeps the edits not yet applied; after
        an apply, the fresh overview's values are shown.
        """
        shown = self._form.overview
        same = shown is not None and overview is not None and shown.guest.key == overview.guest.key
        values = self._form.load(overview, self._current_values())
        if overview is None or values is None:
            self._header.setVisible(False)
            self.message_label.setText("Select a guest to see its details.")
            self.message_label.setStyleSheet(MUTED_STYLE)
            self._stack.setCurrentIndex(0)
            return
        self._show_header(overview.guest)
        self._fill(overview)
        self._set_values(values, keep_refused_tags=same)
        self._stack.setCurrentIndex(1)
        self._update_buttons()

    def show_loading(self, guest: GuestInfo) -> None:
        """Show that ``guest``'s details are being fetched."""
        shown = self._form.overview
        if shown is not None and shown.guest.key == guest.key:
            self._show_header(guest)
            return  # keep showing the old overview (and edits) until the new one arrives
        self._form.forget()
        self._show_header(guest)
        self.message_label.setText(f"Loading details of {guest.name}…")
        self.message_label.setStyleSheet(MUTED_STYLE)
        self._stack.setCurrentIndex(0)

    def show_error(self, text: str) -> None:
        """Show why the details could not be fetched."""
        self._form.forget()
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {RED_COLOR};")
        self._stack.setCurrentIndex(0)

    def pending_edit(self) -> GuestConfigEdit | None:
        """The edits made and not applied, or None."""
        return self._form.pending(self._current_values())

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

    def _on_tags_edit_edited(self) -> None:
        self._update_buttons()

    def _on_apply_button_clicked(self) -> None:
        edit = self.pending_edit()
        if edit is not None and not self.tags_edit.error:
            self._form.mark_applied()
            self.configEditRequested.emit(edit)

    def _on_revert_button_clicked(self) -> None:
        self._set_values(self._form.baseline)

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
        self.max_memory_label.setText(format_kib(details.max_memory_kib or details.memory_kib))
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
        editable = guest.persistent
        editors = (self.title_edit, self.tags_edit, self.vcpus_spin, self.memory_spin)
        for widget in (*editors, self.autostart_check):
            widget.setEnabled(editable)
        if not editable:
            self.note_label.setText("This guest is transient: its settings cannot be changed.")
        elif guest.is_active:
            note = "The guest is running: vCPU and memory changes apply at its next boot."
            if (config.vcpus, config.memory_kib) != (details.vcpus, details.memory_kib):
                note += (
                    f" Running now with {plural(details.vcpus, 'vCPU')} and "
                    f"{format_kib(details.memory_kib)}."
                )
            self.note_label.setText(note)
        else:
            self.note_label.setText("")

    def _current_values(self) -> ConfigValues:
        return ConfigValues(
            vcpus=self.vcpus_spin.value(),
            memory_mib=self.memory_spin.value(),
            title=self.title_edit.text().strip(),
            autostart=self.autostart_check.isChecked(),
            tags=self._form.baseline.tags if (tags := self.tags_edit.tags()) is None else tags,
        )

    def _set_values(self, values: ConfigValues, *, keep_refused_tags: bool = False) -> None:
        self.vcpus_spin.setValue(values.vcpus)
        self.memory_spin.setValue(values.memory_mib)
        self.title_edit.setText(values.title)
        self.autostart_check.setChecked(values.autostart)
        if not (keep_refused_tags and self.tags_edit.error):  # the user is still typing them
            self.tags_edit.set_tags(values.tags)

    def _update_buttons(self) -> None:
        changed = self.pending_edit() is not None
        refused = bool(self.tags_edit.error)
        self.apply_button.setEnabled(changed and not refused)
        self.revert_button.setEnabled(changed or refused)


class DetailsPresenter(QObject):
    """Keeps a :class:`GuestDetailsPane` showing one guest and applies its edits.

    The guest's overview is fetched :data:`FETCH_DELAY_MS` after it is chosen (so that
    running through the list does not fetch every guest) and again after it changes or an
    edit was applied. A late answer about a guest no longer shown is dropped. The pane's
    thumbnail follows the shown guest (:class:`~vmgui.ui.guests.thumbnail.ThumbnailPresenter`).

    Args:
        pane: the pane.
        shell: the window (owns the fetch and edit tasks; shows the edits' failures).
        controller: the hosts.
    """

    def __init__(
        self,
        pane: GuestDetailsPane,
        shell: Shell,
        controller: HostController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._pane = pane
        self._shell = shell
        self._controller = controller
        self._guest: GuestInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FETCH_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._thumbnail = ThumbnailPresenter(pane.thumbnail, shell, controller, parent=self)
        pane.configEditRequested.connect(self._on_pane_config_edit_requested)
        controller.guestChanged.connect(self._on_controller_guest_changed)

    @property
    def guest(self) -> GuestInfo | None:
        """The guest shown, or None."""
        return self._guest

    def show(self, guest: GuestInfo | None) -> None:
        """Show ``guest`` from now on (None: stop following any)."""
        self._thumbnail.show(guest)
        if guest is None:
            self._guest = None
            self._timer.stop()
            return
        if self._guest is None or self._guest.key != guest.key:
            self._guest = guest
            self._pane.show_loading(guest)
            self._timer.start(0)

    def _is_shown(self, key: tuple[str, str]) -> bool:
        return self._guest is not None and self._guest.key == key

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        if self._is_shown(guest.key):
            self._guest = guest
            self._timer.start(FETCH_DELAY_MS)

    def _on_timer_timeout(self) -> None:
        if self._guest is None:
            return
        if self._task is not None:
            self._task.cancel()
        self._task = self._shell.spawn(self._load(self._guest))

    async def _load(self, guest: GuestInfo) -> None:
        try:
            host = self._controller.host(guest.host_uri)
            overview = await guest_service.fetch_overview(host, guest.uuid)
        except VmguiError as exc:
            if self._is_shown(guest.key):
                self._pane.show_error(f"{exc.summary}: {exc.details}")
            return
        except KeyError:
            return  # the host was removed meanwhile
        if self._is_shown(guest.key):
            self._pane.show_overview(overview)

    def _on_pane_config_edit_requested(self, edit: GuestConfigEdit) -> None:
        self._shell.spawn(self._apply(edit))

    async def _apply(self, edit: GuestConfigEdit) -> None:
        await commands.apply_edit(self._shell, self._controller, edit)
        if self._is_shown(edit.guest.key):
            self._timer.start(0)
