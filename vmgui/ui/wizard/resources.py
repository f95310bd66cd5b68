"""The third page: how many guests, the name (or a batch's name pattern), OS, vCPUs, memory,
disk and storage pool.

Every field is checked as it is typed, against the chosen host's last known facts (CPUs,
memory, guest names) and its storage pools (fetched on its worker); a broken rule shows under
its field and keeps Next disabled. A batch is checked as a whole on every host it goes to
(names free, the memory of all its guests).
"""

from __future__ import annotations

import math

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.batch import HostRoom, fit_problems, pattern_names
from vmgui.core.catalog import local_entry
from vmgui.core.errors import VmguiError
from vmgui.core.osinfo import osinfo_display_name
from vmgui.core.provisioning import DEFAULT_POOL, DEFAULT_POOL_PATH
from vmgui.core.units import format_bytes, format_kib, plural
from vmgui.core.validation import (
    MAX_VCPUS,
    MIN_MEMORY_MIB,
    ValidationError,
    validate_guest_name,
    validate_memory_mib,
    validate_vcpus,
)
from vmgui.core.xml.domain import SEED_SUFFIX, seed_volume_name
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.batchfields import BatchFields
from vmgui.ui.wizard.common import MessageLabel, WizardPage
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.state import GIB, SourceKind, unique_name
from vmgui.virt.hostchoices import PoolChoice

MAX_MEMORY_MIB = 16 * 1024 * 1024
MAX_DISK_GIB = 64 * 1024


