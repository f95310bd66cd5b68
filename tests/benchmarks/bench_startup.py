"""Start-up: process start → first window, and process start → guests listed.

Cases (DESIGN.md "Performance targets"):

(a) ``vmgui --connect qemu:///system`` with 8 tiny ``vmgui-bench-*`` guests (TCG, half with a
    balloon driver), all running by default;
(b) a 1000-domain test-driver node (``node_xml(1000, running=500)``);
(c) a slow host whose ``getCapabilities`` answers after 8 s: a relay in front of the system
    libvirtd holds that one reply back (``benchlib.SlowCapsRelay``); plus an in-process run of
    ``HostConnection`` with an opener whose connection sleeps 8 s in ``getCapabilities``.

Each program runs as a child process under Xvfb; "window mapped" is the MapNotify of the
top-level window with the program's title on the X server, "guests listed" the moment the
child's "listed N guests" log line is read from its stderr. virt-manager runs the same way
when installed. One warm-up run per program is discarded.

Run: ``python -m tests.benchmarks.bench_startup [--runs 5] [--running 8] [--no-virt-manager]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import benchlib
from tests.benchmarks.benchlib import fmt_s, med_max, print_table

VMGUI_WINDOW_RE = re.compile(r"window shown after ([0-9.]+) s")
VMGUI_LISTED_RE = re.compile(r"listed (\d+) guests of")
VM_ACTIVE_RE = re.compile(r"changed to state=Active")
VM_DOMAIN_RE = re.compile(r"domain=\S+ status=\S+ added")


@dataclass(frozen=True)
class Program:
    """How to start one GUI and read its progress."""

    name: str
    title: str
    argv: Callable[[str], list[str]]
    env: dict[str, str] = field(default_factory=dict)


def vmgui_argv(uri: str) -> list[str]:
    exe = Path(sys.executable).with_name("vmgui")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "vmgui"]
    return [*base, "--connect", uri]


VMGUI = Program("vmgui", "vmgui", vmgui_argv)
VIRT_MANAGER = Program(
    "virt-manager",
    "Virtual Machine Manager",
    lambda uri: ["virt-manager", "--no-fork", "--debug", "--connect", uri],
    {"GSETTINGS_BACKEND": "memory"},
)


@dataclass
class Run:
    """One child process's figures, in seconds from just before the spawn."""

    mapped: float | None = None  # X MapNotify of the titled window
    window_line: float | None = None  # vmgui's "window shown" line read
    app_window: float | None = None  # vmgui's own "window shown after" figure
    listed: float | None = None  # "listed N guests" read (virt-manager: see listed_vm)
    listed_n: int | None = None
    vm_active: float | None = None  # virt-manager: "state=Active" line read
    vm_domains: int = 0
    caps_answered: float | None = None  # slow relay: getCapabilities reply forwarded
    timed_out: bool = False

    @property
    def guests_listed(self) -> float | None:
        """Start → guests visible in the list.

        vmgui: its "listed" log line. virt-manager fills the manager window's rows from
        objects polled before the window is created, so: window mapped and connection active.
        """
        if self.vm_active is not None:
            return None if self.mapped is None else max(self.mapped, self.vm_active)
        return self.listed


def run_once(
    prog: Program,
    uri: str,
    display: str | None,
    *,
    offscreen: bool = False,
    relay: benchlib.SlowCapsRelay | None = None,
    timeout: float = 45.0,
) -> Run:
    """Start ``prog`` on ``uri``, wait for its window and guest list, then stop it."""
    run = Run()
    watcher = None
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(prog.env)
    if offscreen:
        env["QT_QPA_PLATFORM"] = "offscreen"
    elif display is not None:
        env["DISPLAY"] = display
        watcher = benchlib.WindowWatcher(display, prog.title)
        watcher.start()
    done = threading.Event()
    is_vmgui = prog is VMGUI

    def complete() -> bool:
        window_ok = watcher is None or run.mapped is not None
        if is_vmgui:
            return window_ok and run.window_line is not None and run.listed is not None
        return window_ok and run.vm_active is not None

    with benchlib.xdg_dirs() as xdg:
        env.update(xdg)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            prog.argv(uri),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                now = time.perf_counter() - t0
                if m := VMGUI_WINDOW_RE.search(line):
                    run.window_line = run.window_line or now
                    run.app_window = float(m.group(1))
                elif (m := VMGUI_LISTED_RE.search(line)) and run.listed is None:
                    run.listed, run.listed_n = now, int(m.group(1))
                elif VM_ACTIVE_RE.search(line) and run.vm_active is None:
                    run.vm_active = now
                elif VM_DOMAIN_RE.search(line) and run.vm_active is None:
                    run.vm_domains += 1
                if complete():
                    done.set()

        reader = threading.Thread(target=read, name="stderr-reader", daemon=True)
        reader.start()
        deadline = time.perf_counter() + timeout
        while not done.is_set() and proc.poll() is None and time.perf_counter() < deadline:
            if watcher is not None and run.mapped is None and watcher.found.is_set():
                run.mapped = (watcher.mapped_at or t0) - t0
                if complete():
                    break
            done.wait(0.01)
        if watcher is not None:
            watcher.stop()
            if run.mapped is None and watcher.mapped_at is not None:
                run.mapped = watcher.mapped_at - t0
        run.timed_out = not complete()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
        if relay is not None:
            answered = [a - t0 for asked, a in relay.caps if asked >= t0]
            run.caps_answered = answered[0] if answered else None
    time.sleep(0.3)  # let the daemon and X settle between runs
    return run


