"""Hosts' measured usage as placement and the fleet read it (``HostUsageSource``)."""

from __future__ import annotations

import math
import time

from pytestqt.qtbot import QtBot

from vmgui.core.rates import HostSample
from vmgui.ui.controller import HostController
from vmgui.ui.monitor.controller import StatsController
from vmgui.ui.shell import UsageKind, UsageLink
from vmgui.virt.stats import TickResult

URI = "test:///recorded-host"


def _feed(stats: StatsController, cpu: list[float], *, start: float, rss: float = 512.0) -> None:
    """One host tick per second with these guests' CPU shares (as a poller hands them over)."""
    for i, value in enumerate(cpu):
        host = HostSample(
            start + i,
            4,
            cpu_percent=90.0,  # the node's own figure: must not be what a host's load is
            guests_cpu_percent=value,
            memory_used_kib=7_000_000.0,
            memory_total_kib=8_000_000.0,
            committed_memory_kib=2_000_000.0 + i,
            committed_vcpus=3.0,
            guests_memory_kib=rss * (i + 1),
        )
        stats.apply(TickResult(URI, host.time, {}, host))


def test_host_usage_is_the_guests_mean_over_the_window(qtbot: QtBot) -> None:
    stats = StatsController(HostController())
    assert stats.host_usage(URI, 600) is None
    now = time.time()
    _feed(stats, [10.0] * 50 + [50.0] * 10, start=now - 60)
    usage = stats.host_usage(URI, 600)
    assert usage is not None
    assert math.isclose(usage.guests_cpu_percent, (10 * 50 + 50 * 10) / 60, rel_tol=1e-6)
    assert usage.cpus == 4 and usage.memory_total_kib == 8_000_000.0
    assert usage.guests_memory_kib == 512.0 * 60  # now, not a mean
    assert usage.committed_vcpus == 3.0 and usage.committed_memory_kib == 2_000_059.0
    assert math.isclose(usage.covered_seconds, 59.0)
    short = stats.host_usage(URI, 9.5)  # only the last ten ticks
    assert short is not None and math.isclose(short.guests_cpu_percent, 50.0)


def test_host_trend_buckets_evenly_with_gaps(qtbot: QtBot) -> None:
    stats = StatsController(HostController())
    assert stats.host_trend(URI, UsageKind.CPU, 60, 6) == []
    now = time.time()
    _feed(stats, [float(i) for i in range(30)], start=now - 30)
    trend = stats.host_trend(URI, UsageKind.CPU, 60, 6)
    assert len(trend) == 6
    assert all(math.isnan(v) for v in trend[:3])  # the first 30 s: nothing measured
    # Ticks at end-29 .. end: 0-8 | 9-18 | 19-29 (the newest tick closes the last bucket).
    assert [round(v, 1) for v in trend[3:]] == [4.0, 13.5, 24.0]
    memory = stats.host_trend(URI, UsageKind.MEMORY, 30, 3)
    assert [round(v) for v in memory] == [512 * 5, round(512 * 14.5), 512 * 25]


def test_link_forwards_ticks_once_attached(qtbot: QtBot) -> None:
    link = UsageLink()
    seen: list[str] = []
    link.updated.connect(seen.append)
    assert link.source is None and link.host_usage(URI, 60) is None
    stats = StatsController(HostController())
    link.attach(stats, stats.ticked)
    _feed(stats, [20.0], start=time.time())
    assert seen == ["", URI]
    usage = link.host_usage(URI, 60)
    assert usage is not None and usage.guests_cpu_percent == 20.0
