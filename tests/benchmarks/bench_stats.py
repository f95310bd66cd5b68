"""Monitoring cost: vmgui's live usage against virt-manager's, and the Qt time per tick.

Cases (DESIGN.md "Performance targets"):

(a) ``qemu:///system`` with 8 tiny emulated guests running (``vmgui-st-bench-*``, every
    second one with a balloon driver), every stat at 1 s, measured for one minute after
    settling:

    * vmgui: a child process under X (Xvfb) with the main window, live usage installed
      (:func:`vmgui.ui.monitor.install.install_usage`), one guest selected and its Usage tab
      (CPU, memory, disk and network charts) on screen, the sparkline columns painting if the
      guest model has them; the host is polled too. CPU = utime + stime of the process from
      /proc over the minute; memory = VmRSS at its end (1 h history enabled: always on).
    * virt-manager (if installed): the same guests, its memory, disk and network polling
      switched on at 1 s through its GSettings keys (GIO's keyfile backend in a private
      XDG_CONFIG_HOME, so nothing on the machine changes), measured from /proc the same way:
      its manager window with every usage column shown, and its performance page of the
      same guest (``--show-domain-performance``).

(b) A 1000-guest test-driver node (500 running), vmgui as in (a): the Qt-thread time per tick
    (the tick's synchronous Qt-side work: history appends, chart ``setData``, repaint
    requests, timed around the controller's apply step; and the main thread's CPU time per
    tick from /proc/self/task, which also counts painting), and the process CPU per minute.

Run: ``python -m tests.benchmarks.bench_stats [--guests 8] [--seconds 60] [--settle 15]
[--no-virt-manager] [--skip-real] [--skip-node]``
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import benchlib
from tests.benchmarks.benchlib import median, percentile, print_table

TICKS_PER_SECOND = 1.0
VM_SETTINGS = {
    "org.virt-manager.virt-manager.stats": {
        "update-interval": "1",
        "enable-cpu-poll": "true",
        "enable-memory-poll": "true",
        "enable-disk-poll": "true",
        "enable-net-poll": "true",
    },
    "org.virt-manager.virt-manager.vmlist-fields": {
        "cpu-usage": "true",
        "host-cpu-usage": "true",
        "memory-usage": "true",
        "disk-usage": "true",
        "network-traffic": "true",
    },
}


# --------------------------------------------------------------------------------------------
# Guests of this benchmark: vmgui-st-bench-* (other benchmarks use vmgui-bench-*)

IMAGES = Path(os.environ.get("VMGUI_STATS_IMAGES", "/var/lib/libvirt/images/vmgui-stats-it"))
BUILD = benchlib.ROOT / "tests" / "integration" / "tinyguest" / "build.sh"
READY = b"VMGUI-TINY-GUEST-READY"


class StatsGuests:
    """Tiny guests ``vmgui-st-<tag>-<n>`` in :data:`IMAGES` (mode 755, so ``libvirt-qemu``
    reaches them); stale ones with the same tag are removed first, all of them at the end.

    Args:
        conn: a libvirt connection to the system daemon (the benchmark's own).
        tag: names this set of guests.
    """

    def __init__(self, conn: Any, tag: str) -> None:
        self.conn = conn
        self.prefix = f"vmgui-st-{tag}-"
        self.domains: dict[str, Any] = {}
        IMAGES.mkdir(parents=True, exist_ok=True)
        IMAGES.chmod(0o755)
        subprocess.run(["bash", str(BUILD), str(IMAGES)], check=True, stdout=subprocess.DEVNULL)
        self.base = IMAGES / "tiny.qcow2"
        self.remove_all()

    def define(self, suffix: str, *, balloon: bool) -> Any:
        """Define ``<prefix><suffix>`` on a fresh overlay (not started)."""
        from tests.integration.tinyguest.domain import tiny_domain_xml

        name = self.prefix + suffix
        overlay = IMAGES / f"{name}.qcow2"
        base = str(self.base)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, str(overlay)],
            check=True,
        )
        xml = tiny_domain_xml(name, str(overlay), str(IMAGES / f"{name}.log"), balloon=balloon)
        dom = self.conn.defineXML(xml)
        self.domains[name] = dom
        return dom

    def start(self, *names: str, timeout: float = 120.0) -> None:
        """Start guests and wait until each printed its ready marker."""
        for name in names:
            self.domains[name].create()
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout} s: {sorted(waiting)}")
            for name in list(waiting):
                with contextlib.suppress(OSError):
                    if READY in (IMAGES / f"{name}.log").read_bytes():
                        waiting.discard(name)
            time.sleep(0.2)

    def remove_all(self) -> None:
        """Destroy and undefine every guest with this prefix and delete its files (on a
        connection of its own: the daemon may have restarted since ``conn`` opened)."""
        import libvirt

        conn = benchlib.open_raw("qemu:///system")
        for dom in conn.listAllDomains(0):
            if not dom.name().startswith(self.prefix):
                continue
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        conn.close()
        for path in IMAGES.glob(self.prefix + "*"):
            path.unlink(missing_ok=True)
        self.domains.clear()


# --------------------------------------------------------------------------------------------
# /proc


def cpu_seconds(pid: int | str = "self", task: int | None = None) -> float:
    """utime + stime of a process (or one of its threads) in seconds."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    with open(path, encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int | str = "self") -> float:
    """VmRSS of a process in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _pyside_refcount_guard() -> str:
    """PySide6 6.12.0 on Python 3.11 drops references to None/True/False on many calls
    (void methods, ``emit``); the process aborts within a minute with charts on screen.
    Give the singletons the immortality Python 3.12 gives them (this process only)."""
    import PySide6

    if sys.version_info >= (3, 12) or not PySide6.__version__.startswith("6.12."):
        return ""
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    return f"PySide6 {PySide6.__version__} on Python 3.11: refcount guard applied"


# --------------------------------------------------------------------------------------------
# The vmgui child: main window + live usage, one guest's charts on screen


def child(uri: str, select: str, settle: float, seconds: float) -> None:
    """Run vmgui's window on ``uri`` and print one JSON line of figures, then exit."""
    import asyncio

    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()  # QT_NO_GLIB before Qt starts, as app.main does

    guard = _pyside_refcount_guard()
    import qasync
    from PySide6.QtCore import QItemSelectionModel
    from PySide6.QtWidgets import QApplication, QTabWidget, QWidget

    from vmgui.ui.controller import HostController
    from vmgui.ui.dialogs import QtDialogs
    from vmgui.ui.main.window import MainWindow
    from vmgui.ui.monitor.install import install_usage
    from vmgui.virt.events import ensure_event_loop

    ensure_event_loop()
    app = QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = HostController()
    window = MainWindow(controller, QtDialogs())
    window.resize(1280, 760)
    window.show()
    applies: list[float] = []

    async def run() -> dict[str, Any]:
        controller.add_host(uri, save=False)
        await controller.connect_host(uri)
        selection = window.selection
        stats = install_usage(
            selection,
            window.guest_list.view,
            window.guest_list.model,
            window.guest_list.proxy,
            window.side_tabs,
            controller,
        )
        apply = stats.apply

        def timed(result: Any) -> None:
            t0 = time.perf_counter()
            apply(result)  # ends with ticked: the charts and sparklines react inside
            applies.append(time.perf_counter() - t0)

        mock.patch.object(stats, "apply", timed).start()  # the poll path calls self.apply
        proxy = window.guest_list.proxy
        rows = [r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == select]
        if not rows:  # the first running guest
            rows = [
                r for r in range(proxy.rowCount()) if str(proxy.index(r, 1).data()) == "running"
            ][:1]
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        flags |= QItemSelectionModel.SelectionFlag.Rows
        window.guest_list.view.selectionModel().select(proxy.index(rows[0], 0), flags)
        charts = window.findChild(QWidget, "usageCharts")
        tabs = charts.parentWidget() if charts is not None else None
        while tabs is not None and not isinstance(tabs, QTabWidget):
            tabs = tabs.parentWidget()
        if isinstance(tabs, QTabWidget) and charts is not None:
            tabs.setCurrentWidget(charts)
        await asyncio.sleep(settle)
        poller = stats.poller(uri)
        ticks0, skipped0 = (poller.ticks, poller.skipped) if poller else (0, 0)
        applies.clear()
        main_tid = os.getpid()
        cpu0, main0, t0 = cpu_seconds(), cpu_seconds(task=main_tid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, main1, t1 = cpu_seconds(), cpu_seconds(task=main_tid), time.monotonic()
        poller = stats.poller(uri)
        ticks = (poller.ticks - ticks0) if poller else 0
        series = len(stats.guest_keys(uri))
        sparklines = any(
            window.guest_list.view.itemDelegateForColumn(c) is not None
            for c in range(window.guest_list.model.columnCount())
        )
        return {
            "elapsed": t1 - t0,
            "cpu": cpu1 - cpu0,
            "main_cpu": main1 - main0,
            "rss": rss_mib(),
            "ticks": ticks,
            "skipped": (poller.skipped - skipped0) if poller else 0,
            "applies": applies,
            "series": series,
            "charts_visible": bool(charts is not None and charts.isVisible()),
            "sparklines": sparklines,
            "interval": stats.interval,
            "guard": guard,
        }

    with loop:
        figures = loop.run_until_complete(run())
    print("BENCH-STATS " + json.dumps(figures), flush=True)
    benchlib.hard_exit(0)


def run_vmgui(uri: str, select: str, settle: float, seconds: float, env: dict[str, str]) -> Any:
    """Run the child; returns its figures (or raises with its stderr)."""
    argv = [sys.executable, "-m", "tests.benchmarks.bench_stats", "--child", uri, select]
    argv += ["--settle", str(settle), "--seconds", str(seconds)]
    proc = subprocess.run(
        argv,
        cwd=benchlib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=settle + seconds + 180,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-STATS "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"vmgui child failed ({proc.returncode}): {proc.stderr[-2000:]}")


# --------------------------------------------------------------------------------------------
# virt-manager


def run_virt_manager(
    uri: str, extra: list[str], settle: float, seconds: float, env: dict[str, str]
) -> dict[str, Any]:
    """virt-manager with every poll on at 1 s; CPU and RSS from /proc over ``seconds``."""
    config = Path(tempfile.mkdtemp(prefix="vmgui-st-bench-vm-"))
    env = {**env, "XDG_CONFIG_HOME": str(config), "GSETTINGS_BACKEND": "keyfile"}
    try:
        for schema, keys in VM_SETTINGS.items():
            for key, value in keys.items():
                subprocess.run(["gsettings", "set", schema, key, value], env=env, check=True)
        shown = subprocess.run(
            ["gsettings", "get", "org.virt-manager.virt-manager.stats", "update-interval"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        proc = subprocess.Popen(
            ["virt-manager", "--no-fork", "--connect", uri, *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(settle)
            if proc.poll() is not None:
                raise RuntimeError(f"virt-manager exited ({proc.returncode})")
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            return {"cpu": cpu1 - cpu0, "elapsed": t1 - t0, "rss": rss_mib(proc.pid), "int": shown}
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(config, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Main


def per_minute(figures: dict[str, Any], key: str = "cpu") -> float:
    return float(figures[key]) * 60.0 / float(figures["elapsed"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guests", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--no-virt-manager", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-node", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("URI", "GUEST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.settle, args.seconds)
        return 0
    rows: list[list[str]] = []
    notes: list[str] = []
    with benchlib.x_display() as display, benchlib.xdg_dirs() as xdg:
        if display is None:
            print("no X display (install xvfb): nothing measured")
            return 1
        env = {**os.environ, **xdg, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        if not args.skip_real:
            rows += _real_host(args, env, notes)
        if not args.skip_node:
            rows += _node(args, env, notes)
    print_table(
        "Live usage, all stats every 1 s (one minute after settling)",
        ["case", "program", "CPU-s/min", "RSS MiB", "Qt-thread / tick", "target"],
        rows,
    )
    for note in notes:
        print(f"  - {note}")
    return 0


def _real_host(args: argparse.Namespace, env: dict[str, str], notes: list[str]) -> list[list[str]]:
    import libvirt

    conn = benchlib.open_raw("qemu:///system")
    guests = StatsGuests(conn, "bench")
    rows = []
    try:
        names = []
        for i in range(args.guests):
            guests.define(str(i), balloon=i % 2 == 0)
            names.append(guests.prefix + str(i))
        for i in range(0, len(names), 2):  # two at a time: TCG boots are CPU-bound
            guests.start(*names[i : i + 2])
        notes.append(f"(a) {len(names)} guests running: {', '.join(names)} (even: balloon)")
        notes.append(f"(a) machine before the runs: {benchlib.background_load()}")
        others = [d.name() for d in conn.listAllDomains(1) if d.name() not in names]
        if others:
            notes.append(f"(a) other running guests polled too: {', '.join(sorted(others))}")
        try:
            vm = run_vmgui("qemu:///system", names[0], args.settle, args.seconds, env)
            rows.append(_vmgui_row("(a) 8 guests", vm, "≤ 0.36 CPU-s/min, ≤ 140 MiB"))
            notes.append(_child_note("(a)", vm))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            notes.append(f"(a) vmgui: failed: {exc}")
        if args.no_virt_manager or shutil.which("virt-manager") is None:
            notes.append("(a) virt-manager: not run (--no-virt-manager or not installed)")
            return rows
        conn = benchlib.open_raw("qemu:///system")  # the daemon may have restarted meanwhile
        pool_before = benchlib.default_pool_exists(conn)
        for label, extra in (
            ("manager window, all columns", []),
            ("performance page", ["--show-domain-performance", names[0]]),
        ):
            try:
                fig = run_virt_manager("qemu:///system", extra, args.settle, args.seconds, env)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                notes.append(f"(a) virt-manager {label}: failed: {exc}")
                continue
            rows.append(
                [
                    "(a) 8 guests",
                    f"virt-manager 4.1: {label}",
                    f"{per_minute(fig):.2f}",
                    f"{fig['rss']:.0f}",
                    "-",
                    f"(GSettings update-interval = {fig['int']})",
                ]
            )
        if not pool_before and benchlib.remove_default_pool_created_by_virt_manager(conn):
            notes.append("(a) removed the 'default' pool virt-manager created at connect")
    except libvirt.libvirtError as exc:
        notes.append(f"(a) stopped by a libvirt error (the daemon restarted?): {exc}")
    finally:
        guests.remove_all()
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
    return rows


def _node(args: argparse.Namespace, env: dict[str, str], notes: list[str]) -> list[list[str]]:
    rows = []
    with benchlib.temp_node(args.domains, args.domains // 2) as uri:
        try:
            vm = run_vmgui(uri, "", args.settle, args.seconds, env)
            target = "≤ 25 ms Qt/tick; ≤ 6.1 CPU-s/min"
            rows.append(_vmgui_row(f"(b) {args.domains} guests", vm, target))
            notes.append(_child_note("(b)", vm))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            notes.append(f"(b) vmgui: failed: {exc}")
        if not args.no_virt_manager and shutil.which("virt-manager") is not None:
            try:
                fig = run_virt_manager(uri, [], args.settle, args.seconds, env)
                rows.append(
                    [
                        f"(b) {args.domains} guests",
                        "virt-manager 4.1: manager window",
                        f"{per_minute(fig):.2f}",
                        f"{fig['rss']:.0f}",
                        "-",
                        "(DESIGN: 60.6 CPU-s/min, 153 MiB)",
                    ]
                )
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                notes.append(f"(b) virt-manager: failed: {exc}")
    return rows


def _vmgui_row(case: str, fig: dict[str, Any], target: str) -> list[str]:
    applies = [a * 1000 for a in fig["applies"]]
    ticks = max(1, int(fig["ticks"]))
    qt = (
        f"apply p50 {median(applies):.1f} / p95 {percentile(applies, 95):.1f} / "
        f"max {max(applies, default=float('nan')):.1f} ms; main thread "
        f"{fig['main_cpu'] * 1000 / ticks:.1f} ms"
    )
    return [case, "vmgui", f"{per_minute(fig):.2f}", f"{fig['rss']:.0f}", qt, target]


def _child_note(case: str, fig: dict[str, Any]) -> str:
    return (
        f"{case} vmgui: {fig['ticks']} ticks ({fig['skipped']} skipped) in "
        f"{fig['elapsed']:.0f} s at {fig['interval']:.0f} s; {fig['series']} guest series; "
        f"charts on screen: {fig['charts_visible']}; sparklines: {fig['sparklines']}"
        + (f"; {fig['guard']}" if fig["guard"] else "")
    )


if __name__ == "__main__":
    sys.exit(main())
