"""The console window against ``remote-viewer`` on one 720x400 guest whose screen keeps changing.

The guest is ``tests/integration/rfbguest.py``'s (std VGA text console, VNC on libvirt's socket
only). A shell loop on its tty1 prints a number every 10 ms for the measuring window, so qemu
sends updates as fast as its refresh timer allows (~30/s). In one run, side by side:

* vmgui: a ``consoleWindow`` in this process (xcb on Xvfb): open -> first frame, updates/s,
  CPU % of this process over the window, then on the still screen key press -> first frame
  whose pixels changed (p50/p95);
* remote-viewer: ``virt-viewer --attach -c qemu:///system NAME`` (openGraphicsFD, like vmgui;
  Debian ``virt-viewer``): start -> window mapped, and its CPU % (/proc) over the same kind of
  window. Its updates/s and key latency are not observable from outside without an X damage
  client; qemu sends both clients the same ~30 updates/s.

1920x1080 (a bochs-drm kernel guest) is not measured here yet.

Run: ``python -m tests.benchmarks.bench_console [--seconds 10] [--keys 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import benchlib
from tests.integration import rfbguest
from vmgui.core.rfb.keys import type_text
from vmgui.core.rfb.pixels import Pixels, Rect

PREFIX = "vmgui-con-bench-"
LOOP = "i=0; while [ $i -lt {n} ]; do echo $i$RANDOM; usleep 10000; i=$((i+1)); done >/dev/tty1\n"
_TICK = os.sysconf("SC_CLK_TCK")


def _painted(image: object) -> bool:
    """Whether the console shows the guest's screen (not the black one before the first update)."""
    from PySide6.QtGui import QImage

    assert isinstance(image, QImage)
    if image.isNull():
        return False
    data = np.frombuffer(image.constBits(), dtype=np.uint32)
    return bool(np.any(data != np.uint32(0xFF000000)))


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def boot(conn: Any) -> rfbguest.RfbGuest:
    made = rfbguest.create(conn)
    name = made.name.replace(rfbguest.PREFIX, PREFIX)
    xml = made.xml.replace(f"<name>{made.name}</name>", f"<name>{name}</name>")
    conn.lookupByName(made.name).undefine()
    conn.defineXML(xml)
    guest = rfbguest.RfbGuest(name, made.directory, made.console_log, xml)
    conn.lookupByName(name).create()
    rfbguest.wait_for(lambda: rfbguest.PROMPT in guest.console(), 60, "the guest's prompt")
    return guest


@dataclass(frozen=True, slots=True)
class Figures:
    """vmgui's figures."""

    first: list[float]
    rate: float
    cpu: float
    keys: list[float]


@dataclass(frozen=True, slots=True)
class Viewer:
    """remote-viewer's figures."""

    mapped: float | None
    cpu: float


