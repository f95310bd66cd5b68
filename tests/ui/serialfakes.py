"""A fake serial console stream and its opener for the Serial tab tests (no libvirt stream)."""

from __future__ import annotations

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.virt.connection import HostConnection
from vmgui.virt.serial import SerialObserver


class FakeSerial:
    """Stands in for a SerialConsole: remembers what was sent, ends when told."""

    def __init__(
        self, observer: SerialObserver, guest: GuestInfo, error: VmguiError | None
    ) -> None:
        self.observer = observer
        self.guest = guest
        self.error = error
        self.forced: list[bool] = []
        self.sent = bytearray()
        self.closed_by_us = False
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self, *, force: bool = False) -> None:
        self.forced.append(force)
        if self.error is not None:
            raise self.error
        self._open = True

    def send(self, data: bytes) -> None:
        if not self._open:
            raise VmguiError("The serial console is not open")
        self.sent += data

    async def close(self) -> None:
        self._open = False
        self.closed_by_us = True

    def prints(self, data: bytes) -> None:
        """The guest printed ``data``."""
        self.observer.data(data)

    def ends(self, reason: str) -> None:
        """The stream ended by itself (guest stopped, taken over, ...)."""
        self._open = False
        self.observer.closed(reason)


class FakeSerialOpener:
    """Makes FakeSerial streams; each fails to open with ``error`` if set."""

    def __init__(self) -> None:
        self.made: list[FakeSerial] = []
        self.error: VmguiError | None = None

    def __call__(
        self, host: HostConnection, guest: GuestInfo, observer: SerialObserver
    ) -> FakeSerial:
        stream = FakeSerial(observer, guest, self.error)
        self.made.append(stream)
        return stream

    def live(self) -> list[FakeSerial]:
        """The streams open now."""
        return [stream for stream in self.made if stream.is_open]
