"""The main window: hosts on the left, guests in the middle, details below."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.model import (
    ConnectionState,
    GuestAction,
    GuestInfo,
    GuestOverview,
    GuestState,
    HostInfo,
    HostStatus,
)
from vmgui.ui import lifecycle
from vmgui.ui.actions import (
    build_lifecycle_actions,
    build_window_actions,
    install_toolbar_and_menus,
    update_enabled,
)
from vmgui.ui.hosts import HostController
from vmgui.ui.models import (
    GuestColumn,
    GuestFilterProxy,
    GuestModel,
    GuestRole,
    HostModel,
    HostUriRole,
)
from vmgui.ui.startup import DEMO_LABEL
from vmgui.ui.templates import TemplateActions
from vmgui.ui.views import (
    STATE_FILTERS,
    make_banner,
    make_filter_bar,
    make_guest_view,
    make_host_view,
)
from vmgui.virt import guests as guest_service

if TYPE_CHECKING:
    from vmgui.ui.details import GuestConfigEdit, GuestDetailsPane, HostDetailsPane
    from vmgui.ui.dialogs import Dialogs

_log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """vmgui's window. All libvirt work goes through the controller's connections.

    Args:
        controller: the hosts.
        dialogs: confirmation, error and input dialogs (tests pass fakes).
        demo_uri: the URI of the bundled demo host, offered in the File menu.
    """

    def __init__(
        self,
        controller: HostController,
        dialogs: Dialogs,
        *,
        demo_uri: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("vmgui")
        self.resize(1180, 760)
        self._controller = controller
        self._dialogs = dialogs
        self._demo_uri = demo_uri
        self._tasks: set[asyncio.Task[Any]] = set()
        self._overview_task: asyncio.Task[None] | None = None
        self._shown_guest: GuestInfo | None = None
        self._counts: dict[str, tuple[int, int]] = {}

        self.guest_model = GuestModel(controller.label, self)
        self.guest_proxy = GuestFilterProxy(self)
        self.guest_proxy.setSourceModel(self.guest_model)
        self.host_model = HostModel(controller.label, self._guest_counts, self)

        self._build_views()
        self._build_actions()
        self._connect_signals()
        self._overview_timer = QTimer(self)
        self._overview_timer.setSingleShot(True)
        self._overview_timer.setInterval(150)
        self._overview_timer.timeout.connect(self._on_overview_timer_timeout)
        self._update_details()

    # -- construction -----------------------------------------------------------------------

    def _build_views(self) -> None:
        self.host_view = make_host_view(self.host_model)
        self.filter_edit, self.state_filter = make_filter_bar()
        self.guest_view = make_guest_view(self.guest_proxy)
        self.banner = make_banner()

        # The detail panes are built on first use, after the window's first paint.
        self._guest_details: GuestDetailsPane | None = None
        self._host_details: HostDetailsPane | None = None
        self.empty_details = QLabel("Select a host or a guest to see its details.")
        self.empty_details.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details = QStackedWidget()
        self.details.setObjectName("details")
        self.details.addWidget(self.empty_details)
        self.side_tabs = QTabWidget()
        self.side_tabs.setObjectName("sideTabs")
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(self.details, "Details")

        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.state_filter)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.banner)
        middle_layout.addLayout(filters)
        middle_layout.addWidget(self.guest_view, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(middle)
        right.addWidget(self.side_tabs)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 1)
        right.setSizes([330, 420])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.host_view)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setSizes([340, 860])
        main.setContentsMargins(6, 6, 6, 6)
        self.setCentralWidget(main)
        self.statusBar().showMessage("Starting…")

    def _build_actions(self) -> None:
        self.lifecycle_actions = build_lifecycle_actions(self)
        for kind, action in self.lifecycle_actions.items():
            action.triggered.connect(lambda _checked=False, k=kind: self._on_lifecycle_triggered(k))
        self.window_actions = actions = build_window_actions(self)
        self.action_new_guest = actions.new_guest
        self.action_add_host = actions.add_host
        self.action_connect = actions.connect
        self.action_disconnect = actions.disconnect
        self.action_remove_host = actions.remove_host
        self.action_autoconnect = actions.autoconnect
        self.action_demo_host = actions.demo_host
        self.action_quit = actions.quit
        self.action_demo_host.setEnabled(bool(self._demo_uri))
        self.action_autoconnect.toggled.connect(self._on_autoconnect_toggled)
        self.action_add_host.triggered.connect(self._on_add_host_triggered)
        self.action_connect.triggered.connect(self._on_connect_triggered)
        self.action_disconnect.triggered.connect(self._on_disconnect_triggered)
        self.action_remove_host.triggered.connect(self._on_remove_host_triggered)
        self.action_demo_host.triggered.connect(self._on_demo_host_triggered)
        self.action_quit.triggered.connect(self.close)
        self.action_new_guest.triggered.connect(self._on_new_guest_triggered)
        self.templates = TemplateActions(self, self._controller, actions)
        actions.remove_seed.triggered.connect(self._on_remove_seed_triggered)
        install_toolbar_and_menus(self, actions, self.lifecycle_actions)
        self._update_host_actions()

    def _connect_signals(self) -> None:
        c = self._controller
        c.hostAdded.connect(self._on_controller_host_added)
        c.hostRemoved.connect(self._on_controller_host_removed)
        c.statusChanged.connect(self._on_controller_status_changed)
        c.hostInfoChanged.connect(self._on_controller_host_info_changed)
        c.guestsReset.connect(self._on_controller_guests_reset)
        c.guestChanged.connect(self._on_controller_guest_changed)
        c.guestRemoved.connect(self._on_controller_guest_removed)
        c.errorRaised.connect(self.show_error)
        self.filter_edit.textChanged.connect(self.guest_proxy.set_text)
        self.state_filter.currentIndexChanged.connect(self._on_state_filter_changed)
        self.guest_view.selectionModel().selectionChanged.connect(self._on_guest_selection_changed)
        self.host_view.selectionModel().selectionChanged.connect(self._on_host_selection_changed)
        self.guest_view.customContextMenuRequested.connect(self._on_guest_view_context_menu)
        self.host_view.customContextMenuRequested.connect(self._on_host_view_context_menu)
        self.guest_view.doubleClicked.connect(self._on_guest_view_double_clicked)

    # -- selection --------------------------------------------------------------------------

    def selected_guests(self) -> list[GuestInfo]:
        """The guests selected in the guest view, in view order."""
        rows = self.guest_view.selectionModel().selectedRows(GuestColumn.NAME)
        guests = [index.data(GuestRole) for index in sorted(rows, key=QModelIndex.row)]
        return [g for g in guests if isinstance(g, GuestInfo)]

    def selected_hosts(self) -> list[str]:
        """The URIs of the hosts selected in the host view."""
        rows = self.host_view.selectionModel().selectedRows(0)
        return [str(index.data(HostUriRole)) for index in sorted(rows, key=QModelIndex.row)]

    def _update_guest_actions(self) -> None:
        guests = self.selected_guests()
        update_enabled(self.lifecycle_actions, guests)
        self.window_actions.remove_seed.setEnabled(
            len(guests) == 1 and guests[0].state is GuestState.SHUTOFF and guests[0].persistent
        )

    def _on_guest_selection_changed(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        self._update_guest_actions()
        self._update_details()

    def _on_host_selection_changed(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        uris = self.selected_hosts()
        self.guest_proxy.set_hosts(uris or None)
        self._update_host_actions()
        self._update_guest_actions()
        self._update_details()

    def _on_state_filter_changed(self, index: int) -> None:
        self.guest_proxy.set_states(STATE_FILTERS[index][1])
        self._update_guest_actions()

    def _update_host_actions(self) -> None:
        uris = self.selected_hosts()
        states = [self.host_model.status(u).state for u in uris]
        self.action_connect.setEnabled(
            any(s in (ConnectionState.DISCONNECTED, ConnectionState.FAILED) for s in states)
        )
        self.action_disconnect.setEnabled(
            any(s in (ConnectionState.CONNECTED, ConnectionState.CONNECTING) for s in states)
            or any(self.host_model.status(u).retry_in is not None for u in uris)
        )
        self.action_remove_host.setEnabled(bool(uris))
        single = len(uris) == 1 and uris[0] in self._controller.uris()
        self.action_autoconnect.setEnabled(single)
        self.action_autoconnect.blockSignals(True)
        self.action_autoconnect.setChecked(single and self._controller.autoconnect(uris[0]))
        self.action_autoconnect.blockSignals(False)

    # -- details ----------------------------------------------------------------------------

    @property
    def guest_details(self) -> GuestDetailsPane:
        """The guest details pane (built on first use)."""
        self.ensure_details()
        assert self._guest_details is not None
        return self._guest_details

    @property
    def host_details(self) -> HostDetailsPane:
        """The host details pane (built on first use)."""
        self.ensure_details()
        assert self._host_details is not None
        return self._host_details

    def ensure_details(self) -> None:
        """Build the detail panes (deferred so the first window appears sooner)."""
        if self._guest_details is not None:
            return
        from vmgui.ui.details import GuestDetailsPane, HostDetailsPane

        self._guest_details = GuestDetailsPane()
        self._host_details = HostDetailsPane()
        self.details.addWidget(self._host_details)
        self.details.addWidget(self._guest_details)
        self._guest_details.configEditRequested.connect(self._on_guest_details_edit_requested)

    def _update_details(self) -> None:
        guests = self.selected_guests()
        if len(guests) == 1:
            guest = guests[0]
            if self._shown_guest is None or self._shown_guest.key != guest.key:
                self._shown_guest = guest
                self.guest_details.show_loading(guest)
                self._overview_timer.start(0)
            self.details.setCurrentWidget(self.guest_details)
            return
        self._shown_guest = None
        uris = self.selected_hosts()
        if not uris and guests:
            uris = [guests[0].host_uri]
        if not uris:
            # Nothing selected: show the first host, so its consolidation is always in view.
            uris = self._controller.uris()[:1]
        if uris and uris[0] in self._controller.uris():
            self._show_host(uris[0])
            self.details.setCurrentWidget(self.host_details)
        else:
            self.details.setCurrentWidget(self.empty_details)

    def _show_host(self, uri: str) -> None:
        host = self._controller.host(uri)
        self.host_details.show_host(
            self._controller.label(uri), host.status, host.host_info, self.guest_model.guests(uri)
        )

    def _refresh_host_details(self, uri: str) -> None:
        shown = self.details.currentWidget()
        if shown is not None and shown is self._host_details and self._shown_host() == uri:
            self._show_host(uri)

    def _shown_host(self) -> str:
        uris = self.selected_hosts() or [g.host_uri for g in self.selected_guests()[:1]]
        uris = uris or self._controller.uris()[:1]
        return uris[0] if uris else ""

    def _on_overview_timer_timeout(self) -> None:
        guest = self._shown_guest
        if guest is None:
            return
        if self._overview_task is not None:
            self._overview_task.cancel()
        self._overview_task = asyncio.ensure_future(self._load_overview(guest))

    async def _load_overview(self, guest: GuestInfo) -> None:
        try:
            host = self._controller.host(guest.host_uri)
            overview: GuestOverview = await guest_service.fetch_overview(host, guest.uuid)
        except VmguiError as exc:
            if self._shown_guest is not None and self._shown_guest.key == guest.key:
                self.guest_details.show_error(f"{exc.summary}: {exc.details}")
            return
        except KeyError:
            return
        if self._shown_guest is not None and self._shown_guest.key == guest.key:
            self.guest_details.show_overview(overview)

    def _on_guest_details_edit_requested(self, edit: object) -> None:
        from vmgui.ui.details import GuestConfigEdit

        if isinstance(edit, GuestConfigEdit):
            self.spawn(self._apply_edit(edit))

    async def _apply_edit(self, edit: GuestConfigEdit) -> None:
        await lifecycle.apply_config_edit(self, self._controller, edit)
        if self._shown_guest is not None and self._shown_guest.key == edit.guest.key:
            self._overview_timer.start(0)

    # -- controller signals -------------------------------------------------------------------

    def _on_controller_host_added(self, uri: str) -> None:
        self.host_model.add_host(uri)
        self._counts[uri] = (0, 0)
        self._update_details()
        self.statusBar().showMessage(f"Added {self._controller.label(uri)}", 5000)

    def _on_controller_host_removed(self, uri: str) -> None:
        self.guest_model.reset_host(uri, [])
        self.host_model.remove_host(uri)
        self._counts.pop(uri, None)
        self._update_details()

    def _on_controller_status_changed(self, status: object) -> None:
        if not isinstance(status, HostStatus):
            return
        self.host_model.set_status(status)
        label = self._controller.label(status.uri) if status.uri in self._controller.uris() else ""
        text = f"{label}: {status.state.label}"
        if status.reason:
            text += f" — {status.reason}"
        self.statusBar().showMessage(text, 8000)
        self._update_host_actions()
        self._refresh_host_details(status.uri)

    def _on_controller_host_info_changed(self, info: object) -> None:
        if isinstance(info, HostInfo):
            self.host_model.set_info(info)
            self._refresh_host_details(info.uri)

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        self.guest_model.reset_host(uri, guests)
        if guests:
            _log.info("listed %d guests of %s", len(guests), uri)
        self._recount(uri)
        self._update_guest_actions()
        self._update_details()

    def _on_controller_guest_changed(self, guest: object) -> None:
        if not isinstance(guest, GuestInfo):
            return
        self.guest_model.update_guest(guest)
        self._recount(guest.host_uri)
        if any(g.key == guest.key for g in self.selected_guests()):
            self._update_guest_actions()
            if self._shown_guest is not None and self._shown_guest.key == guest.key:
                self._overview_timer.start()

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        self.guest_model.remove_guest(uri, uuid)
        self._recount(uri)
        self._update_guest_actions()
        self._update_details()

    def _recount(self, uri: str) -> None:
        guests = self.guest_model.guests(uri)
        self._counts[uri] = (sum(1 for g in guests if g.is_active), len(guests))
        self.host_model.refresh_counts(uri)
        self._refresh_host_details(uri)

    def _guest_counts(self, uri: str) -> tuple[int, int]:
        return self._counts.get(uri, (0, 0))

    # -- actions ----------------------------------------------------------------------------

    def _on_lifecycle_triggered(self, kind: GuestAction) -> None:
        guests = self.selected_guests()
        if guests:
            self.spawn(lifecycle.run_lifecycle(self, self._controller, self._dialogs, kind, guests))

    def _on_guest_view_double_clicked(self, index: QModelIndex) -> None:
        guest = index.data(GuestRole)
        if isinstance(guest, GuestInfo) and guest.state in (GuestState.SHUTOFF, GuestState.SAVED):
            self.spawn(
                lifecycle.run_lifecycle(
                    self, self._controller, self._dialogs, GuestAction.START, [guest]
                )
            )

    def _on_guest_view_context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addActions(list(self.lifecycle_actions.values()))
        menu.addSeparator()
        menu.addActions(self.window_actions.template_actions())
        menu.popup(self.guest_view.viewport().mapToGlobal(pos))

    def _on_host_view_context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addActions(self.window_actions.host_actions())
        menu.addSeparator()
        menu.addAction(self.action_add_host)
        menu.popup(self.host_view.viewport().mapToGlobal(pos))

    def _on_new_guest_triggered(self) -> None:
        from vmgui.ui.wizard import open_new_guest_wizard  # loaded on first use

        open_new_guest_wizard(self, self._controller)

    def _on_add_host_triggered(self) -> None:
        self.spawn(lifecycle.add_host(self, self._controller, self._dialogs))

    def _on_demo_host_triggered(self) -> None:
        if self._demo_uri:
            self.open_demo_host("")

    def open_demo_host(self, reason: str) -> None:
        """Add and connect the clearly labelled demo host (not saved)."""
        if self._demo_uri not in self._controller.uris():
            self._controller.add_host(self._demo_uri, save=False, label=DEMO_LABEL)
        self._controller.connect_in_background(self._demo_uri)
        text = (
            "<b>Demo host.</b> These guests are simulated by libvirt's test driver; "
            "nothing runs. Add a real host with <i>File → Add Host…</i>."
        )
        if reason:
            text = f"No local hypervisor could be reached ({reason}). " + text
        self.show_banner(text)

    @property
    def demo_uri(self) -> str:
        """The URI of the bundled demo host ("" if none)."""
        return self._demo_uri

    def show_banner(self, text: str) -> None:
        """Show a notice above the guest list."""
        self.banner.setText(text)
        self.banner.show()

    def _on_remove_seed_triggered(self) -> None:
        guests = self.selected_guests()
        if len(guests) == 1:
            self.spawn(lifecycle.remove_seed(self, self._controller, self._dialogs, guests[0]))

    def _on_autoconnect_toggled(self, checked: bool) -> None:
        uris = self.selected_hosts()
        if len(uris) == 1:
            self._controller.set_autoconnect(uris[0], checked)

    def _on_connect_triggered(self) -> None:
        for uri in self.selected_hosts():
            self.spawn(lifecycle.connect_host(self, self._controller, uri))

    def _on_disconnect_triggered(self) -> None:
        for uri in self.selected_hosts():
            self.spawn(self._controller.disconnect_host(uri))

    def _on_remove_host_triggered(self) -> None:
        uris = self.selected_hosts()
        if uris:
            self.spawn(lifecycle.remove_hosts(self, self._controller, self._dialogs, uris))

    # -- errors and tasks -------------------------------------------------------------------

    def show_error(self, error: object) -> None:
        """Show a failure the one way: a dialog with details, plus the log."""
        if isinstance(error, VmguiError):
            self._dialogs.show_error(self, error)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine owned by the window (cancelled on close)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, VmguiError):
            self.show_error(exc)
        elif exc is not None:
            _log.error("unexpected failure", exc_info=exc)
            self.show_error(
                VmguiError(
                    "Unexpected internal error", repr(exc), "Please report this with the log."
                )
            )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        for task in list(self._tasks):
            task.cancel()
        if self._overview_task is not None:
            self._overview_task.cancel()
        super().closeEvent(event)