async def measure_vmgui(uri: str, name: str, seconds: float, keys: int) -> Figures:
    from vmgui.ui.console import ConsoleManager, Phase
    from vmgui.ui.controller import HostController
    from vmgui.ui.dialogs import QtDialogs

    controller = HostController()
    controller.add_host(uri, save=False)
    await controller.connect_host(uri)
    guest = next(g for g in controller.host(uri).guests.values() if g.name == name)
    manager = ConsoleManager(controller, QtDialogs())
    frames: list[float] = []
    firsts: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        (window,) = manager.open([guest])
        while not _painted(window.console.screenshot()):
            await asyncio.sleep(0.001)
        firsts.append(time.perf_counter() - start)
        window.close()
        while manager.tasks.running:
            await asyncio.sleep(0.01)
    (window,) = manager.open([guest])
    session = window.session
    while session.state.phase is not Phase.LIVE:
        await asyncio.sleep(0.01)
    original = session.vnc_frame

    def counting(framebuffer: Pixels, damage: tuple[Rect, ...]) -> None:
        frames.append(time.perf_counter())
        original(framebuffer, damage)

    session.vnc_frame = counting  # type: ignore[method-assign]  # count what qemu sends
    vnc = session.vnc
    assert vnc is not None
    n = int(seconds * 100) + 300
    vnc.send_keys(type_text(LOOP.format(n=n)))
    await asyncio.sleep(1.0)  # the loop is running
    frames.clear()
    cpu0, t0 = _cpu_self(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = _cpu_self() - cpu0, time.perf_counter() - t0
    rate = len(frames) / wall
    await asyncio.sleep(max(0.0, n / 100 - seconds) + 4.0)  # the loop ends; qemu backs off
    latencies: list[float] = []
    for _ in range(keys):
        before = session.vnc.framebuffer.copy() if session.vnc is not None else None
        frames.clear()
        sent = time.perf_counter()
        vnc.send_keys(type_text("x"))
        deadline = sent + 3.0
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
            fb = session.vnc.framebuffer if session.vnc is not None else None
            if frames and fb is not None and before is not None and not np.array_equal(fb, before):
                latencies.append(frames[-1] - sent)
                break
        await asyncio.sleep(0.3)
    vnc.send_keys(type_text("\n"))
    window.close()
    while manager.tasks.running:
        await asyncio.sleep(0.01)
    await controller.close_all()
    return Figures(firsts, rate, 100 * cpu / wall, latencies)


def measure_remote_viewer(
    display: str, uri: str, name: str, seconds: float, conn: Any
) -> Viewer | None:
    exe = shutil.which("virt-viewer")
    if exe is None:
        return None
    # Start the loop first (qemu drops a shared client when remote-viewer connects).
    n = int(seconds * 100) + 1000
    pair = _typing_socket(conn, name)
    _send(pair, LOOP.format(n=n))
    time.sleep(0.5)
    pair[0].close()
    watcher = benchlib.WindowWatcher(display, f"{name} (1)")  # its title
    watcher.start()
    env = {**os.environ, "DISPLAY": display}
    env.pop("QT_QPA_PLATFORM", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [exe, "--attach", "-c", uri, name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        watcher.found.wait(20)
        mapped = watcher.mapped_at - start if watcher.mapped_at is not None else None
        time.sleep(2.0)
        cpu0, t0 = _cpu_of(proc.pid), time.perf_counter()
        time.sleep(seconds)
        cpu, wall = _cpu_of(proc.pid) - cpu0, time.perf_counter() - t0
        return Viewer(mapped, 100 * cpu / wall)
    finally:
        watcher.stop()
        proc.terminate()
        proc.wait(10)


def _typing_socket(conn: Any, name: str) -> tuple[Any, Any]:
    """A second (shared) RFB client that only types, synchronously."""
    import socket

    import libvirt

    from vmgui.core.rfb.protocol import RfbClient

    dom = conn.lookupByName(name)
    sock = socket.socket(fileno=dom.openGraphicsFD(0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH))
    client = RfbClient()
    while client.width == 0:
        client.feed(sock.recv(1 << 20))
        sock.sendall(client.pending_output())
    return (sock, client)


def _send(pair: tuple[Any, Any], text: str) -> None:
    sock, client = pair
    client.key_events(type_text(text))
    sock.sendall(client.pending_output())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_console")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keys", type=int, default=20)
    args = parser.parse_args(argv)
    uri = "qemu:///system"
    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()
    with benchlib.x_display() as display:
        if display is None:
            print("no X display (Xvfb missing)")
            return 1
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        import qasync
        from PySide6.QtWidgets import QApplication

        from vmgui.virt.events import ensure_event_loop

        ensure_event_loop()
        conn = benchlib.open_raw(uri)
        guest = boot(conn)
        try:
            app = QApplication([])
            app.setQuitOnLastWindowClosed(False)
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            ours = loop.run_until_complete(measure_vmgui(uri, guest.name, args.seconds, args.keys))
            theirs = measure_remote_viewer(display, uri, guest.name, args.seconds, conn)
        finally:
            rfbguest.remove(conn, guest)
    first, keys = ours.first, ours.keys
    p50 = benchlib.percentile(keys, 50) * 1000 if keys else float("nan")
    p95 = benchlib.percentile(keys, 95) * 1000 if keys else float("nan")
    rows = [
        [
            "open -> first frame",
            f"{benchlib.median(first) * 1000:.0f} ms (max {max(first) * 1000:.0f})",
            f"{benchlib.fmt_s(theirs.mapped)} (window mapped)" if theirs else "n/a",
        ],
        ["updates/s (screen changing)", f"{ours.rate:.1f}", "n/a (same qemu cap)"],
        ["CPU % (screen changing)", f"{ours.cpu:.1f}", f"{theirs.cpu:.1f}" if theirs else "n/a"],
        ["key -> changed pixels p50 / p95", f"{p50:.0f} / {p95:.0f} ms", "not measured"],
    ]
    benchlib.print_table("console at 720x400", ["figure", "vmgui", "remote-viewer"], rows)
    benchlib.hard_exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
