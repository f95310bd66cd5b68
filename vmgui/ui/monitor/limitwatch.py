"""The selected guest's limits for its usage charts, read by the monitor itself.

:class:`ChartLimits` follows the :class:`~vmgui.ui.shell.Selection`: while exactly one guest is
selected and the charts are on screen, it reads that guest's limits once (on the host's worker,
:func:`vmgui.virt.limits.fetch_limits`) and hands them to the charts, which draw them as lines.
It reads again only when another guest is chosen or the chosen one changes state (a running
guest has live limits, a shut-off one only its config) — never per stats tick, and not while the
charts are hidden (a pending read waits for them to be shown). Limits known elsewhere (the
Limits tab after an Apply) are given with :meth:`ChartLimits.take`.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from vmgui.core.errors import VmguiError
from vmgui.core.limits import LimitsView
from vmgui.core.model import GuestInfo, GuestState
from vmgui.ui.controller import HostController
from vmgui.ui.monitor.charts import UsageCharts
from vmgui.ui.shell import Selection
from vmgui.ui.tasks import TaskOwner
from vmgui.virt import limits as limit_service

_log = logging.getLogger(__name__)

#: How long after a guest is chosen (or changes state) its limits are read (ms): a user moving
#: through the list with the arrow keys costs one read, for the guest they stop at.
FETCH_DELAY_MS = 150


class ChartLimits(QObject):
    """Reads the selected guest's limits for ``charts`` (one read per selection change).

    Signals:
        limitsRead(LimitsView): a guest's limits were read and given to the charts.
        limitsUnavailable(str, str): the limits of the guest with this UUID cannot be read on its
            host, and why (the test driver has no scheduler parameters); the charts draw none.
    """

    limitsRead = Signal(LimitsView)
    limitsUnavailable = Signal(str, str)

    def __init__(
        self,
        selection: Selection,
        charts: UsageCharts,
        controller: HostController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._selection = selection
        self._charts = charts
        self._controller = controller
        self._tasks = TaskOwner(None, name="limits read", parent=self)
        self._guest: tuple[tuple[str, str], GuestState] | None = None
        self._pending = False
        self._fetch: asyncio.Task[None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FETCH_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        selection.changed.connect(self._on_selection_changed)
        charts.installEventFilter(self)
        self._on_selection_changed()

    def take(self, view: LimitsView) -> None:
        """Draw ``view`` if it is the selected guest's (limits read elsewhere, e.g. after an Apply).

        A read of the same guest still pending is dropped: these limits are newer.
        """
        guest = self._selected()
        if guest is None or guest.uuid != view.uuid:
            return
        self._pending = False
        self._timer.stop()
        if self._fetch is not None and not self._fetch.done():
            self._fetch.cancel()
        self._charts.set_limits(guest.key, view)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Read a pending guest's limits once the charts are shown."""
        if watched is self._charts and event.type() == QEvent.Type.Show and self._pending:
            self._timer.start()
        return False

    def _selected(self) -> GuestInfo | None:
        guests = self._selection.guests()
        return guests[0] if len(guests) == 1 else None

    def _on_selection_changed(self) -> None:
        guest = self._selected()
        now = (guest.key, guest.state) if guest is not None else None
        if now == self._guest:
            return  # e.g. the selected row's usage figures changed with a tick
        self._guest = now
        self._timer.stop()
        if self._fetch is not None and not self._fetch.done():
            self._fetch.cancel()
        self._pending = guest is not None
        if guest is not None and self._charts.isVisible():
            self._timer.start()

    def _on_timer_timeout(self) -> None:
        guest = self._selected()
        if guest is None or not self._charts.isVisible():
            return
        self._pending = False
        self._fetch = self._tasks.spawn(self._read(guest))

    async def _read(self, guest: GuestInfo) -> None:
        try:
            host = self._controller.host(guest.host_uri)
            view = await limit_service.fetch_limits(host, guest.uuid)
        except (VmguiError, KeyError) as exc:
            reason = (exc.details or exc.summary) if isinstance(exc, VmguiError) else "host gone"
            _log.info("limits of %s not charted: %s", guest.name, reason)
            self._charts.set_limits(guest.key, None)
            self.limitsUnavailable.emit(guest.uuid, reason)
            return
        selected = self._selected()
        if selected is None or selected.key != guest.key:
            return
        self._charts.set_limits(guest.key, view)
        self.limitsRead.emit(view)
