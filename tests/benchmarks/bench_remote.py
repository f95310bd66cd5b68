"""A remote host at 100 ms RTT: vmgui next to virt-manager on the same ``qemu+ssh`` path.

The path is the loopback sshd (``tests/services/sshd.py``) behind a :class:`DelayRelay` that
holds each chunk 50 ms per direction (this kernel has no ``sch_netem``), in front of the main
libvirtd, where 8 tiny ``vmgui-bench-remote-*`` guests are defined (``--running`` of them
started). Figures, each run as a child process under Xvfb (DESIGN.md "remote host at 100 ms
RTT"):

* start → window mapped, start → guests listed (``bench_startup.run_once``: X MapNotify and
  vmgui's "listed" log line; virt-manager: window mapped and its "state=Active" line), plus
  vmgui on the local ``qemu:///system`` as the "window as fast as a local host" reference;
* CPU-s/min of monitoring at 1 s with a guest's Usage tab open (``bench_stats``'s children);
* the longest Qt-thread stall from the first event-loop turn until the guests are listed: a
  5 ms ``QTimer`` heartbeat in a child running ``vmgui.app.main``; a watchdog thread samples
  the Qt thread's stack whenever the heartbeat is 50 ms late, so each stall names its cause.

Run: ``python -m tests.benchmarks.bench_remote [--runs 3] [--vm-runs 2] [--no-virt-manager]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import bench_startup, bench_stats, benchlib
from tests.benchmarks.benchlib import fmt_ms, fmt_s, print_table

#: The heartbeat's period and the stall that makes the watchdog sample the Qt thread.
BEAT_MS = 5
STALL = 0.05
#: The stall child's URI for the reference run (no vmgui) and how long it runs.
BARE = "bare"
BARE_SECONDS = 2.5


# -- the stall child ------------------------------------------------------------------------


def stall_child(uri: str, out: str, preimport: list[str]) -> None:
    """Run ``vmgui.app.main(["--connect", uri])`` with a heartbeat; write ticks and stacks.

    ``preimport``: modules imported before anything else (to tell which import stalls).
    """
    import importlib

    for name in preimport:
        importlib.import_module(name)
    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from vmgui import app as vmgui_app

    qapp = QApplication(sys.argv[:1])  # main() reuses it
    ticks: list[float] = []
    stacks: list[tuple[float, float, str]] = []  # (last tick, sampled at, stack)
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(BEAT_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    main_id = threading.get_ident()
    stop = threading.Event()

    def watchdog() -> None:
        sampled = -1.0
        while not stop.wait(0.01):
            if not ticks or ticks[-1] == sampled:
                continue
            last = ticks[-1]
            if time.perf_counter() - last > STALL:
                frame = sys._current_frames().get(main_id)
                text = "".join(traceback.format_stack(frame, limit=14)) if frame else ""
                stacks.append((last, time.perf_counter(), text))
                sampled = last

    threading.Thread(target=watchdog, name="stall-watchdog", daemon=True).start()
    try:
        if uri == BARE:  # the reference: the same heartbeat in an idle Qt application
            QTimer.singleShot(int(BARE_SECONDS * 1000), qapp.quit)
            qapp.exec()
        else:
            vmgui_app.main(["--connect", uri])
    finally:
        stop.set()
        del qapp
        Path(out).write_text(json.dumps({"ticks": ticks, "stacks": stacks}))
    benchlib.hard_exit(0)


def run_stall(
    uri: str, display: str, preimport: list[str], timeout: float = 60.0
) -> dict[str, Any]:
    """One stall child; the longest gap between heartbeats until listed, and its stack."""
    with (
        tempfile.TemporaryDirectory(prefix="vmgui-bench-remote-") as tmp,
        benchlib.xdg_dirs() as xdg,
    ):
        out = Path(tmp) / "ticks.json"
        env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        env.update(xdg, DISPLAY=display)
        argv = [sys.executable, "-m", "tests.benchmarks.bench_remote", "--stall-child", uri]
        argv += [str(out), *(f"--preimport={name}" for name in preimport)]
        proc = subprocess.Popen(
            argv,
            cwd=benchlib.ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        assert proc.stderr is not None
        listed = None
        deadline = time.perf_counter() + timeout
        for line in proc.stderr:
            if bench_startup.VMGUI_LISTED_RE.search(line):
                listed = time.perf_counter()
                break
            if time.perf_counter() > deadline:
                break
        if uri == BARE:
            proc.wait(timeout)
            listed = time.perf_counter()  # the whole run counts
        else:
            time.sleep(1.0)  # what follows the listing (host details, capabilities) too
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        data = json.loads(out.read_text()) if out.exists() else {"ticks": [], "stacks": []}
    ticks: list[float] = data["ticks"]
    if listed is None or len(ticks) < 2:
        return {"listed": False}
    until = [t for t in ticks if t <= listed + 1e-3]
    after = [t for t in ticks if listed <= t <= listed + 1.0]
    gaps = [(b - a, a) for a, b in itertools.pairwise(until)]
    longest, at = max(gaps) if gaps else (0.0, ticks[0])
    late = [(b - a) for a, b in itertools.pairwise(after)]
    cause = ""
    for last, _sampled, stack in data["stacks"]:
        if abs(last - at) < 1e-6:
            cause = _vmgui_frames(stack)
    return {
        "listed": True,
        "connect_to_listed": listed - ticks[0],
        "longest": longest,
        "longest_after": max(late, default=0.0),
        "over": sum(1 for g, _ in gaps if g > STALL),
        "cause": cause,
        "stalls": [(_vmgui_frames(s), last - ticks[0]) for last, _t, s in data["stacks"]],
    }


def _vmgui_frames(stack: str) -> str:
    """Where a stall was: the Qt thread's innermost vmgui frame, then its innermost frame."""
    frames = []
    for line in stack.splitlines():
        text = line.strip()
        if text.startswith("File ") and "bench_remote" not in text:
            path, _, rest = text[len('File "') :].partition('", line ')
            frames.append((path, rest.split(",")[0]))
    if not frames:
        return ""
    ours = [f for f in frames if "/vmgui/" in f[0]]
    picked = [ours[-1]] if ours else []
    if frames[-1] not in picked:
        picked.append(frames[-1])
    return " ... ".join(f"{p.rsplit('/', 2)[-1] if '/' in p else p}:{n}" for p, n in picked)


