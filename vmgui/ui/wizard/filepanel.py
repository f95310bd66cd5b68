"""The source page's file panel: a local disk image or installer ISO, read from its header.

The header is read on a thread (no disk I/O on the Qt thread); a file that is not a disk image,
or not of the kind asked for, gets a message that says what it is and what to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from vmgui.core.catalog import ImageFormat, ImageInfo, read_image_info
from vmgui.core.errors import VmguiError
from vmgui.core.units import format_bytes
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.sourcepanels import SourcePanel
from vmgui.ui.wizard.state import SourceKind, WizardState


class LocalFilePanel(SourcePanel):
    """A local disk image (qcow2, raw) or installer ISO, detected from its header.

    Args:
        ctx: the wizard's shared state.
        iso: True to ask for an installer ISO, False for a disk image.
    """

    def __init__(self, ctx: WizardContext, iso: bool) -> None:
        super().__init__(ctx, "isoPanel" if iso else "localPanel")
        self.iso = iso
        self.info: ImageInfo | None = None
        self._checked = ""
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("isoPath" if iso else "imagePath")
        self.path_edit.setClearButtonEnabled(True)
        self.path_edit.setPlaceholderText(
            "/path/to/installer.iso" if iso else "/path/to/image.qcow2"
        )
        self.browse_button = QPushButton("Browse…")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.hide()
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        what = (
            "The guest gets a blank disk and boots the installer from this ISO."
            if iso
            else "A qcow2 or raw disk image (e.g. a cloud image). It is uploaded to the host "
            "once and each guest gets a copy-on-write overlay of it."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(muted_label(what))
        layout.addLayout(row)
        layout.addWidget(self.details)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.path_edit.editingFinished.connect(self._on_path_edit_editing_finished)
        self.path_edit.textEdited.connect(self._on_path_edit_text_edited)

    def activate(self) -> None:
        """Nothing to load: the file is read when it is chosen."""

    def choose(self, path: str) -> None:
        """Use ``path`` (as if typed) and read its header."""
        self.path_edit.setText(path)
        self._check()

    def is_ready(self) -> bool:
        """A file of the right kind is chosen."""
        return self.info is not None and self._checked == self.path_edit.text().strip()

    def apply(self, state: WizardState) -> None:
        """Choose the file."""
        state.image = self.info

    def _on_browse_button_clicked(self) -> None:
        dialog = QFileDialog(self, "Choose an ISO image" if self.iso else "Choose a disk image")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if self.iso:
            dialog.setNameFilters(["ISO images (*.iso)", "All files (*)"])
        else:
            dialog.setNameFilters(
                ["Disk images (*.qcow2 *.img *.raw)", "ISO images (*.iso)", "All files (*)"]
            )
        dialog.fileSelected.connect(self._on_file_dialog_file_selected)
        dialog.open()

    def _on_file_dialog_file_selected(self, path: str) -> None:
        self.choose(path)

    def _on_path_edit_editing_finished(self) -> None:
        if self.path_edit.text().strip() != self._checked:
            self._check()

    def _on_path_edit_text_edited(self, _text: str) -> None:
        self.info = None
        self.details.hide()
        self.message.clear_message()
        self.changed.emit()

    def _check(self) -> None:
        text = self.path_edit.text().strip()
        self.info = None
        self._checked = text
        self.details.hide()
        if not text:
            self.message.clear_message()
            self.changed.emit()
            return
        self.message.show_note("Reading the file…")
        self.changed.emit()
        self.ctx.spawn(self._read(Path(text).expanduser()))

    async def _read(self, path: Path) -> None:
        try:
            info = await asyncio.to_thread(read_image_info, path)
        except VmguiError as exc:
            if self._checked == self.path_edit.text().strip():
                text = exc.summary + (f": {exc.details}." if exc.details else ".")
                self.message.show_error(f"{text} {exc.hint}".strip())
                self.changed.emit()
            return
        if self._checked != self.path_edit.text().strip():
            return  # the user typed on
        error = self._kind_error(info)
        if error:
            self.message.show_error(error)
        else:
            self.info = info
            self.message.clear_message()
            self.details.setText(_image_text(info))
            self.details.show()
        self.changed.emit()

    def _kind_error(self, info: ImageInfo) -> str:
        if info.backing_file:
            return (
                f"{info.path.name} depends on a backing file. Flatten it first: "
                "qemu-img convert -O qcow2 in.qcow2 out.qcow2."
            )
        is_iso = info.format is ImageFormat.ISO
        if self.iso and not is_iso:
            return (
                f"{info.path.name} is a {info.format.value} disk image, not an installer ISO. "
                f"Choose “{SourceKind.LOCAL.label}” for it."
            )
        if not self.iso and is_iso:
            return (
                f"{info.path.name} is an ISO image. Choose “{SourceKind.ISO.label}” to install "
                "from it."
            )
        return ""


def _image_text(info: ImageInfo) -> str:
    if info.format is ImageFormat.ISO:
        return f"ISO 9660 image · {format_bytes(info.file_size)}"
    return (
        f"{info.format.value} disk image · {format_bytes(info.virtual_size)} virtual disk · "
        f"{format_bytes(info.file_size)} file"
    )