def _field(widget: QWidget, message: MessageLabel, note: QLabel | None = None) -> QWidget:
    """``widget`` with a note on its right (if any) over its message."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    if note is None:
        layout.addWidget(widget)
    else:
        row = QHBoxLayout()
        row.setSpacing(12)
        row.addWidget(widget)
        row.addWidget(note, 1)
        layout.addLayout(row)
    layout.addWidget(message)
    return box


class ResourcesPage(WizardPage):
    """Name, OS and sizes, with defaults from the source and checks against the host."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx, "Name and resources", "Name the guest and size it; the host's limits apply."
        )
        self.setObjectName("resourcesPage")
        self._applied_key: tuple[object, ...] = ()
        self._name_edited = False
        self._pools: tuple[PoolChoice, ...] | None = None
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setMaxLength(80)
        self.os_label = QLabel()
        self.os_label.setObjectName("osLabel")
        self.vcpus_spin = QSpinBox()
        self.vcpus_spin.setObjectName("vcpusSpin")
        self.vcpus_spin.setRange(1, MAX_VCPUS)
        self.memory_spin = QSpinBox()
        self.memory_spin.setObjectName("memorySpin")
        self.memory_spin.setRange(MIN_MEMORY_MIB, MAX_MEMORY_MIB)
        self.memory_spin.setSingleStep(512)
        self.memory_spin.setSuffix(" MiB")
        self.disk_spin = QSpinBox()
        self.disk_spin.setObjectName("diskSpin")
        self.disk_spin.setRange(1, MAX_DISK_GIB)
        self.disk_spin.setSuffix(" GiB")
        self.pool_combo = QComboBox()
        self.pool_combo.setObjectName("poolCombo")
        self.messages = {
            key: MessageLabel(f"{key}Message")
            for key in ("name", "vcpus", "memory", "disk", "pool")
        }
        self.vcpus_note = muted_label()
        self.memory_note = muted_label()
        self.disk_note = muted_label()
        for spin in (self.vcpus_spin, self.memory_spin, self.disk_spin):
            spin.setFixedWidth(150)
            spin.setAccelerated(True)

        self.batch = BatchFields(self)

        self.form = form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(10)
        form.addRow("How m&any:", self.batch.count_row)
        self._name_row = _field(self.name_edit, self.messages["name"])
        form.addRow("&Name:", self._name_row)
        form.addRow("Name pa&ttern:", self.batch.pattern_row)
        form.addRow("Operating system:", self.os_label)
        form.addRow("&vCPUs:", _field(self.vcpus_spin, self.messages["vcpus"], self.vcpus_note))
        form.addRow("&Memory:", _field(self.memory_spin, self.messages["memory"], self.memory_note))
        self._disk_row = _field(self.disk_spin, self.messages["disk"], self.disk_note)
        self._pool_row = _field(self.pool_combo, self.messages["pool"])
        form.addRow("&Disk:", self._disk_row)
        form.addRow("Storage &pool:", self._pool_row)
        form.addRow("If one fails:", self.batch.failure_row)
        self._show_batch_rows()

        self.name_edit.textEdited.connect(self._on_name_edit_text_edited)
        self.name_edit.textChanged.connect(self._on_field_changed)
        self.vcpus_spin.valueChanged.connect(self._on_field_changed)
        self.memory_spin.valueChanged.connect(self._on_field_changed)
        self.disk_spin.valueChanged.connect(self._on_field_changed)
        self.pool_combo.currentIndexChanged.connect(self._on_field_changed)
        self.batch.changed.connect(self._on_batch_changed)

    # -- defaults ---------------------------------------------------------------------------

    def initializePage(self) -> None:  # noqa: N802
        """Apply the source's defaults when the host or the source changed."""
        key = self.state.source_key()
        if key != self._applied_key:
            self._applied_key = key
            self._name_edited = False
            self._apply_defaults()
            self._pools = None
            self.pool_combo.clear()
            self.spawn(self._load_pools(key))
        self._validate()

    def _apply_defaults(self) -> None:
        state = self.state
        host = self.ctx.host()
        info = host.host_info
        cpus = info.cpus if info is not None else MAX_VCPUS
        memory_mib = info.memory_kib // 1024 if info is not None else MAX_MEMORY_MIB
        vcpus, memory, disk = 2, 2048, 20
        os_name = ""
        if state.kind is SourceKind.CATALOG and state.entry is not None:
            entry = state.entry
            vcpus, memory, disk = entry.vcpus, entry.memory_mib, entry.disk_gib
            os_name = osinfo_display_name(entry.osinfo)
        elif state.image is not None and state.kind in (SourceKind.LOCAL, SourceKind.ISO):
            disk = local_entry(state.image.path, state.image).disk_gib
        elif state.kind is SourceKind.VOLUME and state.volume is not None:
            disk = max(1, math.ceil(state.volume.capacity / GIB))
        elif state.kind is SourceKind.TEMPLATE and state.template is not None:
            vcpus = state.template.vcpus
            memory = state.template.memory_kib // 1024
            os_name = state.template.os_name
        self.name_edit.setText(unique_name(state.default_name_stem, self._taken_names()))
        self.batch.set_offered(
            state.offers_batch, "a batch needs an OS image (not one volume or a template)"
        )
        self.batch.suggest_pattern(self.name_edit.text())
        fixed = state.kind is SourceKind.TEMPLATE
        unknown = "not recorded" if fixed else "Not known (the guest gets generic virtual hardware)"
        self.os_label.setText(os_name or unknown)
        self.vcpus_spin.setValue(vcpus if fixed else min(vcpus, cpus))
        self.memory_spin.setValue(memory if fixed else min(memory, max(memory_mib // 2, 256)))
        self.disk_spin.setValue(disk)
        for spin in (self.vcpus_spin, self.memory_spin):
            spin.setEnabled(not fixed)
        self.disk_spin.setEnabled(state.kind not in (SourceKind.VOLUME, SourceKind.TEMPLATE))
        self.pool_combo.setEnabled(not fixed)
        # A clone's disks are overlays of the template's, in the template's pools.
        self.form.setRowVisible(self._disk_row, not fixed)
        self.form.setRowVisible(self._pool_row, not fixed)
        if fixed:
            self.vcpus_note.setText("as the template")
            self.memory_note.setText("as the template")
        elif info is not None:
            self.vcpus_note.setText(f"the host has {plural(info.cpus, 'CPU')}")
            self.memory_note.setText(f"the host has {format_kib(info.memory_kib)}")
        else:
            self.vcpus_note.setText("the host's size is not known yet")
            self.memory_note.setText("")
        self.disk_note.setText(self._disk_note())

    def _disk_note(self) -> str:
        state = self.state
        if state.kind is SourceKind.TEMPLATE:
            return "The clone gets a copy-on-write overlay of each of the template's disks."
        if state.kind is SourceKind.VOLUME and state.volume is not None:
            size = format_bytes(state.volume.capacity)
            return f"The guest uses {state.volume.name} as it is ({size})."
        if state.is_iso:
            return "A blank disk for the installer (allocated as the guest writes)."
        if state.min_disk_bytes:
            return (
                f"At least the image's virtual disk ({format_bytes(state.min_disk_bytes)}); "
                "a copy-on-write overlay, allocated as the guest writes."
            )
        return (
            "A copy-on-write overlay on the image, allocated as the guest writes; "
            "at least the image's size (checked after the download)."
        )

    def _taken_names(self) -> set[str]:
        names = self.ctx.guest_names()
        for pool in self._pools or ():
            for volume in pool.volumes:
                for suffix in (".qcow2", SEED_SUFFIX):
                    if volume.endswith(suffix):
                        names.add(volume[: -len(suffix)])
        return names

    async def _load_pools(self, key: tuple[object, ...]) -> None:
        self.messages["pool"].show_note(f"Reading the storage pools of {self.ctx.host_label()}…")
        try:
            pools = await self.ctx.pools()
        except VmguiError as exc:
            if key == self._applied_key:
                self.messages["pool"].show_error(f"{exc.summary}: {exc.details}")
            return
        if key != self._applied_key:
            return
        self._pools = pools
        self.messages["pool"].clear_message()
        self.pool_combo.blockSignals(True)
        for pool in pools:
            free = f"{format_bytes(pool.available)} free" if pool.active else "inactive"
            self.pool_combo.addItem(f"{pool.name}  ({free}; {pool.path or 'no path'})", pool.name)
        if not any(p.name == DEFAULT_POOL for p in pools):
            self.pool_combo.addItem(
                f"{DEFAULT_POOL}  (created at {DEFAULT_POOL_PATH})", DEFAULT_POOL
            )
        index = self.pool_combo.findData(self.state.pool) if self.state.pool else -1
        if index < 0:
            preferred = [i for i, p in enumerate(pools) if p.name == DEFAULT_POOL and p.active]
            active = [i for i, p in enumerate(pools) if p.active]
            index = (preferred or active or [self.pool_combo.count() - 1])[0]
        self.pool_combo.setCurrentIndex(index)
        self.pool_combo.blockSignals(False)
        if not self._name_edited:
            self.name_edit.setText(unique_name(self.state.default_name_stem, self._taken_names()))
        self._validate()

    # -- validation -----------------------------------------------------------------------

    def _on_name_edit_text_edited(self, _text: str) -> None:
        self._name_edited = True

    def _on_field_changed(self) -> None:
        self._validate()

    def _on_batch_changed(self) -> None:
        self._show_batch_rows()
        self._validate()

    def _show_batch_rows(self) -> None:
        batch = self.batch.count > 1
        self.form.setRowVisible(self._name_row, not batch)
        self.form.setRowVisible(self.batch.pattern_row, batch)
        self.form.setRowVisible(self.batch.failure_row, batch)

    def errors(self) -> dict[str, str]:
        """The broken rules by field ("name", "pattern", "vcpus", "memory", "disk", "pool")."""
        errors: dict[str, str] = {}
        info = self.ctx.host().host_info if self.state.uri else None
        if self.batch.count > 1:
            problem = self._batch_problem()  # the pattern's names instead of the name
            if problem:
                errors["pattern"] = problem
        else:
            self._name_errors(errors)
        if self.vcpus_spin.isEnabled():
            try:
                validate_vcpus(self.vcpus_spin.value(), info.cpus if info else None)
            except ValidationError as exc:
                errors["vcpus"] = exc.message
            try:
                validate_memory_mib(self.memory_spin.value(), info.memory_kib if info else None)
            except ValidationError as exc:
                errors["memory"] = exc.message
        minimum = self.state.min_disk_bytes
        if self.disk_spin.isEnabled() and self.disk_spin.value() * GIB < minimum:
            errors["disk"] = (
                f"The disk must be at least {math.ceil(minimum / GIB)} GiB: the image's virtual "
                f"disk is {format_bytes(minimum)}."
            )
        if self.pool_combo.isEnabled() and self.pool_combo.currentIndex() < 0:
            errors["pool"] = "Choose a storage pool."
        return errors

    def _name_errors(self, errors: dict[str, str]) -> None:
        name = self.name_edit.text().strip()
        try:
            validate_guest_name(self.name_edit.text())
            if name in self.ctx.guest_names():
                errors["name"] = (
                    f"A guest named {name!r} already exists on {self.ctx.host_label()}."
                )
        except ValidationError as exc:
            errors["name"] = exc.message
        pool = self._pool()
        if "name" not in errors and pool is not None and self.state.kind is not SourceKind.TEMPLATE:
            for volume in (f"{name}.qcow2", seed_volume_name(name)):
                if volume in pool.volumes:
                    errors["name"] = (
                        f"Pool {pool.name!r} already has a volume named {volume}. "
                        "Choose another name."
                    )

    def _batch_problem(self) -> str:
        """The first reason the batch does not fit its hosts (by their last known facts)."""
        problem = self.batch.pattern_error()
        if problem:
            return problem
        count = self.batch.count
        uris = self.state.guest_uris(count)
        pool = self._pool()
        rooms = {uri: self._room(uri, pool) for uri in dict.fromkeys(uris)}
        names = pattern_names(self.batch.pattern, count)
        problems = fit_problems(
            list(zip(names, uris, strict=True)),
            self.vcpus_spin.value(),
            self.memory_spin.value(),
            pool.name if pool is not None else "",
            rooms,
        )
        return f"{problems[0][:1].upper()}{problems[0][1:]}." if problems else ""

    def _room(self, uri: str, pool: PoolChoice | None) -> HostRoom:
        try:
            host = self.ctx.controller.host(uri)
            label = self.ctx.controller.label(uri)
        except KeyError:
            return HostRoom(uri, MAX_VCPUS, MAX_MEMORY_MIB * 1024, frozenset())
        info = host.host_info
        volumes = frozenset(pool.volumes) if pool is not None and uri == self.state.uri else None
        return HostRoom(
            label,
            info.cpus if info is not None else MAX_VCPUS,
            info.memory_kib if info is not None else MAX_MEMORY_MIB * 1024,
            frozenset(g.name for g in host.guests.values()),
            volumes or frozenset(),
        )

    def _validate(self) -> None:
        errors = self.errors()
        if self.batch.count > 1:
            self.batch.show_problem(errors.get("pattern", ""))
        for key, label in self.messages.items():
            if key in errors:
                label.show_error(errors[key])
            elif key != "pool" or self._pools is not None:
                label.clear_message()
        self.completeChanged.emit()

    def _pool(self) -> PoolChoice | None:
        name = self.pool_combo.currentData()
        return next((p for p in self._pools or () if p.name == name), None)

    def isComplete(self) -> bool:  # noqa: N802
        """Every field is valid and the pools are known."""
        if self.state.kind is not SourceKind.TEMPLATE and self._pools is None:
            return False
        return not self.errors()

    def validatePage(self) -> bool:  # noqa: N802
        """Write the values into the state."""
        if not self.isComplete():
            return False
        state = self.state
        state.count = self.batch.count
        state.keep_finished = self.batch.keep
        state.name_pattern = self.batch.pattern if state.is_batch else ""
        names = pattern_names(state.name_pattern, state.count) if state.is_batch else ()
        state.name = names[0] if names else self.name_edit.text().strip()
        state.vcpus = self.vcpus_spin.value()
        state.memory_mib = self.memory_spin.value()
        state.disk_gib = self.disk_spin.value()
        state.pool = str(self.pool_combo.currentData() or DEFAULT_POOL)
        return True
