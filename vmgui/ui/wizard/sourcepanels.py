"""The source page's panels: the image catalog, a local file, a host volume, a template.

Each panel loads what it lists off the Qt thread (files on a thread, libvirt through the
context's host fetches), says when it holds a usable choice, and writes it into the state.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QStyle,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.catalog import CatalogEntry
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestState
from vmgui.core.units import format_bytes, format_kib, plural
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import MessageLabel, make_tree
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.state import SourceKind, WizardState
from vmgui.virt.hostchoices import TemplateChoice, VolumeChoice

_DATA_ROLE = Qt.ItemDataRole.UserRole + 1


class SourcePanel(QWidget):
    """A panel of the source page.

    Signals:
        changed(): the choice or its validity changed.
    """

    changed = Signal()

    def __init__(self, ctx: WizardContext, name: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName(name)
        self.message = MessageLabel(f"{name}Message")
        self._loaded_for = ""

    def activate(self) -> None:
        """The panel is shown for the chosen host: (re)load what it lists when needed."""
        if self._loaded_for != self.ctx.state.uri:
            self._loaded_for = self.ctx.state.uri
            self.ctx.spawn(self.load())

    async def load(self) -> None:
        """Fill the panel (off the Qt thread)."""

    def is_ready(self) -> bool:
        """Whether the panel holds a usable choice."""
        return False

    def apply(self, state: WizardState) -> None:
        """Write the choice into ``state``."""


class _TreePanel(SourcePanel):
    """A panel that is a list of choices (disabled rows cannot be chosen)."""

    def __init__(
        self, ctx: WizardContext, name: str, list_name: str, headers: list[str], note: str
    ) -> None:
        super().__init__(ctx, name)
        self.tree = make_tree(list_name, headers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)
        if note:
            layout.addWidget(muted_label(note))
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)

    def chosen(self) -> object | None:
        """The data of the selected, enabled row."""
        item = self.tree.currentItem()
        if item is None or item.isDisabled():
            return None
        data: object = item.data(0, _DATA_ROLE)
        return data

    def is_ready(self) -> bool:
        """A row is chosen."""
        return self.chosen() is not None

    def _add(self, cells: list[str], data: object, disabled_reason: str = "") -> QTreeWidgetItem:
        item = QTreeWidgetItem(cells)
        item.setData(0, _DATA_ROLE, data)
        if disabled_reason:
            item.setDisabled(True)
            for column in range(len(cells)):
                item.setToolTip(column, disabled_reason)
        self.tree.addTopLevelItem(item)
        return item

    def _select_first(self, preferred: object = None) -> None:
        first: QTreeWidgetItem | None = None
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item is None or item.isDisabled():
                continue
            if first is None or item.data(0, _DATA_ROLE) == preferred:
                first = item
        if first is not None:
            self.tree.setCurrentItem(first)

    def _loading(self, text: str) -> None:
        self.tree.clear()
        self.message.show_note(text)
        self.changed.emit()

    def _on_tree_current_item_changed(
        self, _current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        self.changed.emit()


class CatalogPanel(_TreePanel):
    """The image catalog: names, default sizes, and which images are already downloaded."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx,
            "catalogPanel",
            "catalogList",
            ["Image", "Defaults", "Status"],
            "Images are downloaded once, verified by checksum and cached for later guests.",
        )
        self._loaded = False

    def activate(self) -> None:
        """Load the catalog once (it does not depend on the host)."""
        if not self._loaded:
            self._loaded = True
            self.ctx.spawn(self.load())

    async def load(self) -> None:
        """Read the catalog and the cache on a thread."""
        self._loading("Reading the image catalog…")
        try:
            entries = await self.ctx.catalog()
        except VmguiError as exc:
            self.message.show_error(f"{exc.summary}: {exc.details}")
            self._loaded = False
            return
        style = self.style()
        done_icon = style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton)
        for entry, cached in entries:
            status = "Downloaded" if cached else "Downloads when created"
            if entry.path:
                status = "Local file" if cached else "File missing"
            item = self._add(
                [entry.name, _defaults_text(entry.vcpus, entry.memory_mib, entry.disk_gib), status],
                entry,
                "" if cached or not entry.path else f"{entry.path} does not exist",
            )
            item.setToolTip(0, entry.url or entry.path)
            if cached:
                item.setIcon(2, done_icon)
        self.message.clear_message()
        self._select_first(self.ctx.state.entry)
        self.changed.emit()

    def apply(self, state: WizardState) -> None:
        """Choose the selected catalog entry."""
        entry = self.chosen()
        state.entry = entry if isinstance(entry, CatalogEntry) else None


