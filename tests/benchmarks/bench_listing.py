"""Listing a 1000-guest host, in-process, no window.

* ``HostConnection.connect()`` to a test-driver node (``node_xml(1000, running=500)``):
  time to CONNECTED, to the observer's ``guests_listed``, to ``connect()`` returning and to the
  capabilities; several fresh connections, median / max.
* The Qt-side cost of ``GuestModel.reset_host`` with those guests behind a sorting
  ``GuestFilterProxy`` (as in the main window), and of the other list updates, measured with
  ``time.perf_counter`` around each call (this is time on the Qt thread).
* Resident memory (VmRSS / VmHWM from /proc/self/status) after imports, after listing and
  after the model holds the guests.

Run: ``python -m tests.benchmarks.bench_listing [--runs 5] [--domains 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.benchmarks import benchlib
from tests.benchmarks.benchlib import fmt_ms, med_max, median, print_table
from vmgui.core.model import GuestInfo, GuestState, HostInfo, HostStatus
from vmgui.virt.connection import HostConnection
from vmgui.virt.opening import open_connection


class Recorder:
    """A HostObserver that timestamps what arrives."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.times: dict[str, float] = {}
        self.guests: list[GuestInfo] = []
        self.caps = asyncio.Event()

    def _mark(self, key: str) -> None:
        self.times.setdefault(key, time.perf_counter() - self.t0)

    def host_status_changed(self, status: HostStatus) -> None:
        self._mark(status.state.name.lower())

    def host_info_changed(self, info: HostInfo) -> None:
        self._mark("host info")
        if info.capabilities_known:
            self._mark("capabilities")
            self.caps.set()

    def guests_listed(self, _uri: str, guests: list[GuestInfo]) -> None:
        if guests:
            self._mark("guests listed")
            self.guests = guests

    def guest_changed(self, guest: GuestInfo) -> None:
        pass

    def guest_removed(self, uri: str, uuid: str) -> None:
        pass


async def connect_once(uri: str) -> Recorder:
    rec = Recorder()
    host = HostConnection(uri, rec)
    rec.t0 = time.perf_counter()
    await host.connect()
    rec._mark("connect() returned")
    await asyncio.wait_for(rec.caps.wait(), 30)
    await host.close()
    return rec


