"""The questions mobility asks: a snapshot's name, how to revert (snapshot the current state
first, lose it, or cancel: one question), a clone's name and kind, an export file, what to
import where, and a migration's destination (hosts that cannot take the guest are listed
disabled, with the reason)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.vmguifile import SUFFIX
from vmgui.ui.dialogs import Answer, ask_buttons, exec_async
from vmgui.ui.widgets import muted_label


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """What a new snapshot should be."""

    name: str
    description: str
    disk_only: bool


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What to import where."""

    path: Path
    uri: str
    name: str
    pool: str
    start: bool


@dataclass(frozen=True, slots=True)
class MigrateRequest:
    """Where to move a guest, and whether its read-only media stay behind."""

    uri: str
    detach_readonly: bool = False


@dataclass(frozen=True, slots=True)
class Destination:
    """A host a guest could move to; ``reason`` says why it cannot ("" when it can)."""

    uri: str
    label: str
    reason: str = ""


class RevertChoice(enum.Enum):
    """How to revert to a snapshot."""

    SNAPSHOT_FIRST = "snapshot first"
    """Take a snapshot of the current state, then revert."""
    DISCARD = "discard"
    """Revert, losing the current state."""


#: The revert question's buttons, in the order shown.
SNAPSHOT_FIRST_LABEL = "&Snapshot First and Revert"
DISCARD_LABEL = "&Revert and Lose the Current State"


class MobilityDialogs(Protocol):
    """The questions (tests pass a fake)."""

    async def ask_snapshot(
        self, parent: QWidget, guest: str, default_name: str, disk_only_note: str
    ) -> SnapshotRequest | None:
        """Name, description and kind of a new snapshot; None if cancelled."""
        ...

    async def ask_revert(self, parent: QWidget, guest: str, snapshot: str) -> RevertChoice | None:
        """Whether to keep the current state as a snapshot first; None if cancelled."""
        ...

    async def ask_clone(self, parent: QWidget, guest: str, default: str) -> tuple[str, bool] | None:
        """(name, linked) of a clone; None if cancelled."""
        ...

    async def ask_export_path(self, parent: QWidget, guest: str) -> Path | None:
        """Where to write the .vmgui file; None if cancelled."""
        ...

    async def ask_import(
        self, parent: QWidget, hosts: list[tuple[str, str]]
    ) -> ImportRequest | None:
        """A file and the host (URI, label) to import it on; None if cancelled."""
        ...

    async def ask_migrate(
        self, parent: QWidget, guest: str, destinations: list[Destination]
    ) -> MigrateRequest | None:
        """The destination and how; None if cancelled."""
        ...


