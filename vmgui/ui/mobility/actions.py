"""Guest → Clone…, Export…, Migrate… and File → Import…: the actions, when each is possible
(its tooltip says why not), and the jobs they run with a progress window and Cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, GuestInfo, GuestState
from vmgui.core.provisioning import ProgressCallback, ProvisionResult
from vmgui.ui.controller import HostController
from vmgui.ui.mobility.dialogs import Destination, MobilityDialogs
from vmgui.ui.mobility.jobs import JobDialog, run_with_progress
from vmgui.ui.mobility.leftovers import LeftoverWatch
from vmgui.ui.shell import Selection, Shell
from vmgui.virt.clone import clone_guest
from vmgui.virt.export import export_guest
from vmgui.virt.importer import import_guest
from vmgui.virt.migrate import move_guest
from vmgui.virt.movefacts import check_move


def _make(parent: QWidget, name: str, text: str, tip: str) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(name)
    action.setStatusTip(tip)
    action.setEnabled(False)
    return action


class MobilityActions(QObject):
    """The mobility actions and their jobs.

    Args:
        selection: the window's selection.
        shell: the window.
        controller: the hosts.
        questions: the dialogs that ask what to do.
        on_made: called with (host URI, UUID) of a guest a job made (to reveal it).
        job_dialog: builds the progress window (tests pass a recording one).
    """

    def __init__(
        self,
        selection: Selection,
        shell: Shell,
        controller: HostController,
        questions: MobilityDialogs,
        parent_widget: QWidget,
        *,
        on_made: Callable[[str, str], bool] | None = None,
        job_dialog: Callable[[str, QWidget], JobDialog] = JobDialog,
    ) -> None:
        super().__init__(parent_widget)
        self._selection = selection
        self._shell = shell
        self._controller = controller
        self._questions = questions
        self._on_made = on_made
        self._pending: tuple[str, str] | None = None
        self._job_dialog = job_dialog
        w = parent_widget
        self.clone = _make(w, "actionCloneGuest", "&Clone…", "Copy the selected shut-off guest")
        self.export = _make(
            w, "actionExportGuest", "E&xport…", "Write the selected shut-off guest to one file"
        )
        self.migrate = _make(
            w, "actionMigrateGuest", "&Migrate…", "Move the selected guest to another host"
        )
        self.import_ = _make(
            w, "actionImportGuest", "&Import Guest…", "Make a guest from a .vmgui file"
        )
        #: Offers to remove what interrupted jobs left on a host when it connects.
        self.leftovers = LeftoverWatch(controller, shell, self)
        self.clone.triggered.connect(self._on_clone_triggered)
        self.export.triggered.connect(self._on_export_triggered)
        self.migrate.triggered.connect(self._on_migrate_triggered)
        self.import_.triggered.connect(self._on_import_triggered)
        selection.changed.connect(self._on_selection_changed)
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        self._on_selection_changed()

    def guest_actions(self) -> list[QAction]:
        """The actions on the selected guest, in menu order."""
        return [self.clone, self.export, self.migrate]

    # -- enabled, with the reason ------------------------------------------------------------

    def reasons(self) -> dict[str, str]:
        """Why each action is off ("" when on): keys clone, export, migrate, import."""
        guests = self._selection.guests()
        connected = [
            u
            for u in self._controller.uris()
            if self._controller.host(u).state is ConnectionState.CONNECTED
        ]
        imp = "" if connected else "Connect a host first."
        if len(guests) != 1:
            one = "Select one guest."
            return {"clone": one, "export": one, "migrate": one, "import": imp}
        guest = guests[0]
        off = (
            ""
            if guest.state is GuestState.SHUTOFF
            else f"{guest.name} is {guest.state.label}: shut it down first."
        )
        others = [u for u in connected if u != guest.host_uri]
        migrate = "" if others else "Connect another host to move the guest to."
        if guest.state not in (GuestState.SHUTOFF, GuestState.RUNNING, GuestState.PAUSED):
            migrate = f"{guest.name} is {guest.state.label}."
        return {"clone": off, "export": off, "migrate": migrate, "import": imp}

    def _on_selection_changed(self) -> None:
        reasons = self.reasons()
        for key, action in (
            ("clone", self.clone),
            ("export", self.export),
            ("migrate", self.migrate),
            ("import", self.import_),
        ):
            action.setEnabled(not reasons[key])
            action.setToolTip(reasons[key] or action.statusTip())

    def _on_controller_status_changed(self, _status: object) -> None:
        self._on_selection_changed()

    def _guest(self) -> GuestInfo | None:
        guests = self._selection.guests()
        return guests[0] if len(guests) == 1 else None

    # -- jobs ---------------------------------------------------------------------------------

    def _on_clone_triggered(self) -> None:
        if guest := self._guest():
            self._shell.spawn(self._clone(guest))

    def _on_export_triggered(self) -> None:
        if guest := self._guest():
            self._shell.spawn(self._export(guest))

    def _on_migrate_triggered(self) -> None:
        if guest := self._guest():
            self._shell.spawn(self._migrate(guest))

    def _on_import_triggered(self) -> None:
        self._shell.spawn(self._import())

    async def _clone(self, guest: GuestInfo) -> None:
        parent = self._shell.dialog_parent
        answer = await self._questions.ask_clone(parent, guest.name, f"{guest.name}-clone")
        if answer is None:
            return
        name, linked = answer
        host = self._controller.host(guest.host_uri)

        def job(progress: ProgressCallback) -> Awaitable[ProvisionResult]:
            return clone_guest(host, guest.uuid, name, linked=linked, progress=progress)

        result = await run_with_progress(parent, f"Cloning {guest.name}", job, self._job_dialog)
        if result is not None:
            self._shell.notify(f"{result.name} cloned from {guest.name}")
            self._made(result.host_uri, result.uuid)

    async def _export(self, guest: GuestInfo) -> None:
        parent = self._shell.dialog_parent
        path = await self._questions.ask_export_path(parent, guest.name)
        if path is None:
            return
        host = self._controller.host(guest.host_uri)
        result = await run_with_progress(
            parent,
            f"Exporting {guest.name}",
            lambda progress: export_guest(host, guest.uuid, path, progress=progress),
            self._job_dialog,
        )
        if result is not None:
            self._shell.notify(f"{guest.name} exported to {result.path}")

    async def _import(self) -> None:
        parent = self._shell.dialog_parent
        hosts = [
            (u, self._controller.label(u))
            for u in self._controller.uris()
            if self._controller.host(u).state is ConnectionState.CONNECTED
        ]
        request = await self._questions.ask_import(parent, hosts)
        if request is None:
            return
        host = self._controller.host(request.uri)
        result = await run_with_progress(
            parent,
            f"Importing {request.path.name}",
            lambda progress: import_guest(
                host,
                request.path,
                name=request.name,
                pool=request.pool,
                start=request.start,
                progress=progress,
            ),
            self._job_dialog,
        )
        if result is not None:
            self._shell.notify(f"{result.name} imported on {host.display_name}")
            self._made(result.host_uri, result.uuid)

    async def destinations(self, guest: GuestInfo) -> list[Destination]:
        """Every other host, each with the reason it cannot take ``guest`` ("" if it can)."""
        src = self._controller.host(guest.host_uri)
        found = []
        for uri in self._controller.uris():
            if uri == guest.host_uri:
                continue
            dst = self._controller.host(uri)
            reason = ""
            if dst.state is not ConnectionState.CONNECTED:
                reason = "not connected"
            else:
                try:
                    await check_move(src, dst, guest.uuid, network_map={}, fallback_pool="default")
                except VmguiError as exc:
                    reason = exc.details or exc.summary
            found.append(Destination(uri, self._controller.label(uri), reason))
        return found

    async def _migrate(self, guest: GuestInfo) -> None:
        parent = self._shell.dialog_parent
        choices = await self.destinations(guest)
        asked = await self._questions.ask_migrate(parent, guest.name, choices)
        if asked is None:
            return
        src, dst = self._controller.host(guest.host_uri), self._controller.host(asked.uri)
        result = await run_with_progress(
            parent,
            f"Moving {guest.name} to {dst.display_name}",
            lambda progress: move_guest(
                src, dst, guest.uuid, detach_readonly=asked.detach_readonly, progress=progress
            ),
            self._job_dialog,
        )
        if result is not None:
            how = "live" if result.live else "offline"
            self._shell.notify(f"{guest.name} moved {how} to {dst.display_name}")
            self._made(result.destination_uri, result.uuid)

    def _made(self, uri: str, uuid: str) -> None:
        # The list learns of the new guest from the host's events: reveal it once it is there.
        if self._on_made is not None and not self._on_made(uri, uuid):
            self._pending = (uri, uuid)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        reveal = self._on_made
        if self._pending == guest.key and reveal is not None:
            self._pending = None
            uri, uuid = guest.key
            QTimer.singleShot(0, lambda: reveal(uri, uuid))  # after the list took the row