def _defaults_text(vcpus: int, memory_mib: int, disk_gib: int) -> str:
    memory = format_kib(memory_mib * 1024)
    return f"{plural(vcpus, 'vCPU')} · {memory} RAM · {disk_gib} GiB disk"


class VolumePanel(_TreePanel):
    """A volume already on the host, used as the guest's disk (never copied or deleted)."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx,
            "volumePanel",
            "volumeList",
            ["Volume", "Size", "Format", "Used by"],
            "The guest boots from this volume as it is. Volumes other guests use, and ISO "
            "images, cannot be imported.",
        )

    async def load(self) -> None:
        """List the host's volumes (on its worker)."""
        self._loading(f"Listing the volumes of {self.ctx.host_label()}…")
        try:
            volumes = await self.ctx.volumes()
        except VmguiError as exc:
            self.message.show_error(f"{exc.summary}: {exc.details}")
            self._loaded_for = ""
            return
        usable_first = sorted(volumes, key=lambda v: bool(v.used_by) or v.format == "iso")
        for vol in usable_first:
            reason = ""
            if vol.used_by:
                reason = f"In use by {', '.join(vol.used_by)}"
            elif vol.format == "iso":
                reason = f"An ISO image: choose “{SourceKind.ISO.label}” instead"
            self._add(
                [
                    f"{vol.pool}/{vol.name}",
                    format_bytes(vol.capacity),
                    vol.format or "?",
                    _users_text(vol.used_by),
                ],
                vol,
                reason,
            )
        if volumes:
            self.message.clear_message()
        else:
            self.message.show_note("This host has no volumes in active pools.")
        current = self.ctx.state.volume
        self._select_first(current)
        self.changed.emit()

    def apply(self, state: WizardState) -> None:
        """Choose the selected volume."""
        volume = self.chosen()
        state.volume = volume if isinstance(volume, VolumeChoice) else None


def _users_text(users: tuple[str, ...]) -> str:
    if not users:
        return "—"
    return users[0] if len(users) == 1 else f"{users[0]} +{len(users) - 1}"


class TemplatePanel(_TreePanel):
    """A guest marked as a template; the new guest is a linked clone of it."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx,
            "templatePanel",
            "templateList",
            ["Template", "State", "Size", "OS"],
            "A linked clone shares the template's disks read-only (copy-on-write): it is "
            "made in seconds, whatever the disks' size.",
        )
        self.preferred = ""

    async def load(self) -> None:
        """List the host's templates (on its worker)."""
        self._loading(f"Looking for templates on {self.ctx.host_label()}…")
        try:
            templates = await self.ctx.templates()
        except VmguiError as exc:
            self.message.show_error(f"{exc.summary}: {exc.details}")
            self._loaded_for = ""
            return
        for tpl in templates:
            reason = ""
            if tpl.state is not GuestState.SHUTOFF:
                reason = f"{tpl.name} is {tpl.state.label}: shut it down to clone it"
            elif not tpl.disks:
                reason = f"{tpl.name} has no writable disk to clone"
            size = f"{plural(tpl.vcpus, 'vCPU')} · {format_kib(tpl.memory_kib)}"
            self._add([tpl.name, tpl.state.label, size, tpl.os_name or "—"], tpl, reason)
        if templates:
            self.message.clear_message()
        else:
            self.message.show_note(
                "No guest on this host is marked as a template. In the main window, select a "
                "shut-off guest and choose Guest → Mark as Template."
            )
        current = self.ctx.state.template
        wanted = current.uuid if current is not None else self.preferred
        self._select_first(next((t for t in templates if t.uuid == wanted), None))
        self.changed.emit()

    def apply(self, state: WizardState) -> None:
        """Choose the selected template."""
        template = self.chosen()
        state.template = template if isinstance(template, TemplateChoice) else None