def _buttons(dialog: QDialog, ok: str) -> QDialogButtonBox:
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok_button.setText(ok)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class SnapshotDialog(QDialog):
    """Name, description, and "disk only" (with what that means on this host)."""

    def __init__(
        self, guest: str, default_name: str, disk_only_note: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("snapshotDialog")
        self.setWindowTitle(f"New snapshot of {guest}")
        form = QFormLayout(self)
        self.name_edit = QLineEdit(default_name)
        self.description_edit = QLineEdit()
        self.disk_only = QCheckBox("Disk only (no memory state)")
        form.addRow("Name:", self.name_edit)
        form.addRow("Description:", self.description_edit)
        if disk_only_note:
            form.addRow(self.disk_only)
            form.addRow(muted_label(disk_only_note))
        form.addRow(_buttons(self, "Create"))

    def request(self) -> SnapshotRequest:
        """What was entered."""
        return SnapshotRequest(
            self.name_edit.text().strip(),
            self.description_edit.text().strip(),
            self.disk_only.isChecked(),
        )


class CloneDialog(QDialog):
    """A clone's name and whether it is linked."""

    def __init__(self, guest: str, default: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cloneDialog")
        self.setWindowTitle(f"Clone {guest}")
        form = QFormLayout(self)
        self.name_edit = QLineEdit(default)
        self.linked = QCheckBox("Linked clone (overlays on this guest's disks)")
        form.addRow("Name:", self.name_edit)
        form.addRow(self.linked)
        form.addRow(
            muted_label(
                "A full clone copies the disks on the host and stands alone. A linked clone "
                "is made at once but reads this guest's disks: keep this guest shut off."
            )
        )
        form.addRow(_buttons(self, "Clone"))


class ImportDialog(QDialog):
    """A .vmgui file, the host and pool, a name."""

    def __init__(self, hosts: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.setWindowTitle("Import a guest")
        form = QFormLayout(self)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(f"/path/to/guest{SUFFIX}")
        self.host_combo = QComboBox()
        for uri, label in hosts:
            self.host_combo.addItem(label, uri)
        self.pool_edit = QLineEdit("default")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("the file's (renamed if taken)")
        self.start = QCheckBox("Start it")
        form.addRow("File:", self.path_edit)
        form.addRow("Host:", self.host_combo)
        form.addRow("Pool:", self.pool_edit)
        form.addRow("Name:", self.name_edit)
        form.addRow(self.start)
        form.addRow(_buttons(self, "Import"))

    def request(self) -> ImportRequest:
        """What was entered."""
        return ImportRequest(
            Path(self.path_edit.text().strip()),
            str(self.host_combo.currentData()),
            self.name_edit.text().strip(),
            self.pool_edit.text().strip() or "default",
            self.start.isChecked(),
        )


class MigrateDialog(QDialog):
    """The destination hosts; those that cannot take the guest are disabled with the reason."""

    def __init__(
        self, guest: str, destinations: list[Destination], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("migrateDialog")
        self.setWindowTitle(f"Move {guest} to another host")
        layout = QVBoxLayout(self)
        self.hosts = QListWidget()
        for dest in destinations:
            text = dest.label if not dest.reason else f"{dest.label} — {dest.reason}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, dest.uri)
            item.setToolTip(dest.reason or dest.uri)
            if dest.reason:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.hosts.addItem(item)
        layout.addWidget(self.hosts)
        layout.addWidget(
            muted_label(
                "A running guest moves live with its disks; a shut-off guest is streamed. "
                "The source is removed once the copy is verified."
            )
        )
        self.detach_check = QCheckBox(
            "Leave read-only media behind (CD-ROM images, the cloud-init seed): the guest "
            "arrives with its drives empty"
        )
        self.detach_check.setObjectName("detachReadonlyCheck")
        layout.addWidget(self.detach_check)
        self.buttons = _buttons(self, "Move")
        layout.addWidget(self.buttons)
        self.hosts.currentItemChanged.connect(self._on_hosts_current_item_changed)
        self._on_hosts_current_item_changed(None, None)

    def request(self) -> MigrateRequest | None:
        """The chosen destination and options (None: no destination chosen)."""
        uri = self.chosen()
        return MigrateRequest(uri, self.detach_check.isChecked()) if uri else None

    def chosen(self) -> str:
        """The chosen destination's URI ("" for none)."""
        item = self.hosts.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return ""
        return str(item.data(Qt.ItemDataRole.UserRole))

    def _on_hosts_current_item_changed(
        self, _current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.chosen()))


class QtMobilityDialogs:
    """The real dialogs, window-modal."""

    async def ask_snapshot(
        self, parent: QWidget, guest: str, default_name: str, disk_only_note: str
    ) -> SnapshotRequest | None:
        """See :class:`MobilityDialogs`."""
        dialog = SnapshotDialog(guest, default_name, disk_only_note, parent)
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            return dialog.request()
        finally:
            dialog.deleteLater()

    async def ask_revert(self, parent: QWidget, guest: str, snapshot: str) -> RevertChoice | None:
        """See :class:`MobilityDialogs`: one question with three answers; Cancel is Escape, and
        keeping the current state is the default."""
        box = QMessageBox(parent)
        box.setObjectName("snapshotRevertDialog")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(f"Revert {guest}")
        box.setText(f"Revert {guest} to {snapshot}?")
        box.setInformativeText("Its current state is lost unless you take a snapshot of it first.")
        answers = [
            Answer(
                SNAPSHOT_FIRST_LABEL,
                QMessageBox.ButtonRole.AcceptRole,
                "snapshotFirstButton",
                RevertChoice.SNAPSHOT_FIRST,
            ),
            Answer(
                DISCARD_LABEL,
                QMessageBox.ButtonRole.DestructiveRole,
                "revertDiscardButton",
                RevertChoice.DISCARD,
            ),
            Answer("Cancel", QMessageBox.ButtonRole.RejectRole, "revertCancelButton", None),
        ]
        return await ask_buttons(box, answers, default=0, escape=2)

    async def ask_clone(self, parent: QWidget, guest: str, default: str) -> tuple[str, bool] | None:
        """See :class:`MobilityDialogs`."""
        dialog = CloneDialog(guest, default, parent)
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            return dialog.name_edit.text().strip(), dialog.linked.isChecked()
        finally:
            dialog.deleteLater()

    async def ask_export_path(self, parent: QWidget, guest: str) -> Path | None:
        """See :class:`MobilityDialogs`."""
        dialog = QFileDialog(parent, f"Export {guest}", f"{guest}{SUFFIX}")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter(f"vmgui guests (*{SUFFIX})")
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            files = dialog.selectedFiles()
            return Path(files[0]) if files else None
        finally:
            dialog.deleteLater()

    async def ask_import(
        self, parent: QWidget, hosts: list[tuple[str, str]]
    ) -> ImportRequest | None:
        """See :class:`MobilityDialogs`."""
        dialog = ImportDialog(hosts, parent)
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            return dialog.request()
        finally:
            dialog.deleteLater()

    async def ask_migrate(
        self, parent: QWidget, guest: str, destinations: list[Destination]
    ) -> MigrateRequest | None:
        """See :class:`MobilityDialogs`."""
        dialog = MigrateDialog(guest, destinations, parent)
        try:
            if await exec_async(dialog) != QDialog.DialogCode.Accepted.value:
                return None
            return dialog.request()
        finally:
            dialog.deleteLater()
