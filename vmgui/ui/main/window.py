"""The main window: hosts on the left, guests in the middle, details below.

Layout and wiring only. The window is the :class:`~vmgui.ui.shell.Shell` every feature gets,
owns the one :class:`~vmgui.ui.shell.Selection` and the one :class:`~vmgui.ui.tasks.TaskOwner`;
the lists, panes and commands live in :mod:`vmgui.ui.guests` and :mod:`vmgui.ui.hosts`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QByteArray, QModelIndex, QPoint, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestAction, GuestInfo, GuestState
from vmgui.core.units import plural
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Dialogs
from vmgui.ui.guests import commands
from vmgui.ui.guests.listview import GuestList
from vmgui.ui.guests.model import GuestRole
from vmgui.ui.guests.templates import TemplateActions
from vmgui.ui.hosts.commands import HostActions
from vmgui.ui.hosts.model import HostModel
from vmgui.ui.hosts.view import HOST_PANE_WIDTH, fitting_width, make_host_view
from vmgui.ui.isolation.presenter import LimitsTab
from vmgui.ui.main.actions import (
    build_lifecycle_actions,
    build_window_actions,
    install_toolbar_and_menus,
    update_enabled,
)
from vmgui.ui.main.startup import add_demo_host, demo_banner
from vmgui.ui.mobility.actions import MobilityActions
from vmgui.ui.mobility.dialogs import MobilityDialogs, QtMobilityDialogs
from vmgui.ui.mobility.snapshots import SnapshotsPane, SnapshotsPresenter
from vmgui.ui.shell import NOTICE_MSECS, Selection, UsageLink
from vmgui.ui.tablemodel import HostUriRole
from vmgui.ui.tasks import TaskOwner
from vmgui.ui.uistate import UiState

if TYPE_CHECKING:
    from vmgui.ui.console import ConsoleManager
    from vmgui.ui.fleet.view import FleetView
    from vmgui.ui.guests.details import DetailsPresenter, GuestDetailsPane
    from vmgui.ui.hosts.details import HostDetailsPane, HostDetailsPresenter
    from vmgui.ui.networks.window import NetworksWindow
    from vmgui.ui.storage.window import StorageWindow

_T = TypeVar("_T")

#: The window's size on first run.
DEFAULT_SIZE = (1180, 760)
#: The guest list's and the details' share of the right-hand column on first run (px).
DEFAULT_RIGHT_SIZES = (320, 440)
_GEOMETRY_KEY = "window/geometry"
_MAIN_SPLITTER_KEY = "window/mainSplitter"
_RIGHT_SPLITTER_KEY = "window/rightSplitter"


class MainWindow(QMainWindow):
    """vmgui's window. All libvirt work goes through the controller's connections.

    Args:
        controller: the hosts.
        dialogs: confirmation, error and input dialogs (tests pass fakes).
        demo_uri: the URI of the bundled demo host, offered in the File menu.
        ui_state: where the geometry and splitter sizes are remembered (None: not at all).
        mobility_dialogs: the snapshot, clone, export, import and migrate questions (tests
            pass fakes; default: the real dialogs).
    """

    def __init__(
        self,
        controller: HostController,
        dialogs: Dialogs,
        *,
        demo_uri: str = "",
        ui_state: UiState | None = None,
        mobility_dialogs: MobilityDialogs | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("vmgui")
        self.resize(*DEFAULT_SIZE)
        self._controller = controller
        self._dialogs = dialogs
        self._demo_uri = demo_uri
        self._ui_state = ui_state
        self._mobility_dialogs = mobility_dialogs or QtMobilityDialogs()
        self._tasks = TaskOwner(self.show_error, name="window task", parent=self)
        # The detail panes are built on first use, after the window's first paint.
        self._guest_details: GuestDetailsPane | None = None
        self._host_details: HostDetailsPane | None = None
        self._fleet: FleetView | None = None  # shown in Details while "All hosts" is selected
        self._guest_presenter: DetailsPresenter | None = None
        self._host_presenter: HostDetailsPresenter | None = None
        self._consoles: ConsoleManager | None = None  # built on first use (numpy)
        #: Hosts' measured usage for features beside the charts (placement, fleet); the
        #: source is attached when live usage loads, after the first paint.
        self.usage = UsageLink(self)

        self.host_model = HostModel(controller, self)
        self.host_view = make_host_view(self.host_model)
        self.guest_list = GuestList(controller)
        self.selection = Selection(
            self.guest_list.view.selectionModel(),
            self.host_view.selectionModel(),
            controller.uris,
            guest_role=GuestRole,
            host_role=HostUriRole,
            parent=self,
        )
        self.guest_list.follow(self.selection)
        self._build_layout()
        self._build_actions()
        self.selection.changed.connect(self._on_selection_changed)
        controller.errorRaised.connect(self.show_error)
        self.guest_list.view.customContextMenuRequested.connect(self._on_guest_view_context_menu)
        self.host_view.customContextMenuRequested.connect(self._on_host_view_context_menu)
        self.guest_list.view.doubleClicked.connect(self._on_guest_view_double_clicked)
        # Until the user drags the splitter (or a saved layout is restored), the host pane
        # follows its hosts' labels: one short label must not take a third of the window.
        self._fit_host_pane = True
        self.main_splitter.splitterMoved.connect(self._on_main_splitter_moved)
        self.host_model.rowsInserted.connect(self._on_host_model_changed)
        self.host_model.dataChanged.connect(self._on_host_model_changed)
        self._restore_state()
        self._on_selection_changed()

    # -- construction -----------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.empty_details = QLabel("Select a host or a guest to see its details.")
        self.empty_details.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details = QStackedWidget()
        self.details.setObjectName("details")
        self.details.addWidget(self.empty_details)
        self.side_tabs = QTabWidget()
        self.side_tabs.setObjectName("sideTabs")
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(self.details, "Details")
        self.snapshots_pane = SnapshotsPane()
        self.side_tabs.addTab(self.snapshots_pane, "Snapshots")
        self.limits_tab = LimitsTab(self.selection, self, self._controller, self)
        self.side_tabs.addTab(self.limits_tab.pane, "Limits")

        self.right_splitter = right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("rightSplitter")
        right.addWidget(self.guest_list)
        right.addWidget(self.side_tabs)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 1)
        right.setSizes(list(DEFAULT_RIGHT_SIZES))
        self.main_splitter = main = QSplitter(Qt.Orientation.Horizontal)
        main.setObjectName("mainSplitter")
        main.addWidget(self.host_view)
        main.addWidget(right)
        main.setStretchFactor(0, 0)  # the host pane keeps its width; the rest grows
        main.setStretchFactor(1, 1)
        main.setCollapsible(0, False)
        main.setSizes([HOST_PANE_WIDTH, DEFAULT_SIZE[0] - HOST_PANE_WIDTH])
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
        self.action_demo_host.triggered.connect(self._on_demo_host_triggered)
        self.action_quit.triggered.connect(self.close)
        self.action_new_guest.triggered.connect(self._on_new_guest_triggered)
        actions.open_console.triggered.connect(self._on_open_console_triggered)
        actions.remove_seed.triggered.connect(self._on_remove_seed_triggered)
        actions.storage.triggered.connect(self._on_storage_triggered)
        actions.networks.triggered.connect(self._on_networks_triggered)
        c, sel = self._controller, self.selection
        self.host_actions = HostActions(sel, self, c, self._dialogs, self.host_model, actions, self)
        self.templates = TemplateActions(sel, self, c, actions, self)
        self.templates.newFromTemplateRequested.connect(self._on_templates_new_from_template)
        self.mobility = MobilityActions(
            sel, self, c, self._mobility_dialogs, self, on_made=self.guest_list.reveal
        )
        self.snapshots = SnapshotsPresenter(
            self.snapshots_pane, self, c, self._dialogs, self._mobility_dialogs, self
        )
        install_toolbar_and_menus(
            self,
            actions,
            self.lifecycle_actions,
            guest_extra=self.mobility.guest_actions(),
            file_extra=[self.mobility.import_],
            guest_menus=[self.guest_list.tag_menu],
        )
        self.guest_list.tag_menu.tagChosen.connect(self._on_tag_menu_tag_chosen)

    # -- Shell --------------------------------------------------------------------------------

    @property
    def dialog_parent(self) -> QWidget:
        """The window: dialogs are modal to it."""
        return self

    def notify(self, text: str, msecs: int = NOTICE_MSECS) -> None:
        """Show ``text`` in the status bar for ``msecs`` ms (0: until replaced)."""
        self.statusBar().showMessage(text, msecs)

    def show_error(self, error: VmguiError) -> None:
        """Show a failure the one way: a dialog with details, plus the log."""
        self._dialogs.show_error(self, error)

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` owned by the window (cancelled on close; failures shown)."""
        return self._tasks.spawn(coro)

    # -- what tests and features may read ------------------------------------------------------

    @property
    def controller(self) -> HostController:
        """The hosts this window shows."""
        return self._controller

    @property
    def tasks(self) -> TaskOwner:
        """The window's running tasks (``idle`` fires when the last one ends)."""
        return self._tasks

    @property
    def demo_uri(self) -> str:
        """The URI of the bundled demo host ("" if none)."""
        return self._demo_uri

    @property
    def consoles(self) -> ConsoleManager:
        """The guests' console windows (the feature is loaded on first use)."""
        if self._consoles is None:
            from vmgui.ui.console import ConsoleManager

            self._consoles = ConsoleManager(self._controller, self._dialogs, parent=self)
        return self._consoles

    def open_demo_host(self, reason: str) -> None:
        """Add and connect the clearly labelled demo host (not saved), with a banner."""
        add_demo_host(self._controller, self._demo_uri)
        self.guest_list.show_banner(demo_banner(reason))

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
        from vmgui.ui.fleet.view import FleetView
        from vmgui.ui.guests.details import DetailsPresenter, GuestDetailsPane
        from vmgui.ui.hosts.details import HostDetailsPane, HostDetailsPresenter

        self._guest_details = GuestDetailsPane()
        self._host_details = HostDetailsPane()
        self._fleet = FleetView(self._controller, self.usage, self)
        self._fleet.hostActivated.connect(self.host_view.select_host)
        self.details.addWidget(self._host_details)
        self.details.addWidget(self._guest_details)
        self.details.addWidget(self._fleet)
        c = self._controller
        self._guest_presenter = DetailsPresenter(self._guest_details, self, c, self)
        self._host_presenter = HostDetailsPresenter(self._host_details, c, self)

    @property
    def fleet(self) -> FleetView:
        """The fleet overview (built on first use)."""
        self.ensure_details()
        assert self._fleet is not None
        return self._fleet

    def _update_details(self) -> None:
        guests = self.selection.guests()
        single = guests[0] if len(guests) == 1 else None
        uri = "" if single is not None else self.selection.focused_host()
        if single is None and uri not in self._controller.uris():
            uri = ""
        fleet = single is None and self.host_view.all_hosts_selected()
        if single is None and not uri and not fleet and self._guest_details is None:
            return  # nothing to show yet: keep the panes unbuilt until after the first paint
        self.snapshots.show(single)
        self.ensure_details()
        assert self._guest_presenter is not None and self._host_presenter is not None
        self._guest_presenter.show(single)
        self._host_presenter.show(uri)
        if single is not None:
            self.details.setCurrentWidget(self.guest_details)
        elif fleet:
            self.details.setCurrentWidget(self.fleet)
        elif uri:
            self.details.setCurrentWidget(self.host_details)
        else:
            self.details.setCurrentWidget(self.empty_details)

    # -- slots ------------------------------------------------------------------------------

    def _on_selection_changed(self) -> None:
        guests = self.selection.guests()
        update_enabled(self.lifecycle_actions, guests)
        self.window_actions.open_console.setEnabled(bool(guests))  # shut off: offers Start
        self.window_actions.remove_seed.setEnabled(
            len(guests) == 1 and guests[0].state is GuestState.SHUTOFF and guests[0].persistent
        )
        self._update_details()

    def _on_lifecycle_triggered(self, kind: GuestAction) -> None:
        guests = self.selection.guests()
        if guests:
            self._run_lifecycle(kind, guests)

    def _run_lifecycle(self, kind: GuestAction, guests: list[GuestInfo]) -> None:
        self.spawn(commands.run_lifecycle(self, self._controller, self._dialogs, kind, guests))

    def _on_guest_view_double_clicked(self, index: QModelIndex) -> None:
        guest = index.data(GuestRole)
        if isinstance(guest, GuestInfo):
            self.consoles.open([guest])

    def _on_open_console_triggered(self) -> None:
        guests = self.selection.guests()
        if guests:
            self.consoles.open(guests)

    def _on_remove_seed_triggered(self) -> None:
        guests = self.selection.guests()
        if len(guests) == 1:
            self.spawn(commands.remove_seed(self, self._controller, self._dialogs, guests[0]))

    def _on_guest_view_context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction(self.window_actions.open_console)
        menu.addSeparator()
        menu.addActions(list(self.lifecycle_actions.values()))
        menu.addSeparator()
        menu.addActions(self.window_actions.template_actions())
        menu.addSeparator()
        menu.addActions(self.mobility.guest_actions())
        menu.addSeparator()
        menu.addMenu(self.guest_list.tag_menu)
        menu.popup(self.guest_list.view.viewport().mapToGlobal(pos))

    def _on_tag_menu_tag_chosen(self, tag: str) -> None:
        count = len(self.selection.guests())
        self.notify(f"Selected {plural(count, 'guest')} tagged {tag}")

    def _on_host_view_context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addActions(self.window_actions.host_actions())
        menu.addSeparator()
        menu.addAction(self.action_add_host)
        menu.popup(self.host_view.viewport().mapToGlobal(pos))

    def _on_new_guest_triggered(self) -> None:
        self._open_wizard(None)

    def _on_templates_new_from_template(self, template: GuestInfo) -> None:
        self._open_wizard(template)

    def _open_wizard(self, template: GuestInfo | None) -> None:
        from vmgui.ui.wizard import open_new_guest_wizard  # loaded on first use

        open_new_guest_wizard(
            self,
            self.selection,
            self._controller,
            on_created=self.guest_list.reveal,
            template=template,
            usage=self.usage,
        )

    def _on_storage_triggered(self) -> None:
        from vmgui.ui.storage.window import StorageWindow  # loaded on first use

        self._open_host_window(StorageWindow)

    def _on_networks_triggered(self) -> None:
        from vmgui.ui.networks.window import NetworksWindow  # loaded on first use

        self._open_host_window(NetworksWindow)

    def _open_host_window(self, kind: type[StorageWindow | NetworksWindow]) -> None:
        """Open a Storage or Networks window on the focused host (closes itself when done)."""
        uri = self.selection.focused_host()
        if uri:
            view = kind(
                self._controller.host(uri),
                self,
                self._dialogs,
                parent=self,
                status=self._controller.statusChanged,
            )
            view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            view.show()
            view.start()

    def _on_demo_host_triggered(self) -> None:
        if self._demo_uri:
            self.open_demo_host("")

    # -- host pane width ------------------------------------------------------------------------

    def _on_main_splitter_moved(self, _pos: int, _index: int) -> None:
        self._fit_host_pane = False

    def _on_host_model_changed(self, *_args: object) -> None:
        if not self._fit_host_pane:
            return
        sizes = self.main_splitter.sizes()
        width = fitting_width(self.host_view)
        if sizes and width != sizes[0]:
            self.main_splitter.setSizes([width, max(0, sum(sizes) - width)])

    # -- remembered state -----------------------------------------------------------------------

    def _restore_state(self) -> None:
        state = self._ui_state
        if state is None:
            return
        empty = QByteArray()
        geometry = state.value(_GEOMETRY_KEY, empty)
        if not geometry.isEmpty():
            self.restoreGeometry(geometry)
        for key, splitter in (
            (_MAIN_SPLITTER_KEY, self.main_splitter),
            (_RIGHT_SPLITTER_KEY, self.right_splitter),
        ):
            saved = state.value(key, empty)
            if not saved.isEmpty() and splitter.restoreState(saved):
                self._fit_host_pane = self._fit_host_pane and splitter is not self.main_splitter

    @property
    def ui_state(self) -> UiState | None:
        """Where the window (and features it hosts) remember their layout, or None."""
        return self._ui_state

    def save_state(self) -> None:
        """Remember the geometry and splitter sizes (done when the window closes)."""
        state = self._ui_state
        if state is None:
            return
        state.set_value(_GEOMETRY_KEY, self.saveGeometry())
        state.set_value(_MAIN_SPLITTER_KEY, self.main_splitter.saveState())
        state.set_value(_RIGHT_SPLITTER_KEY, self.right_splitter.saveState())
        state.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_state()
        if self._consoles is not None:
            self._consoles.close_all()
        for tool in self.findChildren(QWidget):  # the Storage and Networks windows
            if tool.isWindow() and tool.isVisible():
                # Closed (their host watches and timers end), deleted with this window.
                tool.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
                tool.close()
        self._tasks.cancel_all()
        super().closeEvent(event)
