"""The console window against ``remote-viewer`` on one guest whose screen keeps changing, at
720x400 (std VGA text) and 1920x1080 (bochs-drm fbcon, ``bochsguest.py``), and through an SSH
tunnel (``qemu+ssh`` to this machine through a loopback sshd).

Each guest is ``tests/integration/rfbguest.py``'s (VNC on 127.0.0.1, which the local console
ignores: it uses libvirt's socket). A shell loop on its tty1 prints a number every 10 ms, so
qemu sends updates as fast as its refresh timer allows (~30/s). Measured the same way, from
outside, for both clients on the same X server (Xvfb):

* **updates/s**: paints of the client's window, from X DAMAGE events (a burst of drawing
  within 15 ms is one paint: qemu sends at most one update per ~30 ms) while the screen
  changes; for vmgui also the RFB updates it decoded;
* **CPU %**: vmgui = this process (minus the DAMAGE watcher thread), remote-viewer = its
  process (/proc), over the same window;
* **key -> changed pixels** p50/p95: an XTest key press into the focused window -> the first
  paint (DAMAGE event) after which the window's pixels (XGetImage) are those it settles on
  (the echoed character), not merely different (remote-viewer repaints locally on a key);
* **open -> first frame**: vmgui's ``consoleWindow`` open -> guest pixels painted (5 opens in
  this process), and the first Open Console of a fresh ``vmgui.app.main`` process 2 s after
  start (``bench_console_first.py``: the console feature is preloaded at 600 ms);
  remote-viewer: start -> window mapped.

remote-viewer is ``virt-viewer --attach`` (Debian ``virt-viewer``; libvirt's socket, as vmgui).
Through the tunnel (vmgui only): first frame (the first open logs in, later opens reuse the
host's SSH session) and updates/s.

Run (2560x1600 Xvfb of its own unless DISPLAY is set):
``python -m tests.benchmarks.bench_console [--seconds 8] [--keys 20] [--no-1080p] [--no-ssh]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import benchlib, bochsguest
from tests.benchmarks.benchx11 import DamageWatcher, KeyPresser, bursts
from tests.integration import rfbguest
from vmgui.core.rfb.keys import type_text
from vmgui.core.rfb.pixels import Pixels, Rect

PREFIX = "vmgui-con-bench-"
LOOP = "i=0; while [ $i -lt {n} ]; do echo $i$RANDOM; usleep 10000; i=$((i+1)); done >/dev/tty1\n"
_TICK = os.sysconf("SC_CLK_TCK")


def _painted(image: Any) -> bool:
    """Whether the console shows the guest's screen (not the black one before the first update)."""
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


def boot(conn: Any, big: bool) -> rfbguest.RfbGuest:
    """A booted guest at 720x400 or (``big``) 1920x1080, VNC also on 127.0.0.1 (the tunnel)."""
    if big:
        guest = bochsguest.create(conn, PREFIX, listen="127.0.0.1")
    else:
        guest = rfbguest.create(conn, prefix=PREFIX, listen="127.0.0.1")
    conn.lookupByName(guest.name).create()
    rfbguest.wait_for(lambda: rfbguest.PROMPT in guest.console(), 90, "the guest's prompt")
    return guest


@dataclass(frozen=True, slots=True)
class Side:
    """One client's figures (None: not measured for this client)."""

    first: list[float] | None
    rfb_rate: float | None
    x_rate: float
    cpu: float
    keys: list[float]


def loop_seconds(seconds: float) -> tuple[int, float]:
    """(iterations, how long to wait after the window) for a loop that outlasts ``seconds``."""
    n = int(seconds * 100) + 300
    return n, max(0.0, n / 100 - seconds) + 4.0  # + qemu's refresh backing off


