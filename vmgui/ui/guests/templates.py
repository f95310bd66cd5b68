"""Template actions on the selected guest: mark or unmark it, and make a linked clone of it.

Whether a guest is a template lives in its libvirt metadata, which the guest list does not
carry: it is read on the host's worker shortly after a single guest is selected (and again
when that guest changes), and the actions follow. "New Guest from Template…" asks for the
new-guest wizard with the template chosen (the window opens it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo, GuestState
from vmgui.ui.controller import HostController
from vmgui.ui.shell import Selection, Shell
from vmgui.virt.hostchoices import fetch_is_template
from vmgui.virt.templates import set_template

_log = logging.getLogger(__name__)

MARK_TEXT = "Mark as &Template"
UNMARK_TEXT = "Unmark &Template"
_DELAY_MS = 150
#: How long a template notice stays (ms).
TEMPLATE_NOTICE_MSECS = 8000


class TemplateActionSet(Protocol):
    """The two actions :class:`TemplateActions` drives (the window's actions have them)."""

    @property
    def mark_template(self) -> QAction:
        """Guest → Mark as Template / Unmark Template."""
        ...

    @property
    def new_from_template(self) -> QAction:
        """Guest → New Guest from Template…"""
        ...


class TemplateActions(QObject):
    """Keeps actionMarkTemplate and actionNewFromTemplate right for the selected guest.

    Signals:
        newFromTemplateRequested(GuestInfo): the user asked for a linked clone of this
            template (open the new-guest wizard on it).

    Args:
        selection: the window's selection.
        shell: the window (notices, task owner).
        controller: the hosts.
        actions: the window's actions (``mark_template``, ``new_from_template``).
    """

    newFromTemplateRequested = Signal(GuestInfo)

    def __init__(
        self,
        selection: Selection,
        shell: Shell,
        controller: HostController,
        actions: TemplateActionSet,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._selection = selection
        self._shell = shell
        self._controller = controller
        self.mark_action = actions.mark_template
        self.new_action = actions.new_from_template
        self.guest: GuestInfo | None = None
        self.is_template: bool | None = None
        self._fetch_task: asyncio.Task[Any] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        selection.changed.connect(self._on_selection_changed)
        self.mark_action.triggered.connect(self._on_mark_action_triggered)
        self.new_action.triggered.connect(self._on_new_action_triggered)
        self._update_actions()

    # -- following the selection ----------------------------------------------------------

    def _on_selection_changed(self) -> None:
        # Also when the selected guest changed (a template flag may follow a redefine).
        guests = self._selection.guests()
        guest = guests[0] if len(guests) == 1 else None
        if guest is None or self.guest is None or guest.key != self.guest.key:
            self.is_template = None
        elif guest == self.guest:
            return  # nothing new about it
        self.guest = guest
        self._update_actions()
        if guest is not None:
            self._timer.start()

    def _on_timer_timeout(self) -> None:
        if self.guest is None:
            return
        if self._fetch_task is not None:
            self._fetch_task.cancel()
        self._fetch_task = self._shell.spawn(self._fetch(self.guest))  # cancelled on close

    async def _fetch(self, guest: GuestInfo) -> None:
        try:
            flag = await fetch_is_template(self._controller.host(guest.host_uri), guest.uuid)
        except (VmguiError, KeyError) as exc:
            _log.info("could not read whether %s is a template: %s", guest.name, exc)
            return
        if self.guest is not None and self.guest.key == guest.key:
            self.is_template = flag
            self._update_actions()

    def _update_actions(self) -> None:
        guest, flag = self.guest, self.is_template
        self.mark_action.setText(UNMARK_TEXT if flag else MARK_TEXT)
        self.mark_action.setEnabled(guest is not None and guest.persistent and flag is not None)
        self.new_action.setEnabled(guest is not None and bool(flag))
        if guest is not None and flag and guest.state is not GuestState.SHUTOFF:
            self.new_action.setToolTip(f"Shut {guest.name} down to make linked clones of it")
        else:
            self.new_action.setToolTip("Make a linked clone of the selected template")

    # -- actions ----------------------------------------------------------------------------

    def _on_mark_action_triggered(self) -> None:
        if self.guest is not None and self.is_template is not None:
            self._shell.spawn(self.set_template(self.guest, not self.is_template))

    async def set_template(self, guest: GuestInfo, mark: bool) -> None:
        """Mark or unmark ``guest`` as a template and say so in the status bar."""
        await set_template(self._controller.host(guest.host_uri), guest.uuid, mark)
        if self.guest is not None and self.guest.key == guest.key:
            self.is_template = mark
            self._update_actions()
        if not mark:
            text = f"{guest.name} is no longer a template"
        elif guest.state is GuestState.SHUTOFF:
            text = f"{guest.name} is a template: Guest → New Guest from Template… clones it"
        else:
            text = f"{guest.name} is a template; shut it down to make linked clones of it"
        self._shell.notify(text, TEMPLATE_NOTICE_MSECS)

    def _on_new_action_triggered(self) -> None:
        if self.guest is not None and self.is_template:
            self.newFromTemplateRequested.emit(self.guest)