def raw_calls(uri: str) -> dict[str, float]:
    """Context: what the bare libvirt calls cost on this node (this thread, no vmgui)."""
    import libvirt

    out = {}
    t = time.perf_counter()
    conn = open_connection(uri)
    out["libvirt open (parses the node XML)"] = time.perf_counter() - t
    t = time.perf_counter()
    doms = conn.listAllDomains(0)
    out["listAllDomains()"] = time.perf_counter() - t
    t = time.perf_counter()
    for dom in doms:
        dom.info()
        dom.isPersistent()
    out["info() + isPersistent() for every domain"] = time.perf_counter() - t
    t = time.perf_counter()
    conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, 0)
    out["getAllDomainStats(STATE) (one bulk call)"] = time.perf_counter() - t
    conn.close()
    return out


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def qt_costs(uri: str, guests: list[GuestInfo]) -> list[list[str]]:
    """Time the model updates the main window makes, with a sorting proxy attached."""
    from PySide6.QtCore import Qt

    from vmgui.ui.guests.model import GuestColumn, GuestFilterProxy, GuestModel

    rows: list[list[str]] = []
    n = len(guests)

    def fresh() -> tuple[GuestModel, GuestFilterProxy]:
        model = GuestModel(lambda u: "bench host")
        proxy = GuestFilterProxy()
        proxy.setSourceModel(model)
        proxy.sort(GuestColumn.NAME, Qt.SortOrder.AscendingOrder)
        return model, proxy

    def flip(g: GuestInfo) -> GuestInfo:
        running = g.state is GuestState.RUNNING
        return dataclasses.replace(g, state=GuestState.PAUSED if running else GuestState.RUNNING)

    def row(figure: str, values: list[float], target: str = "-") -> None:
        rows.append([figure, med_max(values, "ms"), target])

    firsts = []
    for _ in range(5):
        model, proxy = fresh()
        firsts.append(timed(partial(model.reset_host, uri, guests)))
        assert proxy.rowCount() == n
    row(f"reset_host: {n} new guests into an empty model", firsts, "part of 'listed <= 1 s'")
    model, proxy = fresh()
    model.reset_host(uri, guests)
    row(
        f"reset_host: the same {n} guests again (no change)",
        [timed(partial(model.reset_host, uri, guests)) for _ in range(5)],
    )
    flipped = [flip(g) for g in guests]
    row(
        f"reset_host: {n} guests, every state changed (diff path)",
        [timed(partial(model.reset_host, uri, flipped))],
    )
    row(
        "reset_host: one guest gone (model reset path, as on reconnect)",
        [timed(partial(model.reset_host, uri, guests[1:]))],
    )
    model.reset_host(uri, guests)
    row(
        "update_guest: one row's state changed (sorted by Name)",
        [timed(partial(model.update_guest, flip(g))) for g in guests[:200]],
        "<= 100 ms p95 event -> repaint",
    )
    proxy.sort(GuestColumn.STATE, Qt.SortOrder.AscendingOrder)
    row(
        "update_guest: one row's state changed (sorted by State: row moves)",
        [timed(partial(model.update_guest, flip(g))) for g in guests[200:400]],
        "<= 100 ms p95 event -> repaint",
    )
    row("proxy.sort by Name (user clicks the header)", [timed(partial(proxy.sort, 0))])
    row("filter text 'guest-05' typed", [timed(partial(proxy.set_text, "guest-05"))])
    row("filter text cleared", [timed(partial(proxy.set_text, ""))])
    rows.append(["guests in the sorted proxy", str(proxy.rowCount()), "-"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh connections to time")
    parser.add_argument("--domains", type=int, default=1000, help="test-driver domains")
    args = parser.parse_args(argv)
    t_start = time.monotonic()
    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()  # before the QApplication, as app.main does
    import libvirt  # noqa: F401  (counted in the baseline, as in the app)
    import PySide6.QtWidgets  # noqa: F401

    import vmgui.ui.guests.model  # noqa: F401

    refs = benchlib.RefcountWatch(ballast=20_000)
    rss_base, _ = benchlib.rss_mib()
    with benchlib.temp_node(args.domains, args.domains // 2) as uri:
        recs = [asyncio.run(connect_once(uri))]
        rss_first, hwm_first = benchlib.rss_mib()
        rss_cycles = [rss_first]
        for _ in range(args.runs - 1):
            recs.append(asyncio.run(connect_once(uri)))
            rss_cycles.append(benchlib.rss_mib()[0])
        guests = recs[-1].guests
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([sys.argv[0]])
        rss_app, _ = benchlib.rss_mib()
        refs.mark()
        qt_rows = qt_costs(uri, guests)
        refcounts = refs.report()
        rss_model, hwm_model = benchlib.rss_mib()
        raw = raw_calls(uri)

    def series(key: str) -> list[float]:
        return [r.times[key] for r in recs if key in r.times]

    virt_rows = [
        [
            "connect() → CONNECTED (libvirt open + event registration)",
            med_max(series("connected")),
            "-",
        ],
        [
            "connect() → guests listed (observer called)",
            med_max(series("guests listed")),
            "≤ 1 s (start → listed, whole app)",
        ],
        [
            "connect() → connect() returned (+ host info)",
            med_max(series("connect() returned")),
            "-",
        ],
        ["connect() → capabilities known", med_max(series("capabilities")), "-"],
        [
            "list_guests on the worker (listed - connected)",
            med_max([r.times["guests listed"] - r.times["connected"] for r in recs]),
            "-",
        ],
        ["guests listed", str(len(guests)), f"{args.domains}"],
    ]
    virt_rows += [[f"context, bare libvirt: {k}", fmt_ms(v), "-"] for k, v in raw.items()]
    mem_rows = [
        ["RSS after imports (libvirt, PySide6, vmgui.ui.guests.model)", f"{rss_base:.1f} MiB", "-"],
        [
            f"RSS after the first connect + listing ({len(guests)} guests)",
            f"{rss_first:.1f} MiB (peak {hwm_first:.1f})",
            "-",
        ],
        [
            f"RSS after each of {args.runs} connect/close cycles (steady growth = leak)",
            " ".join(f"{r:.0f}" for r in rss_cycles) + " MiB",
            "-",
        ],
        ["RSS after QApplication (offscreen platform) is created", f"{rss_app:.1f} MiB", "-"],
        [
            "RSS after the Qt model + proxy hold them too",
            f"{rss_model:.1f} MiB (peak {hwm_model:.1f})",
            "≤ 140 MiB whole app after 1 min with charts (virt-manager 153 MiB)",
        ],
    ]
    stamp = time.strftime("%F %T")
    print_table(
        f"bench_listing — HostConnection on a {args.domains}-domain test-driver node; "
        f"median / max of {args.runs} fresh connections; {stamp}",
        ["figure", "value", "DESIGN.md target"],
        virt_rows,
    )
    print_table(
        "Qt thread: GuestModel + sorting GuestFilterProxy (median / max)",
        ["figure", "value", "DESIGN.md target"],
        qt_rows,
    )
    print_table("memory", ["figure", "value", "DESIGN.md target"], mem_rows)
    del app
    print(
        f"\n  - listing median {median(series('guests listed')) * 1000:.0f} ms; "
        f"total benchmark time {time.monotonic() - t_start:.0f} s"
    )
    print(f"  - refcount check (Qt part): {refcounts}")
    return 0


if __name__ == "__main__":
    benchlib.hard_exit(main())