async def quiet(damage: DamageWatcher, still: float = 0.6, timeout: float = 30.0) -> None:
    """Wait until the window has not been painted for ``still`` s (the guest's loop ended)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not damage.since(time.perf_counter() - still):
            return
        await asyncio.sleep(0.1)
    print("  (the screen did not become still)")


async def key_latencies(presser: KeyPresser, damage: DamageWatcher, count: int) -> list[float]:
    """XTest key presses -> the window's first paint showing the guest's answer (s).

    No tight polling here: a loop of short sleeps on the Qt thread starves Qt's (low
    priority) paint requests, which would delay vmgui's own paints in this process.
    """
    latencies = []
    await quiet(damage)
    for _ in range(count):
        await asyncio.to_thread(damage.arm)
        sent = presser.press("x")
        await asyncio.sleep(1.0)  # qemu answers within its refresh interval (< 1 s here)
        shown = await asyncio.to_thread(damage.settle)
        if shown is not None:
            latencies.append(shown - sent)
        await asyncio.sleep(0.2)
    return latencies


async def measure_vmgui(
    uri: str, name: str, display: str, seconds: float, keys: int, *, label: str
) -> Side:
    from vmgui.ui.console import ConsoleManager, Phase
    from vmgui.ui.controller import HostController
    from vmgui.ui.dialogs import QtDialogs

    controller = HostController()
    controller.add_host(uri, save=False)
    await controller.connect_host(uri)
    guest = next(g for g in controller.host(uri).guests.values() if g.name == name)
    manager = ConsoleManager(controller, QtDialogs())
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
    frames: list[float] = []
    original = session.vnc_frame

    def counting(framebuffer: Pixels, damage: tuple[Rect, ...]) -> None:
        frames.append(time.perf_counter())
        original(framebuffer, damage)

    session.vnc_frame = counting  # type: ignore[method-assign]  # count what qemu sends
    vnc = session.vnc
    assert vnc is not None
    presser = KeyPresser(display)
    wid = int(window.winId())
    presser.focus(wid)
    window.console.setFocus()
    damage = DamageWatcher(display, wid)
    damage.start()
    n, after = loop_seconds(seconds)
    vnc.send_keys(type_text(LOOP.format(n=n)))
    await asyncio.sleep(1.0)  # the loop is running
    frames.clear()
    # The DAMAGE watcher's thread runs in this process: its CPU is not vmgui's.
    cpu0, t0 = _cpu_self() - damage.thread_cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, t1 = _cpu_self() - damage.thread_cpu() - cpu0, time.perf_counter()
    paints = bursts([t for t in damage.since(t0) if t <= t1])
    rfb = len([t for t in frames if t <= t1])
    await asyncio.sleep(after)
    latencies = await key_latencies(presser, damage, keys)
    damage.stop()
    presser.close()
    vnc.send_keys(type_text("\n"))
    manager.close_all()  # the window, then the tunnels' SSH session
    while manager.tasks.running:
        await asyncio.sleep(0.01)
    await controller.close_all()
    wall = t1 - t0
    print(f"  [{label}] measured", flush=True)
    return Side(firsts, rfb / wall, paints / wall, 100 * cpu / wall, latencies)


def measure_remote_viewer(
    loop: Any, display: str, uri: str, name: str, seconds: float, keys: int, conn: Any
) -> tuple[float | None, Side] | None:
    exe = shutil.which("virt-viewer")
    if exe is None:
        return None
    # Start the loop first (qemu drops a shared client when remote-viewer connects).
    n, after = loop_seconds(seconds + 3)
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
        if watcher.window is None:
            return mapped, Side(None, None, float("nan"), float("nan"), [])
        presser = KeyPresser(display)
        presser.focus(watcher.window)
        damage = DamageWatcher(display, watcher.window)
        damage.start()
        time.sleep(2.0)
        cpu0, t0 = _cpu_of(proc.pid), time.perf_counter()
        time.sleep(seconds)
        cpu, t1 = _cpu_of(proc.pid) - cpu0, time.perf_counter()
        paints = bursts([t for t in damage.since(t0) if t <= t1])
        time.sleep(after - 2.0)
        latencies = loop.run_until_complete(key_latencies(presser, damage, keys))
        damage.stop()
        presser.close()
        wall = t1 - t0
        return mapped, Side(None, None, paints / wall, 100 * cpu / wall, latencies)
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


def first_open_fresh(display: str, uri: str, name: str, runs: int = 3) -> list[float]:
    """The first Open Console of fresh ``vmgui.app.main`` processes (ms)."""
    figures = []
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    root = Path(__file__).resolve().parents[2]
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env.update({f"XDG_{k}_HOME": f"{home}/{k.lower()}" for k in ("CONFIG", "DATA")})
            out = subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.bench_console_first", uri, name],
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        if lines.get("preloaded") != "yes":
            print(f"  (first open without the preload: {out.strip()!r})")
        figures.append(float(lines.get("first-open-ms", "nan")))
    return figures


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95 = benchlib.percentile(values, 50) * 1000, benchlib.percentile(values, 95) * 1000
    return f"{p50:.0f} / {p95:.0f} ms (n={len(values)})"


def run_size(
    loop: Any, conn: Any, display: str, sshd: Any, args: argparse.Namespace, big: bool
) -> None:
    uri = "qemu:///system"
    guest = boot(conn, big)
    label = "1920x1080" if big else "720x400"
    try:
        if big:
            dom = conn.lookupByName(guest.name)
            rfbguest.wait_for(lambda: _screen_width(dom) == 1920, 30, "fbcon at 1080p")
        ours = loop.run_until_complete(
            measure_vmgui(uri, guest.name, display, args.seconds, args.keys, label=label)
        )
        fresh = first_open_fresh(display, uri, guest.name) if not big else []
        tunnel = None
        if sshd is not None:
            tunnel = loop.run_until_complete(
                measure_vmgui(
                    sshd.uri_ssh(),
                    guest.name,
                    display,
                    args.seconds,
                    args.keys,
                    label=f"{label} ssh",
                )
            )
        theirs = measure_remote_viewer(
            loop, display, uri, guest.name, args.seconds, args.keys, conn
        )
    finally:
        rfbguest.remove(conn, guest)
    first = ours.first or []
    mapped, viewer = theirs if theirs is not None else (None, None)
    rows = [
        [
            "open -> first frame (5 opens)",
            f"{benchlib.median(first) * 1000:.0f} ms (first {first[0] * 1000:.0f}, "
            f"max {max(first) * 1000:.0f})",
            f"{benchlib.fmt_s(mapped)} (window mapped)" if theirs else "n/a",
        ],
        [
            "first open of a fresh app (2 s after start)",
            ", ".join(f"{v:.0f}" for v in fresh) + " ms" if fresh else "-",
            "-",
        ],
        [
            "window paints/s (X DAMAGE, screen changing)",
            f"{ours.x_rate:.1f} (RFB updates {ours.rfb_rate or 0:.1f}/s)",
            f"{viewer.x_rate:.1f}" if viewer else "n/a",
        ],
        ["CPU % (screen changing)", f"{ours.cpu:.1f}", f"{viewer.cpu:.1f}" if viewer else "n/a"],
        ["key -> window paint p50 / p95", _ms(ours.keys), _ms(viewer.keys) if viewer else "n/a"],
    ]
    if tunnel is not None:
        tf = tunnel.first or []
        rows += [
            [
                "qemu+ssh tunnel: open -> first frame",
                f"first {tf[0] * 1000:.0f} ms (login), then median "
                f"{benchlib.median(tf[1:]) * 1000:.0f} ms",
                "-",
            ],
            [
                "qemu+ssh tunnel: paints/s, CPU %",
                f"{tunnel.x_rate:.1f} (RFB {tunnel.rfb_rate or 0:.1f}/s), {tunnel.cpu:.1f} %",
                "-",
            ],
            ["qemu+ssh tunnel: key -> paint p50 / p95", _ms(tunnel.keys), "-"],
        ]
    benchlib.print_table(f"console at {label}", ["figure", "vmgui", "remote-viewer"], rows)


def _screen_width(dom: Any) -> int:
    from tests.integration.test_vnc_real import screenshot

    return int(screenshot(dom).shape[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_console")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--no-1080p", action="store_true")
    parser.add_argument("--no-ssh", action="store_true")
    args = parser.parse_args(argv)
    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()
    with benchlib.x_display("2560x1600x24") as display, tempfile.TemporaryDirectory() as tmp:
        if display is None:
            print("no X display (Xvfb missing)")
            return 1
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        import qasync
        from PySide6.QtWidgets import QApplication

        from tests.services.sshd import LoopbackSshd
        from vmgui.virt.events import ensure_event_loop

        ensure_event_loop()
        conn = benchlib.open_raw("qemu:///system")
        sshd = None if args.no_ssh else LoopbackSshd.start(Path(tmp), port=_free_port())
        try:
            app = QApplication([])
            app.setQuitOnLastWindowClosed(False)
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            for big in (False, True) if not args.no_1080p else (False,):
                run_size(loop, conn, display, sshd, args, big)
        finally:
            if sshd is not None:
                sshd.stop()
    print("remote-viewer:", _version("virt-viewer"))
    benchlib.hard_exit(0)
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version(program: str) -> str:
    exe = shutil.which(program)
    if exe is None:
        return "not installed"
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
