"""The Limits tab: follows the selected guest, fetches its limits, applies the pane's edits.

Limits are fetched only while the tab is in view (shortly after a guest is chosen, and again
when it changes state), so the guest list costs no extra libvirt calls. The limits in force
are :attr:`LimitsTab.current`, a frozen :class:`~vmgui.core.limits.LimitsView`, and each new
one is announced by ``limitsChanged`` (what a chart needs to draw a limit line).
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from vmgui.core.errors import VmguiError
from vmgui.core.limits import LimitChange, LimitsView, Scope, scope_label
from vmgui.core.model import GuestInfo
from vmgui.ui.controller import HostController
from vmgui.ui.isolation.pane import LimitsPane
from vmgui.ui.shell import Selection, Shell
from vmgui.virt import limits as limit_service

_log = logging.getLogger(__name__)

#: How long after a guest is chosen (or changes) its limits are fetched (ms).
FETCH_DELAY_MS = 150


class LimitsTab(QObject):
    """The Limits tab's presenter; :attr:`pane` is the widget to put in a tab.

    Signals:
        limitsChanged(LimitsView): the shown guest's limits were read or changed.
    """

    limitsChanged = Signal(LimitsView)

    def __init__(
        self,
        selection: Selection,
        shell: Shell,
        controller: HostController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.pane = LimitsPane()
        self._selection = selection
        self._shell = shell
        self._controller = controller
        self._guest: GuestInfo | None = None
        self._fetch: asyncio.Task[None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FETCH_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        selection.changed.connect(self._on_selection_changed)
        self.pane.applyRequested.connect(self._on_pane_apply_requested)
        self.pane.refreshRequested.connect(self._on_pane_refresh_requested)
        self.pane.installEventFilter(self)

    @property
    def current(self) -> LimitsView | None:
        """The limits of the guest shown, or None."""
        return self.pane.view

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Fetch when the tab comes into view."""
        if watched is self.pane and event.type() == QEvent.Type.Show:
            self._timer.start()
        return False

    def _on_selection_changed(self) -> None:
        guests = self._selection.guests()
        guest = guests[0] if len(guests) == 1 else None
        same = guest is not None and self._guest is not None and guest.key == self._guest.key
        if (
            same
            and guest is not None
            and self._guest is not None
            and guest.state is self._guest.state
        ):
            self._guest = guest
            return
        self._guest = guest
        if guest is None:
            self._show(None)
            return
        if not same:
            self._show(None)
        self._timer.start()

    def _on_timer_timeout(self) -> None:
        if self._guest is None or not self.pane.isVisible():
            return
        if self._fetch is not None and not self._fetch.done():
            self._fetch.cancel()
        self._fetch = self._shell.spawn(self._load(self._guest))

    def _on_pane_refresh_requested(self) -> None:
        self._timer.start()

    async def _load(self, guest: GuestInfo) -> None:
        host = self._controller.host(guest.host_uri)
        try:
            view = await limit_service.fetch_limits(host, guest.uuid)
        except VmguiError as exc:
            # Said in the tab, not in a dialog: merely looking at the tab is no failed action
            # (the demo host, libvirt's test driver, has no scheduler parameters at all).
            if self._guest is not None and self._guest.key == guest.key:
                _log.info("%s: %s", exc.summary, exc.details)
                self._show(None)
                self.pane.show_unavailable(guest.name, exc.details or exc.summary)
            return
        if self._guest is not None and self._guest.key == guest.key:
            self._show(view)

    def _show(self, view: LimitsView | None) -> None:
        if view == self.pane.view:
            return
        self.pane.show_limits(view)
        if view is not None:
            self.limitsChanged.emit(view)

    def _on_pane_apply_requested(self, changes: list[LimitChange], scope: Scope) -> None:
        guest = self._guest
        if guest is not None and changes:
            self._shell.spawn(self._apply(guest, changes, scope))

    async def _apply(self, guest: GuestInfo, changes: list[LimitChange], scope: Scope) -> None:
        host = self._controller.host(guest.host_uri)
        self.pane.apply_button.setEnabled(False)
        warnings: list[str] = []
        try:
            for change in changes:
                applied = await limit_service.apply_limits(host, guest.uuid, change, scope)
                warnings += applied.warnings
        except VmguiError:
            self._timer.start()  # show what holds now
            raise
        view = await limit_service.fetch_limits(host, guest.uuid)
        if self._guest is not None and self._guest.key == guest.key:
            self.pane.show_limits(view)
            self.limitsChanged.emit(view)
        note = " ".join(warnings)
        self._shell.notify(
            f"Limits of {guest.name} applied ({scope_label(scope)})" + (f": {note}" if note else "")
        )