def collect(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def summarize(
    rows: list[list[str]],
    case: str,
    prog: Program,
    runs: list[Run],
    mode: str,
    targets: dict[str, str],
) -> None:
    """Add the figure rows of one (case, program, mode) batch."""
    label = f"{case} {prog.name} [{mode}]"
    if mode == "Xvfb":
        rows.append(
            [
                f"{label}: start → window mapped",
                med_max(collect([r.mapped for r in runs])),
                targets["window" if prog is VMGUI else "vm_window"],
            ]
        )
    if prog is VMGUI:
        rows.append(
            [
                f'{label}: app log "window shown after"',
                med_max(collect([r.app_window for r in runs])),
                targets.get("app_window", "floor 0.19 s (PySide6 window)"),
            ]
        )
        rows.append(
            [
                f"{label}: start → guests listed",
                med_max(collect([r.guests_listed for r in runs])),
                targets["listed"],
            ]
        )
    elif mode == "Xvfb":
        rows.append(
            [
                f"{label}: start → connection active",
                med_max(collect([r.vm_active for r in runs])),
                "-",
            ]
        )
        rows.append(
            [
                f"{label}: start → guests listed (window with rows)",
                med_max(collect([r.guests_listed for r in runs])),
                targets["vm_listed"],
            ]
        )
    caps = collect([r.caps_answered for r in runs])
    if caps:
        rows.append([f"{label}: start → capabilities answered", med_max(caps), "(8 s by design)"])
    timeouts = sum(r.timed_out for r in runs)
    if timeouts:
        rows.append([f"{label}: runs that timed out", str(timeouts), "0"])


def per_run_rows(case: str, prog: Program, runs: list[Run], mode: str) -> list[list[str]]:
    out = []
    for i, r in enumerate(runs, 1):
        guests = str(r.listed_n) if r.listed_n is not None else (str(r.vm_domains) or "-")
        out.append(
            [
                f"{case} {prog.name} [{mode}] #{i}",
                fmt_s(r.mapped),
                fmt_s(r.app_window),
                fmt_s(r.guests_listed),
                guests,
                fmt_s(r.caps_answered),
                "TIMEOUT" if r.timed_out else "",
            ]
        )
    return out


def batch(
    progs: list[Program],
    uri: str,
    display: str | None,
    n: int,
    relay: benchlib.SlowCapsRelay | None = None,
    vm_runs: int | None = None,
) -> dict[str, list[Run]]:
    """``n`` runs of each program (virt-manager: ``vm_runs`` if given), interleaved so that
    drift hits all of them alike."""
    results: dict[str, list[Run]] = {p.name: [] for p in progs}
    for i in range(n):
        for prog in progs:
            if display is None or (prog is VIRT_MANAGER and vm_runs is not None and i >= vm_runs):
                continue
            results[prog.name].append(run_once(prog, uri, display, relay=relay))
    return results


# -- (c) in-process: HostConnection with a connection whose getCapabilities sleeps -------------


class SlowCapabilities:
    """Wraps a ``virConnect``: ``getCapabilities`` sleeps ``delay`` s first; all else delegates."""

    def __init__(self, conn: Any, delay: float) -> None:
        self._conn = conn
        self._delay = delay

    def getCapabilities(self) -> Any:  # libvirt's name
        time.sleep(self._delay)
        return self._conn.getCapabilities()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def inprocess_slow(uri: str, delay: float) -> dict[str, float]:
    """Time a HostConnection to a host whose capabilities take ``delay`` s."""
    from vmgui.core.model import GuestInfo, HostInfo, HostStatus
    from vmgui.virt.connection import HostConnection
    from vmgui.virt.opening import open_connection

    times: dict[str, float] = {}
    caps_known = asyncio.Event()
    closing = False
    t0 = 0.0

    class Observer:
        def host_status_changed(self, status: HostStatus) -> None:
            if not closing:
                times.setdefault(f"status {status.state.name}", time.perf_counter() - t0)

        def host_info_changed(self, info: HostInfo) -> None:
            times.setdefault("host info", time.perf_counter() - t0)
            if info.capabilities_known:
                times["capabilities known"] = time.perf_counter() - t0
                caps_known.set()

        def guests_listed(self, _uri: str, guests: list[GuestInfo]) -> None:
            if guests:
                times.setdefault("guests listed", time.perf_counter() - t0)
                times["guest count"] = len(guests)

        def guest_changed(self, guest: GuestInfo) -> None:
            pass

        def guest_removed(self, uri: str, uuid: str) -> None:
            pass

    def opener(u: str) -> Any:
        return SlowCapabilities(open_connection(u), delay)

    host = HostConnection(uri, Observer(), opener=opener)
    t0 = time.perf_counter()
    await host.connect()
    times["connect() returned"] = time.perf_counter() - t0
    await asyncio.sleep(0.05)
    t_call = time.perf_counter()
    await host.call(lambda c: c.getHostname(), "hostname")
    times["call after connect"] = time.perf_counter() - t_call
    await asyncio.wait_for(caps_known.wait(), delay + 30)
    closing = True
    await host.close()
    return times


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per program and case")
    parser.add_argument("--slow-runs", type=int, default=3, help="vmgui runs on the slow host")
    parser.add_argument(
        "--vm-slow-runs", type=int, default=2, help="virt-manager runs on the slow host"
    )
    parser.add_argument("--guests", type=int, default=8, help="tiny guests to define")
    parser.add_argument("--running", type=int, default=4, help="how many of them to start")
    parser.add_argument(
        "--vm-runs-b", type=int, default=2, help="virt-manager runs on the 1000-domain node"
    )
    parser.add_argument("--domains", type=int, default=1000, help="test-driver domains")
    parser.add_argument("--slow-delay", type=float, default=8.0, help="capabilities delay (s)")
    parser.add_argument("--no-virt-manager", action="store_true", help="skip virt-manager")
    args = parser.parse_args(argv)
    t_start = time.monotonic()

    progs = [VMGUI]
    vm_note = "virt-manager: measured side by side"
    if args.no_virt_manager:
        vm_note = "virt-manager: skipped (--no-virt-manager)"
    elif shutil.which("virt-manager") is None:
        vm_note = "virt-manager: not installed (apt-get install virt-manager), not measured"
    else:
        progs.append(VIRT_MANAGER)

    rows: list[list[str]] = []
    raw: list[list[str]] = []
    notes: list[str] = [vm_note]
    target_a = {
        "window": "≤ 0.4 s (virt-manager 0.51 s)",
        "listed": "≤ 0.6 s (virt-manager ~0.5 s)",
        "vm_window": "reference: 0.51 s",
        "vm_listed": "reference: ~0.5 s",
    }
    target_b = {
        "window": "≤ 0.4 s (virt-manager 2.5 s)",
        "listed": "≤ 1 s",
        "vm_window": "reference: 2.5 s",
        "vm_listed": "-",
    }
    target_c = {
        "window": "≤ 0.4 s (virt-manager 11.8 s)",
        "listed": "≤ 0.6 s (virt-manager 11.8 s)",
        "vm_window": "reference: 11.8 s",
        "vm_listed": "reference: 11.8 s",
    }

    conn = benchlib.open_raw("qemu:///system")
    pool_before = benchlib.default_pool_exists(conn)
    with benchlib.x_display() as display:
        if display is None:
            notes.append("no X display and no Xvfb: only the offscreen runs were made")
        try:
            with benchlib.TinyGuests(conn, args.guests, "s") as guests:
                boot, late = guests.start(args.running) if args.running else (0.0, [])
                if late:
                    notes.append(f"guests still booting (no READY marker after 90 s): {late}")
                total = len(benchlib.live_connection(conn).listAllDomains(0))
                notes.append(
                    f"(a) {args.guests} tiny guests defined, {args.running} running (booted to "
                    f"READY in {boot:.1f} s); qemu:///system holds {total} domains in all "
                    "(other domains belong to other users of this daemon)"
                )
                notes.append(f"background before (a)/(c): {benchlib.background_load()}")
                # Warm-up (page cache, qemu capability cache): discarded.
                batch(progs, "qemu:///system", display, 1)
                res = batch(progs, "qemu:///system", display, args.runs)
                for prog in progs:
                    summarize(rows, "(a)", prog, res[prog.name], "Xvfb", target_a)
                    raw += per_run_rows("(a)", prog, res[prog.name], "Xvfb")
                off = [run_once(VMGUI, "qemu:///system", None, offscreen=True)]
                summarize(rows, "(a)", VMGUI, off, "offscreen", target_a)
                raw += per_run_rows("(a)", VMGUI, off, "offscreen")

                with benchlib.SlowCapsRelay(args.slow_delay) as relay:
                    res = batch(progs, relay.uri, display, args.slow_runs, relay, args.vm_slow_runs)
                    slow_progs = [(p, res[p.name]) for p in progs]
                    for prog, runs in slow_progs:
                        summarize(rows, "(c)", prog, runs, "Xvfb", target_c)
                        raw += per_run_rows("(c)", prog, runs, "Xvfb")
                try:
                    inproc = asyncio.run(inprocess_slow("qemu:///system", args.slow_delay))
                except Exception as exc:  # e.g. libvirtd restarted by someone else
                    inproc = {}
                    notes.append(f"(c) in-process run failed: {type(exc).__name__}: {exc}")
        finally:
            if not pool_before and benchlib.remove_default_pool_created_by_virt_manager(conn):
                notes.append(
                    "virt-manager created storage pool 'default' on qemu:///system at connect; "
                    "removed again"
                )

        with benchlib.temp_node(args.domains, args.domains // 2) as node:
            notes.append(f"background before (b), no bench guests: {benchlib.background_load()}")
            b_progs = progs
            res = batch(b_progs, node, display, args.runs, vm_runs=args.vm_runs_b)
            for prog in b_progs:
                summarize(rows, "(b)", prog, res[prog.name], "Xvfb", target_b)
                raw += per_run_rows("(b)", prog, res[prog.name], "Xvfb")
            off = [run_once(VMGUI, node, None, offscreen=True)]
            summarize(rows, "(b)", VMGUI, off, "offscreen", target_b)
            raw += per_run_rows("(b)", VMGUI, off, "offscreen")
    benchlib.close_quietly(conn)

    in_targets = {
        "guests listed": "≤ 0.6 s, before capabilities",
        "capabilities known": f"≈ {args.slow_delay:.0f} s (emulated)",
    }
    in_rows = []
    for key, value in sorted(inproc.items(), key=lambda kv: kv[1]):
        if key in ("guest count", "call after connect"):
            continue
        in_rows.append(
            [f"(c) in-process: connect() → {key}", fmt_s(value), in_targets.get(key, "-")]
        )
    in_rows.append(
        [
            "(c) in-process: getHostname() issued 50 ms after connect() returned, took",
            fmt_s(inproc.get("call after connect")),
            "- (it queues behind getCapabilities on the host's one worker)",
        ]
    )
    in_rows.append(["(c) in-process: guests listed", str(int(inproc.get("guest count", 0))), "-"])

    print_table(
        f"bench_startup — median / max over runs (Xvfb unless marked); {time.strftime('%F %T')}",
        ["figure", "value (median / max, n)", "DESIGN.md target"],
        rows,
    )
    print_table(
        f"(c) slow host in-process: getCapabilities sleeps {args.slow_delay:.0f} s "
        "(HostConnection(opener=...), qemu:///system)",
        ["figure", "value", "DESIGN.md target"],
        in_rows,
    )
    print_table(
        "per run (s from just before spawn)",
        ["run", "window mapped", "app 'window shown'", "guests listed", "guests", "caps", ""],
        raw,
    )
    print("\nnotes:")
    notes += [
        "(a)/(b) one warm-up run per program discarded; runs interleave vmgui and virt-manager",
        "window mapped = MapNotify of the titled top-level window on the X server (Xvfb, "
        "no window manager); app 'window shown' = vmgui's own log figure, measured from "
        "the import of vmgui.app (misses interpreter start-up)",
        "(c) slow host = qemu+unix:///system?socket=<relay>: a relay in front of the system "
        f"libvirtd answers getCapabilities {args.slow_delay:.0f} s late; everything else "
        "passes at once",
        "virt-manager runs with --debug (its log gives 'connection active'); its manager window "
        "is created only after the connection is active, with the rows already in it",
    ]
    for note in notes:
        print(f"  - {note}")
    print(f"  - total benchmark time {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