# -- main -----------------------------------------------------------------------------------


def start_path(folder: Path, delay: float) -> tuple[Any, Any, str]:
    """The loopback sshd and the delay relay in front of it; (sshd, relay, URI)."""
    from tests.services.delayrelay import DelayRelay
    from tests.services.fixtures import free_port
    from tests.services.sshd import LoopbackSshd

    sshd = LoopbackSshd.start(folder, port=free_port())
    try:
        relay = DelayRelay.start(sshd.port, delay_up=delay, delay_down=delay)
    except BaseException:
        sshd.stop()
        raise
    sshd.trust_port(relay.port)
    return sshd, relay, sshd.uri_ssh(port=relay.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stall-child", nargs=2, metavar=("URI", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per program")
    parser.add_argument("--vm-runs", type=int, default=2, help="virt-manager runs")
    parser.add_argument("--stall-runs", type=int, default=3, help="heartbeat runs")
    parser.add_argument("--guests", type=int, default=8)
    parser.add_argument("--running", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.05, help="one-way delay (s)")
    parser.add_argument("--settle", type=float, default=8.0, help="s before CPU is counted")
    parser.add_argument("--seconds", type=float, default=30.0, help="s of monitoring counted")
    parser.add_argument("--no-virt-manager", action="store_true")
    parser.add_argument(
        "--preimport", action="append", default=[], help="stall runs: import this module first"
    )
    args = parser.parse_args(argv)
    if args.stall_child:
        stall_child(args.stall_child[0], args.stall_child[1], args.preimport)
        return 0
    t_start = time.monotonic()
    progs = [bench_startup.VMGUI]
    notes = []
    if not args.no_virt_manager and shutil.which("virt-manager"):
        progs.append(bench_startup.VIRT_MANAGER)
    else:
        notes.append("virt-manager not measured")
    rows: list[list[str]] = []
    stall_rows: list[list[str]] = []
    conn = benchlib.open_raw("qemu:///system")
    pool_before = benchlib.default_pool_exists(conn)
    folder = Path(tempfile.mkdtemp(prefix="vmgui-bench-remote-sshd-"))
    folder.chmod(0o700)
    sshd, relay, uri = start_path(folder, args.delay)
    notes.append(f"path: {uri} (relay {args.delay * 1000:.0f} ms each way)")
    try:
        with (
            benchlib.TinyGuests(conn, args.guests, "remote") as guests,
            benchlib.x_display() as display,
        ):
            boot, late = guests.start(args.running) if args.running else (0.0, [])
            total = len(benchlib.live_connection(conn).listAllDomains(0))
            notes.append(
                f"{args.guests} tiny guests defined, {args.running} running (READY in {boot:.1f} s"
                f"{', late: ' + str(late) if late else ''}); the host holds {total} domains in all"
            )
            if display is None:
                raise RuntimeError("no X display and no Xvfb")
            bench_startup.batch(progs, uri, display, 1)  # warm-up, discarded
            local = bench_startup.batch([bench_startup.VMGUI], "qemu:///system", display, args.runs)
            res = bench_startup.batch(progs, uri, display, args.runs, vm_runs=args.vm_runs)
            local_window = benchlib.median(
                bench_startup.collect([r.mapped for r in local["vmgui"]])
            )
            vm_listed = bench_startup.collect(
                [r.guests_listed for r in res.get("virt-manager", [])]
            )
            vm_med = benchlib.median(vm_listed) if vm_listed else None
            targets = {
                "window": f"≈ local host's {local_window:.3f} s",
                "listed": f"≤ 0.5x virt-manager ({fmt_s(vm_med * 0.5) if vm_med else '-'})",
                "vm_window": "reference",
                "vm_listed": "reference",
            }
            bench_startup.summarize(
                rows, "local", bench_startup.VMGUI, local["vmgui"], "Xvfb", targets
            )
            for prog in progs:
                bench_startup.summarize(rows, "100 ms", prog, res[prog.name], "Xvfb", targets)
            runs = [(f"#{i + 1}", uri) for i in range(args.stall_runs)]
            runs += [(f"idle Qt app #{i + 1}", BARE) for i in range(2)]
            for label, target in runs:
                stall = run_stall(target, display, args.preimport)
                if not stall["listed"]:
                    stall_rows.append([label, "not listed", "", "", "", ""])
                    continue
                stall_rows.append(
                    [
                        label,
                        fmt_s(stall["connect_to_listed"]),
                        fmt_ms(stall["longest"]),
                        str(stall["over"]),
                        fmt_ms(stall["longest_after"]),
                        stall["cause"] or "-",
                    ]
                )
                for cause, when in stall["stalls"]:
                    notes.append(f"stall run {label} at +{when:.2f} s: {cause}")
            select = guests.names[0]
            env = dict(os.environ, DISPLAY=display)
            env.pop("QT_QPA_PLATFORM", None)
            mon = bench_stats.run_vmgui(uri, select, args.settle, args.seconds, env)
            rows.append(
                [
                    "monitoring at 1 s, Usage tab open: vmgui CPU-s/min",
                    f"{bench_stats.per_minute(mon):.2f} "
                    f"(Qt thread {bench_stats.per_minute(mon, 'main_cpu'):.2f})",
                    "≤ 0.5x virt-manager",
                ]
            )
            if bench_startup.VIRT_MANAGER in progs:
                vm = bench_stats.run_virt_manager(uri, [], args.settle, args.seconds, env)
                rows.append(
                    [
                        "monitoring at 1 s: virt-manager CPU-s/min",
                        f"{bench_stats.per_minute(vm):.2f}",
                        "reference",
                    ]
                )
    finally:
        relay.stop()
        sshd.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if not pool_before and benchlib.remove_default_pool_created_by_virt_manager(conn):
            notes.append("virt-manager created pool 'default'; removed again")
        benchlib.close_quietly(conn)
    print_table(
        f"bench_remote — qemu+ssh at {2 * args.delay * 1000:.0f} ms RTT; {time.strftime('%F %T')}",
        ["figure", "value (median / max, n)", "target"],
        rows,
    )
    print_table(
        f"Qt-thread stalls ({BEAT_MS} ms heartbeat) from the first loop turn until listed",
        [
            "run",
            "to listed",
            "longest stall",
            f"> {STALL * 1000:.0f} ms",
            "longest in 1 s after",
            "where",
        ],
        stall_rows,
    )
    print("\nnotes:")
    notes.append("CPU figures count the GUI process only (not its ssh child, alike for both)")
    for note in notes:
        print(f"  - {note}")
    print(f"  - total benchmark time {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
