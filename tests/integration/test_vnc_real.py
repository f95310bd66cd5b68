"""vmgui's RFB client against qemu's VNC server on the real daemon (one booted guest).

The guest (``rfbguest.py``) boots with std VGA, VNC on libvirt's socket only and a shell on
tty1 whose output is teed to the serial log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import libvirt
import numpy as np
import pytest
from PySide6.QtGui import QImage

from tests.conftest import wait_until
from tests.integration import rfbguest
from tests.integration.helpers import Run, connect
from tests.integration.lab import Lab
from vmgui.core.errors import VmguiError
from vmgui.core.rfb.pixels import Pixels, Rect
from vmgui.virt.connection import HostConnection
from vmgui.virt.vnc import VncSession, open_graphics_socket, open_vnc_session

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 60.0


@dataclass
class Watcher:
    """A VncObserver that remembers what it was told."""

    resizes: list[tuple[int, int]] = field(default_factory=list)
    frames: int = 0
    first_frame_at: float = 0.0
    last_frame_at: float = 0.0
    closed: list[VmguiError | None] = field(default_factory=list)

    def vnc_resized(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    def vnc_frame(self, framebuffer: Pixels, damage: tuple[Rect, ...]) -> None:
        now = time.perf_counter()
        self.frames += 1
        self.first_frame_at = self.first_frame_at or now
        self.last_frame_at = now

    def vnc_clipboard(self, text: str) -> None:
        """Not used here."""

    def vnc_bell(self) -> None:
        """Not used here."""

    def vnc_closed(self, error: VmguiError | None) -> None:
        self.closed.append(error)


@dataclass
class Console:
    """The module's booted guest and the session opened on it before it booted."""

    guest: rfbguest.RfbGuest
    dom: libvirt.virDomain
    uuid: str
    host: HostConnection
    session: VncSession
    watcher: Watcher
    size_at_connect: tuple[int, int]


def screenshot(dom: libvirt.virDomain) -> Pixels:
    """``virsh screenshot`` through a stream, as (height, width) 0xFFRRGGBB pixels."""
    conn = dom.connect()
    stream = conn.newStream(0)
    dom.screenshot(stream, 0, 0)
    chunks: list[bytes] = []
    while True:
        data = stream.recv(1 << 20)
        if not data:
            break
        chunks.append(data)
    stream.finish()
    img = QImage.fromData(b"".join(chunks)).convertToFormat(QImage.Format.Format_RGB32)
    assert not img.isNull()
    width, height = img.width(), img.height()
    buffer = np.frombuffer(img.constBits(), dtype=np.uint32, count=img.bytesPerLine() // 4 * height)
    return buffer.reshape(height, -1)[:, :width] | np.uint32(0xFF000000)


def equal_share(a: Pixels, b: Pixels) -> float:
    assert a.shape == b.shape, f"{a.shape} != {b.shape}"
    return float((a == b).mean())


async def matches_screenshot(console: Console, timeout: float = 10.0) -> float:
    """Await the frame equal to ``virsh screenshot`` on >= 99.9 % of pixels; return the share.

    qemu sends changes on its refresh timer, which backs off to seconds while the guest is
    idle, so a change can reach the client up to ~3 s after it is on the screenshot.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        shot = screenshot(console.dom)
        share = equal_share(console.session.framebuffer, shot)
        if share >= 0.999 or loop.time() > deadline:
            return share
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def rfb_host(lab: Lab, mrun: Run) -> Iterator[HostConnection]:
    host, _rec = connect(mrun, lab.uri)
    yield host
    mrun(host.close())


@pytest.fixture(scope="module")
def console(lab: Lab, mrun: Run, rfb_host: HostConnection) -> Iterator[Console]:
    """Boot the guest paused, open a session, resume, wait for the shell prompt."""
    guest = rfbguest.create(lab.conn())
    session: VncSession | None = None
    try:
        dom = lab.conn().lookupByName(guest.name)
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        uuid = dom.UUIDString()
        watcher = Watcher()
        session = mrun(open_vnc_session(rfb_host, uuid, watcher))
        size = (session.framebuffer.shape[1], session.framebuffer.shape[0])
        dom.resume()

        mrun(wait_until(lambda: rfbguest.PROMPT in guest.console(), BOOT_TIMEOUT))
        yield Console(guest, dom, uuid, rfb_host, session, watcher, size)
    finally:
        if session is not None:
            mrun(session.close())
        rfbguest.remove(lab.conn(), guest)


def test_boot_resizes_640x480_to_720x400(console: Console) -> None:
    assert console.size_at_connect == (640, 480)
    assert console.watcher.resizes[0] == (720, 400)
    assert console.session.framebuffer.shape == (400, 720)
    assert console.watcher.frames >= 3
    assert console.watcher.closed == []


def test_frame_equals_virsh_screenshot(console: Console, mrun: Run) -> None:
    share = mrun(matches_screenshot(console))
    print(f"\nframe vs screenshot: {share:.5%} equal")
    assert share >= 0.999


def test_typing_runs_a_command_in_the_guest_shell(console: Console, mrun: Run) -> None:
    console.session.type_text("echo typed-$((6*7))\n")

    mrun(wait_until(lambda: "typed-42" in console.guest.console(), 20))
    assert "echo typed-$((6*7))" in console.guest.console()  # Shift reached $ ( * )
    share = mrun(matches_screenshot(console))
    print(f"\nafter typing, frame vs screenshot: {share:.5%} equal")
    assert share >= 0.999


def test_open_to_first_frame(console: Console, mrun: Run) -> None:
    watcher = Watcher()

    async def open_() -> tuple[float, VncSession]:
        start = time.perf_counter()
        session = await open_vnc_session(console.host, console.uuid, watcher)
        await wait_until(lambda: watcher.frames > 0, 10)
        return watcher.first_frame_at - start, session

    elapsed, session = mrun(open_())
    try:
        print(f"\nopen -> first frame: {elapsed * 1000:.1f} ms (target <= 150 ms)")
        assert np.array_equal(session.framebuffer, console.session.framebuffer)
    finally:
        mrun(session.close())
    assert watcher.closed == [None]
    assert not console.session.closed  # shared: the first session stays


def test_guest_stop_ends_the_session_without_error(
    console: Console, lab: Lab, mrun: Run, rfb_host: HostConnection
) -> None:
    watcher = Watcher()
    session = mrun(open_vnc_session(rfb_host, console.uuid, watcher))
    console.dom.destroy()
    try:
        mrun(wait_until(lambda: bool(watcher.closed), 10))
        assert watcher.closed == [None]
        assert session.closed
        mrun(wait_until(lambda: bool(console.watcher.closed), 10))
    finally:
        mrun(session.close())
    with pytest.raises(VmguiError, match="is not running"):
        mrun(open_graphics_socket(rfb_host, console.uuid))


def test_guest_without_vnc(lab: Lab, mrun: Run, rfb_host: HostConnection) -> None:
    guest = rfbguest.create(lab.conn(), vnc=False)
    try:
        uuid = lab.conn().lookupByName(guest.name).UUIDString()
        with pytest.raises(VmguiError, match="has no VNC display") as info:
            mrun(open_graphics_socket(rfb_host, uuid))
        assert "Switch the guest's display to VNC" in info.value.hint
    finally:
        rfbguest.remove(lab.conn(), guest)


def test_sessions_leave_no_task_behind(mrun: Run) -> None:
    async def pending() -> list[str]:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return [repr(t.get_coro()) for t in tasks if "vnc" in repr(t.get_coro())]

    assert mrun(pending()) == []
