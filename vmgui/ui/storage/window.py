"""Host → Storage…: a host's pools and the selected pool's volumes, with their actions.

Everything goes through :mod:`vmgui.virt.pools` and :mod:`vmgui.virt.storage`; the tables are
re-read after every action (the host's answer, not a guess). Destructive actions confirm
first; a refusal (a volume in use, a pool whose volumes guests use) is shown with the guests'
names. Uploads and downloads show their progress and can be cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.pools import VOLUME_FORMATS, StoragePool, StorageVolume
from vmgui.core.units import format_bytes
from vmgui.core.validation import ValidationError, parse_size
from vmgui.ui.dialogs import Dialogs, exec_async
from vmgui.ui.hostwindow import HostResourceWindow
from vmgui.ui.shell import Shell
from vmgui.ui.storage.models import PoolModel, RowRole, VolumeModel
from vmgui.ui.widgets import RED_COLOR, muted_label, title_font
from vmgui.virt import pools as pool_service
from vmgui.virt.connection import HostConnection
from vmgui.virt.resourceevents import Kind
from vmgui.virt.storage import download_volume

#: Asks for a local file: (parent, save?) -> the path, or None when cancelled.
FileChooser = Callable[[QWidget, bool], Awaitable[Path | None]]


async def choose_file(parent: QWidget, save: bool) -> Path | None:
    """A window-modal file dialog (no nested event loop)."""
    dialog = QFileDialog(parent)
    if save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    try:
        if await exec_async(dialog) != 1 or not dialog.selectedFiles():
            return None
        return Path(dialog.selectedFiles()[0])
    finally:
        dialog.deleteLater()


def _table(model: PoolModel | VolumeModel, name: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setDefaultSectionSize(110)
    view.setColumnWidth(0, 300)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    return view


def _button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    return button


def _row(*widgets: QWidget | None) -> QHBoxLayout:
    """A row of widgets; None is a stretch."""
    row = QHBoxLayout()
    for widget in widgets:
        if widget is None:
            row.addStretch(1)
        else:
            row.addWidget(widget)
    return row


class StorageWindow(HostResourceWindow):
    """One host's storage (a top-level window; ``objectName`` ``storageWindow``).

    Args:
        host: the connected host.
        shell: notices and errors go through the main window.
        dialogs: confirmations.
        chooser: asks for local files (tests pass a fake).
        status: the hosts' status changes: the event watch is renewed after a reconnect.
    """

    def __init__(
        self,
        host: HostConnection,
        shell: Shell,
        dialogs: Dialogs,
        chooser: FileChooser = choose_file,
        parent: QWidget | None = None,
        *,
        status: SignalInstance | None = None,
    ) -> None:
        super().__init__(host, shell, Kind.POOLS, "storage task", parent, status=status)
        self.setObjectName("storageWindow")
        self.setWindowTitle(f"Storage — {host.display_name}")
        self.resize(980, 620)
        self._dialogs = dialogs
        self._chooser = chooser
        self._transfer: asyncio.Task[object] | None = None

        self.pools = PoolModel(self)
        self.volumes = VolumeModel(self)
        self.pool_view = _table(self.pools, "poolView")
        self.volume_view = _table(self.volumes, "volumeView")
        self.pool_view.selectionModel().currentRowChanged.connect(self._on_pool_row_changed)
        self.volume_view.selectionModel().currentRowChanged.connect(self._on_volume_row_changed)

        self.new_pool_name = QLineEdit()
        self.new_pool_name.setPlaceholderText("name")
        self.new_pool_path = QLineEdit()
        self.new_pool_path.setPlaceholderText("/var/lib/libvirt/images/NAME")
        self.create_pool_button = _button("Create Pool", "createPool")
        self.start_button = _button("Start", "startPool")
        self.stop_button = _button("Stop", "stopPool")
        self.refresh_button = _button("Refresh", "refreshPool")
        self.autostart_button = _button("Autostart", "autostartPool")
        self.autostart_button.setCheckable(True)
        self.delete_pool_button = _button("Delete…", "deletePool")

        self.new_volume_name = QLineEdit()
        self.new_volume_name.setPlaceholderText("name, e.g. data.qcow2")
        self.new_volume_size = QLineEdit()
        self.new_volume_size.setPlaceholderText("size, e.g. 10G")
        self.new_volume_format = QComboBox()
        self.new_volume_format.addItems(list(VOLUME_FORMATS))
        self.create_volume_button = _button("Create Volume", "createVolume")
        self.resize_size = QLineEdit()
        self.resize_size.setPlaceholderText("new size, e.g. 20G")
        self.resize_button = _button("Resize", "resizeVolume")
        self.delete_volume_button = _button("Delete…", "deleteVolume")
        self.upload_button = _button("Upload…", "uploadVolume")
        self.download_button = _button("Download…", "downloadVolume")
        self.progress = QProgressBar()
        self.progress.setObjectName("transferProgress")
        self.progress.setVisible(False)
        self.cancel_button = _button("Cancel", "cancelTransfer")
        self.cancel_button.setVisible(False)
        self.message = QLabel()
        self.message.setObjectName("storageMessage")
        self.message.setStyleSheet(f"color: {RED_COLOR};")
        self.details = muted_label()
        self.details.setWordWrap(True)
        self._layout()
        self._connect()
        self._update_buttons()

    # -- construction -------------------------------------------------------------------------

    def _layout(self) -> None:
        title = QLabel(f"Storage pools of {self.host.display_name}")
        title_font(title)
        pool_buttons = _row(
            self.start_button,
            self.stop_button,
            self.refresh_button,
            self.autostart_button,
            self.delete_pool_button,
            None,
            self.new_pool_name,
            self.new_pool_path,
            self.create_pool_button,
        )
        top = QWidget()
        top_column = QVBoxLayout(top)
        top_column.addWidget(title)
        top_column.addWidget(self.pool_view, 1)
        top_column.addLayout(pool_buttons)
        volume_buttons = _row(
            self.resize_size,
            self.resize_button,
            self.delete_volume_button,
            self.upload_button,
            self.download_button,
            self.progress,
            self.cancel_button,
            None,
        )
        create_row = _row(
            self.new_volume_name,
            self.new_volume_size,
            self.new_volume_format,
            self.create_volume_button,
            None,
        )
        bottom = QWidget()
        bottom_column = QVBoxLayout(bottom)
        bottom_column.addWidget(QLabel("Volumes"))
        bottom_column.addWidget(self.volume_view, 1)
        bottom_column.addWidget(self.details)
        bottom_column.addLayout(volume_buttons)
        bottom_column.addLayout(create_row)
        bottom_column.addWidget(self.message)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)

    def _connect(self) -> None:
        pairs: list[tuple[QPushButton, Callable[[], Awaitable[None]]]] = [
            (self.create_pool_button, self._create_pool),
            (self.start_button, lambda: self._pool_action(pool_service.start_pool, "started")),
            (self.stop_button, self._stop_pool),
            (
                self.refresh_button,
                lambda: self._pool_action(pool_service.refresh_pool, "refreshed"),
            ),
            (self.delete_pool_button, self._delete_pool),
            (self.create_volume_button, self._create_volume),
            (self.resize_button, self._resize_volume),
            (self.delete_volume_button, self._delete_volume),
        ]
        for button, job in pairs:
            button.clicked.connect(lambda _c=False, j=job: self._run(j))
        self.autostart_button.clicked.connect(self._on_autostart_button_clicked)
        self.upload_button.clicked.connect(self._on_upload_button_clicked)
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)

    # -- state ----------------------------------------------------------------------------------

    def selected_pool(self) -> StoragePool | None:
        """The pool whose volumes are shown, or None."""
        row = self.pool_view.currentIndex().data(RowRole)
        return row if isinstance(row, StoragePool) else None

    def selected_volume(self) -> StorageVolume | None:
        """The selected volume, or None."""
        row = self.volume_view.currentIndex().data(RowRole)
        return row if isinstance(row, StorageVolume) else None

    async def _reload(self) -> None:
        shown = self.selected_pool()
        name = shown.name if shown is not None else ""
        self.pools.set_rows(await pool_service.fetch_pools(self.host))
        if not self.pool_view.currentIndex().isValid() and self.pools.rowCount():
            names = [p.name for p in self.pools.rows]
            self.pool_view.selectRow(names.index(name) if name in names else 0)
        await self._reload_volumes()

    async def _reload_volumes(self) -> None:
        pool = self.selected_pool()
        if pool is None or not pool.active:
            self.volumes.set_rows([])
        else:
            self.volumes.set_rows(await pool_service.fetch_volumes(self.host, pool.name))
        self._update_buttons()

    def _update_buttons(self) -> None:
        pool, volume = self.selected_pool(), self.selected_volume()
        busy = self._transfer is not None
        self.start_button.setEnabled(pool is not None and not pool.active)
        self.stop_button.setEnabled(pool is not None and pool.active)
        self.refresh_button.setEnabled(pool is not None and pool.active)
        self.autostart_button.setEnabled(pool is not None and pool.persistent)
        self.autostart_button.setChecked(pool is not None and pool.autostart)
        self.delete_pool_button.setEnabled(pool is not None)
        self.create_volume_button.setEnabled(pool is not None and pool.active)
        self.upload_button.setEnabled(pool is not None and pool.active and not busy)
        for button in (self.resize_button, self.delete_volume_button):
            button.setEnabled(volume is not None)
        self.download_button.setEnabled(volume is not None and not busy)
        if volume is None:
            self.details.setText("")
        else:
            chain = " ← ".join((volume.path, *volume.backing_chain))
            users = ", ".join(volume.used_by) or "no guest"
            self.details.setText(f"{chain} — used by {users}")

    # -- running jobs ---------------------------------------------------------------------------

    async def _pool_action(
        self, action: Callable[[HostConnection, str], Awaitable[StoragePool]], done: str
    ) -> None:
        pool = self.selected_pool()
        if pool is not None:
            await action(self.host, pool.name)
            self._shell.notify(f"Pool {pool.name} {done}")

    async def _refresh_pool(self) -> None:
        await self._pool_action(pool_service.refresh_pool, "refreshed")

    async def _stop_pool(self) -> None:
        await self._pool_action(pool_service.stop_pool, "stopped")

    async def _create_pool(self) -> None:
        name = self.new_pool_name.text().strip()
        path = self.new_pool_path.text().strip() or f"/var/lib/libvirt/images/{name}"
        made = await pool_service.create_dir_pool(self.host, name, path)
        self.new_pool_name.clear()
        self.new_pool_path.clear()
        self._shell.notify(f"Pool {made.name} created at {made.path}")

    async def _delete_pool(self) -> None:
        pool = self.selected_pool()
        if pool is None or not await self._dialogs.confirm(
            self,
            "Delete pool",
            f"Delete pool {pool.name}? libvirt forgets it; its directory {pool.path} and the "
            "files in it stay.",
            "Delete",
        ):
            return
        await pool_service.delete_pool(self.host, pool.name)
        self.pool_view.clearSelection()
        self.pool_view.setCurrentIndex(QModelIndex())
        self._shell.notify(f"Pool {pool.name} deleted")

    async def _create_volume(self) -> None:
        pool = self.selected_pool()
        if pool is None:
            return
        size = self._size(self.new_volume_size.text(), "Size")
        name = self.new_volume_name.text().strip()
        fmt = self.new_volume_format.currentText()
        await pool_service.create_volume(self.host, pool.name, name, size, fmt)
        self.new_volume_name.clear()
        self._shell.notify(f"Volume {name} ({format_bytes(size)}, {fmt}) created")

    async def _resize_volume(self) -> None:
        volume = self.selected_volume()
        if volume is None:
            return
        size = self._size(self.resize_size.text(), "New size")
        await pool_service.resize_volume(self.host, volume.pool, volume.name, size)
        self._shell.notify(f"Volume {volume.name} is now {format_bytes(size)}")

    async def _delete_volume(self) -> None:
        volume = self.selected_volume()
        if volume is None or not await self._dialogs.confirm(
            self, "Delete volume", f"Delete volume {volume.name} and its data?", "Delete"
        ):
            return
        await pool_service.delete_volume(self.host, volume.pool, volume.name)
        self._shell.notify(f"Volume {volume.name} deleted")

    def _size(self, text: str, field: str) -> int:
        try:
            return parse_size(text, "GiB", field)
        except ValidationError as exc:
            raise VmguiError(f"{field} is not valid", exc.message) from exc

    # -- transfers ------------------------------------------------------------------------------

    def _on_upload_button_clicked(self) -> None:
        self.tasks.spawn(self._upload())

    def _on_download_button_clicked(self) -> None:
        self.tasks.spawn(self._download())

    def _on_cancel_button_clicked(self) -> None:
        if self._transfer is not None:
            self._transfer.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(round(1000 * done / total) if total else 0)
        self.progress.setFormat(f"{format_bytes(done)} of {format_bytes(total)}")

    async def _transferring(self, job: Awaitable[object], what: str) -> None:
        self._transfer = asyncio.ensure_future(job)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress.setValue(0)
        self._update_buttons()
        try:
            await self._transfer
            self._shell.notify(f"{what}: done")
        except asyncio.CancelledError:
            self._shell.notify(f"{what}: cancelled")
        finally:
            self._transfer = None
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            await self._reload()

    async def _upload(self) -> None:
        pool = self.selected_pool()
        if pool is None:
            return
        source = await self._chooser(self, False)
        if source is None:
            return
        job = pool_service.upload_volume(
            self.host, pool.name, source.name, source, self._on_progress
        )
        await self._transferring(job, f"Upload of {source.name}")

    async def _download(self) -> None:
        volume = self.selected_volume()
        if volume is None:
            return
        dest = await self._chooser(self, True)
        if dest is None:
            return
        job = download_volume(self.host, volume.path, dest, self._on_progress)
        await self._transferring(job, f"Download of {volume.name}")

    # -- slots ------------------------------------------------------------------------------------

    def _on_pool_row_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self.tasks.spawn(self._reload_volumes())

    def _on_volume_row_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()

    def _on_autostart_button_clicked(self, checked: bool) -> None:
        pool = self.selected_pool()
        if pool is None:
            return

        async def job() -> None:
            await pool_service.set_pool_autostart(self.host, pool.name, checked)

        self._run(job)
