"""A fake VNC session and opener for the console window tests (no socket, no qemu)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import numpy as np

from vmgui.core.errors import VmguiError
from vmgui.core.rfb.pixels import Pixels, Rect
from vmgui.virt.connection import HostConnection
from vmgui.virt.vnc import VncObserver


def frame(width: int = 720, height: int = 400, seed: int = 1) -> Pixels:
    """A framebuffer of random opaque pixels."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 1 << 24, size=(height, width), dtype=np.uint32)
    return pixels | np.uint32(0xFF000000)


class FakeVnc:
    """Stands in for a VncSession: remembers input, closes when told."""

    def __init__(self, observer: VncObserver, uuid: str, framebuffer: Pixels) -> None:
        self.observer = observer
        self.uuid = uuid
        self._framebuffer = framebuffer
        self._closed = False
        self.keys: list[tuple[int, bool]] = []
        self.pointer: list[tuple[int, int, int]] = []
        self.clipboard: list[str] = []
        self.updates: list[bool] = []

    @property
    def framebuffer(self) -> Pixels:
        return self._framebuffer

    @property
    def closed(self) -> bool:
        return self._closed

    def send_keys(self, transitions: Iterable[tuple[int, bool]]) -> None:
        self.keys += list(transitions)

    def send_pointer(self, x: int, y: int, buttons: int = 0) -> None:
        self.pointer.append((x, y, buttons))

    def send_clipboard(self, text: str) -> None:
        self.clipboard.append(text)

    def set_updates_enabled(self, enabled: bool) -> None:
        self.updates.append(enabled)

    async def close(self) -> None:
        self.server_closes()

    def server_closes(self) -> None:
        """The display went away (the guest stopped, or its qemu was replaced)."""
        if not self._closed:
            self._closed = True
            self.observer.vnc_closed(None)


class FakeOpener:
    """Opens FakeVnc sessions (or fails with ``error``); the first frame comes at once."""

    def __init__(self) -> None:
        self.opened: list[FakeVnc] = []
        self.error: VmguiError | None = None
        self.gate: asyncio.Event | None = None  # set: opens wait for it (still connecting)

    async def __call__(
        self, host: HostConnection, uuid: str, observer: VncObserver, *, via_ssh: bool = False
    ) -> FakeVnc:
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        vnc = FakeVnc(observer, uuid, frame(seed=len(self.opened) + 1))
        self.opened.append(vnc)
        observer.vnc_frame(vnc.framebuffer, (Rect(0, 0, 720, 400),))  # before start() returns
        return vnc

    def live(self) -> list[FakeVnc]:
        """The sessions not closed."""
        return [vnc for vnc in self.opened if not vnc.closed]
