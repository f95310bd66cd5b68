"""Feeds the guest model from the host controller's signals."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject

from vmgui.core.model import GuestInfo
from vmgui.ui.controller import HostController
from vmgui.ui.guests.model import GuestModel

_log = logging.getLogger(__name__)


class GuestListBinder(QObject):
    """Copies every host's guest news into a :class:`GuestModel`, by diff.

    A host's full list replaces its rows; one guest's change updates its row; a removed
    guest or host takes its rows away.

    Args:
        controller: the hosts.
        model: the model to keep current.
    """

    def __init__(
        self, controller: HostController, model: GuestModel, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._model = model
        controller.hostRemoved.connect(self._on_controller_host_removed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)

    def _on_controller_host_removed(self, uri: str) -> None:
        self._model.reset_host(uri, [])

    def _on_controller_guests_reset(self, uri: str, guests: list[GuestInfo]) -> None:
        self._model.reset_host(uri, guests)
        if guests:
            _log.info("listed %d guests of %s", len(guests), uri)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        self._model.update_guest(guest)

    def _on_controller_guest_removed(self, uri: str, uuid: str) -> None:
        self._model.remove_guest(uri, uuid)
