"""When a host connects: what interrupted jobs left there, offered for removal.

A job that lost its host before its rollback wrote down what it made there
(:mod:`vmgui.core.leftovers`). Each time a host reaches "connected", :class:`LeftoverWatch`
checks its entries (:func:`vmgui.virt.leftovers.review`: what is gone is struck quietly) and,
when something is still there, asks once (``leftoversDialog``): *Remove* (guests destroyed and
undefined, volumes deleted), *Keep on the Host* (forgotten: vmgui does not ask again), or *Ask
Me Later* (the default, and Escape: asked at the next connect).
"""

from __future__ import annotations

import enum
import html
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from vmgui.core.errors import VmguiError
from vmgui.core.leftovers import LeftoverBook
from vmgui.core.model import ConnectionState, HostStatus
from vmgui.core.units import plural
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import Answer, ask_buttons
from vmgui.ui.shell import Shell
from vmgui.virt.leftovers import Found, remove_found, review

_log = logging.getLogger(__name__)


class LeftoverChoice(enum.Enum):
    """What to do with what was found."""

    REMOVE = "remove"
    KEEP = "keep"


REMOVE, KEEP = LeftoverChoice.REMOVE, LeftoverChoice.KEEP

Ask = Callable[[QWidget, str, list[Found]], Awaitable[LeftoverChoice | None]]
"""The question: (parent, host label, what is there) -> the choice, None to ask later."""


async def ask_leftovers(parent: QWidget, host: str, found: list[Found]) -> LeftoverChoice | None:
    """The real question, window-modal (:data:`Ask`)."""
    box = QMessageBox(parent)
    box.setObjectName("leftoversDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(f"Left on {host}")
    box.setText(f"Interrupted jobs left {plural(len(found), 'thing')} on {host}")
    rows = "".join(
        f"<li>{html.escape(f.text)}<br><small>{html.escape(f.item.job)}</small></li>" for f in found
    )
    box.setInformativeText(
        "The connection to the host was lost before these jobs could remove what they had "
        f"made:<ul>{rows}</ul>Remove them now?"
    )
    answers = [
        Answer("&Remove", QMessageBox.ButtonRole.DestructiveRole, "leftoversRemoveButton", REMOVE),
        Answer("&Keep on the Host", QMessageBox.ButtonRole.RejectRole, "leftoversKeepButton", KEEP),
        Answer("Ask Me &Later", QMessageBox.ButtonRole.RejectRole, "leftoversLaterButton", None),
    ]
    return await ask_buttons(box, answers, default=2)


class LeftoverWatch(QObject):
    """Offers to remove what interrupted jobs left on each host that connects.

    Args:
        controller: the hosts.
        shell: the window (spawns the checks, shows the outcome).
        parent: owns this object.
        book: the leftover book (default: the user's).
        ask: the question (tests may answer it themselves).
    """

    def __init__(
        self,
        controller: HostController,
        shell: Shell,
        parent: QObject,
        *,
        book: LeftoverBook | None = None,
        ask: Ask = ask_leftovers,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._shell = shell
        self._book = book or LeftoverBook()
        self._ask = ask
        self._busy: set[str] = set()
        controller.statusChanged.connect(self._on_controller_status_changed)

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        if status.state is ConnectionState.CONNECTED and status.uri not in self._busy:
            self._busy.add(status.uri)
            self._shell.spawn(self._check(status.uri))

    async def _check(self, uri: str) -> None:
        try:
            await self._offer(uri)
        finally:
            self._busy.discard(uri)

    async def _offer(self, uri: str) -> None:
        host = self._controller.host(uri)
        label = self._controller.label_or_uri(uri)
        try:
            found = await review(host, self._book)
        except VmguiError as exc:  # the book or the host: say so once, ask again next time
            _log.warning("leftovers on %s: %s", uri, exc)
            self._shell.notify(f"Could not look for leftovers on {label}: {exc.summary}")
            return
        if not found:
            return
        choice = await self._ask(self._shell.dialog_parent, label, found)
        if choice is LeftoverChoice.KEEP:
            self._book.forget([f.item for f in found])
            self._shell.notify(f"Kept {plural(len(found), 'leftover')} on {label}")
        elif choice is LeftoverChoice.REMOVE:
            removed, failed = await remove_found(host, self._book, found)
            if failed:
                self._shell.show_error(
                    VmguiError(f"Could not remove everything left on {label}", "; ".join(failed))
                )
            else:
                self._shell.notify(f"Removed {plural(len(removed), 'leftover')} from {label}")
