"""The details pane's live screenshot of the selected guest (issue 9, thumbnails).

:class:`ThumbnailPresenter` takes a screenshot of the guest the pane shows while it runs —
``virDomainScreenshot`` on the host's worker (:func:`vmgui.virt.screenshot.fetch_screenshot`)
— at most every :data:`REFRESH_MS`, and never of a guest that is not selected. A shut-off
guest has none (hidden); a driver that cannot take screenshots says so in the tooltip of a
one-line note, without an error dialog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.ui.controller import HostController
from vmgui.ui.shell import Shell
from vmgui.virt.connection import HostConnection
from vmgui.virt.screenshot import Screenshot, fetch_screenshot

_log = logging.getLogger(__name__)

#: The shortest time between two screenshots of the shown guest (ms).
REFRESH_MS = 5000
#: The note shown where a screenshot cannot be taken (the reason is its tooltip).
UNAVAILABLE_TEXT = "No screenshot of this guest"
#: The widest a thumbnail is painted (px): a glance at the screen, not a second console.
MAX_WIDTH = 360

Fetch = Callable[[HostConnection, str, str], Awaitable[Screenshot]]


class GuestThumbnail(QWidget):
    """The screenshot, scaled to the pane's width, at most :data:`MAX_WIDTH` (never above its
    own size).

    objectName ``guestThumbnail``; hidden while there is nothing to show.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guestThumbnail")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._image = QImage()
        self._note = ""
        self.hide()

    @property
    def image(self) -> QImage:
        """The screenshot shown (null when none)."""
        return self._image

    @property
    def note(self) -> str:
        """The note shown instead of a screenshot ("" when none)."""
        return self._note

    def set_image(self, image: QImage) -> None:
        """Show ``image``."""
        self._image, self._note = image, ""
        self.setToolTip("The guest's screen (refreshed every few seconds)")
        self._changed()

    def set_unavailable(self, reason: str) -> None:
        """Say that there is no screenshot, and why (in the tooltip)."""
        self._image, self._note = QImage(), UNAVAILABLE_TEXT
        self.setToolTip(reason)
        self._changed()

    def clear(self) -> None:
        """Show nothing (hidden)."""
        self._image, self._note = QImage(), ""
        self.setToolTip("")
        self.hide()

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        if self._image.isNull():
            return self.fontMetrics().height() + 4
        shown = min(width, self._image.width(), MAX_WIDTH)
        return max(1, round(shown * self._image.height() / self._image.width()))

    def sizeHint(self) -> QSize:  # noqa: N802
        if self._image.isNull():
            return QSize(200, self.heightForWidth(200))
        width = min(self._image.width(), MAX_WIDTH)
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, self.heightForWidth(max(self.width(), 1)))

    def shown_rect(self) -> QRect:
        """Where the image is painted, in widget coordinates."""
        if self._image.isNull():
            return QRect()
        width = min(self.width(), self._image.width(), MAX_WIDTH)
        height = self.heightForWidth(width)
        return QRect(0, 0, width, height)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        if self._image.isNull():
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft, self._note)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.shown_rect(), self._image)

    def _changed(self) -> None:
        self.show()
        self.updateGeometry()
        self.update()


class ThumbnailPresenter(QObject):
    """Keeps a :class:`GuestThumbnail` showing the selected guest's screen while it runs.

    Args:
        view: the thumbnail.
        shell: the window (owns the screenshot tasks).
        controller: the hosts.
        fetch: takes a screenshot (tests pass a fake).
        interval_ms: the time between screenshots.
    """

    def __init__(
        self,
        view: GuestThumbnail,
        shell: Shell,
        controller: HostController,
        *,
        fetch: Fetch = fetch_screenshot,
        interval_ms: int = REFRESH_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._view = view
        self._shell = shell
        self._controller = controller
        self._fetch = fetch
        self._guest: GuestInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self._fetches = 0  # numbers the fetches: a finished one clears only its own task
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        controller.guestChanged.connect(self._on_controller_guest_changed)

    def show(self, guest: GuestInfo | None) -> None:
        """Follow ``guest`` (the selected one; None: no guest, no screenshots)."""
        same = guest is not None and self._guest is not None and guest.key == self._guest.key
        if same:
            return
        self._stop()
        self._guest = guest
        self._view.clear()
        self._refresh_now()

    def _stop(self) -> None:
        self._fetches += 1
        self._timer.stop()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _refresh_now(self) -> None:
        guest = self._guest
        if guest is None or not guest.is_active:
            self._stop()
            self._view.clear()
            return
        if self._task is None:
            self._fetches += 1
            self._task = self._shell.spawn(self._take(guest, self._fetches))

    def _is_shown(self, key: tuple[str, str]) -> bool:
        return self._guest is not None and self._guest.key == key

    async def _take(self, guest: GuestInfo, number: int) -> None:
        try:
            try:
                host = self._controller.host(guest.host_uri)
                shot = await self._fetch(host, guest.uuid, guest.name)
            except KeyError:
                return  # the host was removed meanwhile
            except VmguiError as exc:
                if self._is_shown(guest.key):
                    _log.info("no screenshot of %s: %s", guest.name, exc)
                    self._view.set_unavailable(f"{exc.summary}: {exc.details}")
                return  # not again until the guest changes or is chosen again
            image = QImage.fromData(shot.data)
            if not self._is_shown(guest.key):
                return
            if image.isNull():
                self._view.set_unavailable(f"The screenshot ({shot.mime_type}) could not be read")
                return
            self._view.set_image(image)
            self._timer.start()
        finally:
            if number == self._fetches:
                self._task = None

    def _on_timer_timeout(self) -> None:
        if not self._view.isVisible():  # another tab is in front, or the window is minimised
            self._timer.start()  # look again later; a screenshot nobody sees costs CPU
            return
        self._refresh_now()

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        if not self._is_shown(guest.key):
            return
        old, self._guest = self._guest, guest
        if old is not None and old.is_active == guest.is_active and self._timer.isActive():
            return
        self._stop()
        self._refresh_now()
