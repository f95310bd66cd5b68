"""The Snapshots tab: one guest's snapshots as a tree, and create / revert / delete.

* :class:`SnapshotsPane` shows a :class:`~vmgui.virt.snapshots.SnapshotList` and says, beside
  each disabled button, why it is disabled (the rules of :mod:`vmgui.core.snapshots`: raw
  disks, external snapshots on libvirt 9.0, running UEFI guests). It never talks to libvirt.
* :class:`SnapshotsPresenter` follows the one selected guest, fetches its snapshots and runs
  the pane's requests after asking (a disk-only snapshot of a running guest says it cannot be
  reverted; a revert offers to snapshot the current state first).
"""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.core.snapshots import (
    DISK_ONLY_WARNING,
    SnapshotInfo,
    SnapshotNode,
    delete_refusal,
    descendants,
    version_text,
)
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.mobility.dialogs import MobilityDialogs, RevertChoice
from vmgui.ui.shell import Shell
from vmgui.ui.widgets import muted_label
from vmgui.virt.snapshots import (
    SnapshotList,
    create_snapshot,
    default_snapshot_name,
    delete_snapshot,
    list_snapshots,
    revert_snapshot,
)

FETCH_DELAY_MS = 150
NO_GUEST = "Select one guest to see its snapshots."
NO_SNAPSHOT = "Select a snapshot first."


class SnapshotsPane(QWidget):
    """A guest's snapshot tree and its buttons.

    Signals:
        createRequested(): Create… was pressed.
        revertRequested(str): Revert… was pressed on this snapshot.
        deleteRequested(str, bool): Delete… was pressed on this snapshot (with its children?).
    """

    createRequested = Signal()
    revertRequested = Signal(str)
    deleteRequested = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("snapshotsPane")
        self.listing: SnapshotList | None = None
        layout = QVBoxLayout(self)
        self.title = QLabel(NO_GUEST)
        self.title.setObjectName("snapshotTitle")
        self.tree = QTreeWidget()
        self.tree.setObjectName("snapshotTree")
        self.tree.setHeaderLabels(["Name", "Created", "Kind", "State", "Description"])
        self.tree.setRootIsDecorated(True)
        self.create_button = QPushButton("&Create…")
        self.create_button.setObjectName("snapshotCreateButton")
        self.revert_button = QPushButton("&Revert…")
        self.revert_button.setObjectName("snapshotRevertButton")
        self.delete_button = QPushButton("De&lete…")
        self.delete_button.setObjectName("snapshotDeleteButton")
        self.with_children = QCheckBox("with its children")
        self.with_children.setObjectName("snapshotWithChildren")
        row = QHBoxLayout()
        for widget in (self.create_button, self.revert_button, self.delete_button):
            row.addWidget(widget)
        row.addWidget(self.with_children)
        row.addStretch(1)
        self.reason = muted_label()
        self.reason.setObjectName("snapshotReason")
        layout.addWidget(self.title)
        layout.addWidget(self.tree, 1)
        layout.addLayout(row)
        layout.addWidget(self.reason)
        self.create_button.clicked.connect(self._on_create_button_clicked)
        self.revert_button.clicked.connect(self._on_revert_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        self.with_children.toggled.connect(self._on_with_children_toggled)
        self.show_message(NO_GUEST)

    # -- what the presenter shows ----------------------------------------------------------

    def show_message(self, text: str) -> None:
        """No listing: a line of text, every button off."""
        self.listing = None
        self.tree.clear()
        self.title.setText(text)
        self._update_buttons()

    def show_listing(self, listing: SnapshotList) -> None:
        """Show a guest's snapshots (the current one in bold, keeping the selection)."""
        chosen = self.selected_name()
        self.listing = listing
        self.tree.clear()
        count = len(listing.snapshots)
        self.title.setText(
            f"{listing.guest}: {count} snapshot{'s' if count != 1 else ''}"
            + ("" if count else " — Create… takes one")
        )
        for node in listing.tree:
            self.tree.addTopLevelItem(self._item(node))
        self.tree.expandAll()
        for column in range(4):
            self.tree.resizeColumnToContents(column)
        if chosen:
            for item in self._items():
                if item.data(0, Qt.ItemDataRole.UserRole) == chosen:
                    self.tree.setCurrentItem(item)
        self._update_buttons()

    def selected_name(self) -> str:
        """The selected snapshot's name ("" for none)."""
        item = self.tree.currentItem()
        return str(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else ""

    def _item(self, node: SnapshotNode) -> QTreeWidgetItem:
        s = node.snapshot
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)) if s.created else ""
        state = f"{s.state}, {'with memory' if s.has_memory else 'disk only'}"
        name = f"{s.name} (current)" if s.current else s.name
        item = QTreeWidgetItem([name, when, s.kind, state, s.description])
        item.setData(0, Qt.ItemDataRole.UserRole, s.name)
        item.setToolTip(0, s.revert_refusal or s.name)
        if s.current:
            font = item.font(0)
            font.setBold(True)
            item.setFont(0, font)
        for child in node.children:
            item.addChild(self._item(child))
        return item

    def _items(self) -> list[QTreeWidgetItem]:
        found: list[QTreeWidgetItem] = []
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop()
            if item is None:
                continue
            found.append(item)
            stack.extend(item.child(i) for i in range(item.childCount()))
        return found

    def _selected(self) -> SnapshotInfo | None:
        name = self.selected_name()
        return self.listing.find(name) if self.listing is not None and name else None

    # -- buttons and their reasons -------------------------------------------------------------

    def reasons(self) -> dict[str, str]:
        """Why each button is off ("" when it is on): keys create, revert, delete."""
        listing = self.listing
        if listing is None:
            return {"create": NO_GUEST, "revert": NO_GUEST, "delete": NO_GUEST}
        create = listing.create_refusal
        if create and listing.active and not listing.disk_only_refusal:
            create = ""  # a disk-only snapshot is still possible (the dialog offers it)
        snap = self._selected()
        if snap is None:
            return {"create": create, "revert": NO_SNAPSHOT, "delete": NO_SNAPSHOT}
        delete = delete_refusal(
            listing.snapshots, snap.name, with_children=self.with_children.isChecked()
        )
        return {"create": create, "revert": snap.revert_refusal, "delete": delete}

    def _update_buttons(self) -> None:
        reasons = self.reasons()
        for key, button in (
            ("create", self.create_button),
            ("revert", self.revert_button),
            ("delete", self.delete_button),
        ):
            button.setEnabled(not reasons[key])
            button.setToolTip(reasons[key])
        shown = [r for r in dict.fromkeys(reasons.values()) if r and r not in (NO_GUEST,)]
        self.reason.setText(" ".join(shown))

    def _on_tree_current_item_changed(
        self, _current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        self._update_buttons()

    def _on_with_children_toggled(self, _checked: bool) -> None:
        self._update_buttons()

    def _on_create_button_clicked(self) -> None:
        self.createRequested.emit()

    def _on_revert_button_clicked(self) -> None:
        if name := self.selected_name():
            self.revertRequested.emit(name)

    def _on_delete_button_clicked(self) -> None:
        if name := self.selected_name():
            self.deleteRequested.emit(name, self.with_children.isChecked())


class SnapshotsPresenter(QObject):
    """Keeps a :class:`SnapshotsPane` on the selected guest and runs what it asks for.

    Args:
        pane: the pane.
        shell: the window (owns the tasks, shows failures).
        controller: the hosts.
        dialogs: the window's confirmations.
        questions: mobility's questions (the snapshot's name, how to revert).
    """

    def __init__(
        self,
        pane: SnapshotsPane,
        shell: Shell,
        controller: HostController,
        dialogs: Dialogs,
        questions: MobilityDialogs,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._pane = pane
        self._shell = shell
        self._controller = controller
        self._dialogs = dialogs
        self._questions = questions
        self._guest: GuestInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        pane.createRequested.connect(self._on_pane_create_requested)
        pane.revertRequested.connect(self._on_pane_revert_requested)
        pane.deleteRequested.connect(self._on_pane_delete_requested)
        controller.guestChanged.connect(self._on_controller_guest_changed)

    def show(self, guest: GuestInfo | None) -> None:
        """Follow ``guest`` (None: no single guest is selected)."""
        if guest is None:
            self._guest = None
            self._timer.stop()
            self._pane.show_message(NO_GUEST)
            return
        if self._guest is None or self._guest.key != guest.key:
            self._guest = guest
            self._pane.show_message(f"{guest.name}: reading its snapshots…")
            self._timer.start(0)

    def refresh(self) -> None:
        """Read the shown guest's snapshots again now."""
        self._timer.start(0)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        if self._guest is not None and self._guest.key == guest.key:
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
            listing = await list_snapshots(self._controller.host(guest.host_uri), guest.uuid)
        except VmguiError as exc:
            if self._guest is not None and self._guest.key == guest.key:
                self._pane.show_message(f"{exc.summary}: {exc.details}")
            return
        except KeyError:
            return
        if self._guest is not None and self._guest.key == guest.key:
            self._pane.show_listing(listing)

    # -- requests ---------------------------------------------------------------------------

    def _on_pane_create_requested(self) -> None:
        if self._guest is not None and self._pane.listing is not None:
            self._shell.spawn(self._create(self._guest, self._pane.listing))

    def _on_pane_revert_requested(self, name: str) -> None:
        if self._guest is not None:
            self._shell.spawn(self._revert(self._guest, name))

    def _on_pane_delete_requested(self, name: str, with_children: bool) -> None:
        if self._guest is not None and self._pane.listing is not None:
            self._shell.spawn(self._delete(self._guest, self._pane.listing, name, with_children))

    async def _create(self, guest: GuestInfo, listing: SnapshotList) -> None:
        note = ""
        if listing.active and not listing.disk_only_refusal:
            note = DISK_ONLY_WARNING.format(version=version_text(listing.libvirt_version))
        parent = self._shell.dialog_parent
        request = await self._questions.ask_snapshot(
            parent, guest.name, default_snapshot_name(), note
        )
        if request is None:
            return
        if request.disk_only and listing.active:
            ok = await self._dialogs.confirm(
                parent, "Disk-only snapshot", note, "Create a disk-only snapshot"
            )
            if not ok:
                return
        host = self._controller.host(guest.host_uri)
        made = await create_snapshot(
            host, guest.uuid, request.name, request.description, disk_only=request.disk_only
        )
        self._shell.notify(f"{guest.name}: snapshot {made.name} created")
        self.refresh()

    async def _revert(self, guest: GuestInfo, name: str) -> None:
        choice = await self._questions.ask_revert(self._shell.dialog_parent, guest.name, name)
        if choice is None:
            return
        host = self._controller.host(guest.host_uri)
        if choice is RevertChoice.SNAPSHOT_FIRST:
            saved = await create_snapshot(host, guest.uuid, default_snapshot_name())
            self._shell.notify(f"{guest.name}: current state kept as {saved.name}")
        await revert_snapshot(host, guest.uuid, name)
        self._shell.notify(f"{guest.name}: reverted to {name}")
        self.refresh()

    async def _delete(
        self, guest: GuestInfo, listing: SnapshotList, name: str, with_children: bool
    ) -> None:
        below = descendants(listing.snapshots, name) if with_children else ()
        what = name + (f" and {len(below)} snapshots below it" if below else "")
        if not await self._dialogs.confirm(
            self._shell.dialog_parent,
            "Delete snapshot",
            f"Delete {what} of {guest.name}? The guest's current state is kept.",
            "Delete",
        ):
            return
        host = self._controller.host(guest.host_uri)
        gone = await delete_snapshot(host, guest.uuid, name, with_children=with_children)
        self._shell.notify(f"{guest.name}: deleted {', '.join(gone)}")
        self.refresh()
