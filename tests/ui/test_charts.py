"""Usage in the UI: the stats controller on a test-driver host, and the charts."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from vmgui.core.model import GuestState
from vmgui.core.rates import GuestChannel, GuestSample
from vmgui.ui.controller import HostController
from vmgui.ui.monitor.charts import GuestTarget, HostTarget, UsageCharts
from vmgui.ui.monitor.chartspec import NO_BALLOON_TEXT, ChartId, Unit
from vmgui.ui.monitor.controller import StatsController
from vmgui.ui.monitor.plot import Chart, format_value
from vmgui.ui.monitor.series import GuestKey
from vmgui.ui.shell import UsageKind
from vmgui.virt.stats import TickResult

Run = Callable[..., Any]
URI = fixture_uri()


@pytest.fixture
def stats(qtbot: QtBot, qloop: Run) -> Iterator[tuple[HostController, StatsController]]:
    """A connected 60-guest test-driver host, polled every 10 s (tests tick by hand)."""
    controller = HostController()
    stats = StatsController(controller, interval=10)
    controller.add_host(URI, save=False)
    qloop(controller.connect_host(URI))
    qloop(wait_until(lambda: stats.host_series(URI) is not None))
    yield controller, stats
    stats.close()
    qloop(controller.close_all())


def _active_keys(controller: HostController) -> set[tuple[str, str]]:
    return {(URI, u) for u, g in controller.host(URI).guests.items() if g.is_active}


def _points(stats: StatsController) -> int:
    series = stats.host_series(URI)
    return len(series.history) if series is not None else 0


def _more_points(stats: StatsController, count: int) -> bool:
    return _points(stats) > count


def _tick(stats: StatsController, qloop: Run, times: int = 1) -> None:
    """Poll now and wait for the points (a tick already running makes ours a skip)."""
    for _ in range(times):
        count = _points(stats)
        qloop(stats.tick_now(URI))
        qloop(wait_until(functools.partial(_more_points, stats, count)))


def test_every_active_guest_and_the_host_get_series(
    stats: tuple[HostController, StatsController], qloop: Run
) -> None:
    controller, st = stats
    _tick(st, qloop, 2)
    keys = set(st.guest_keys(URI))
    assert _active_keys(controller) <= keys
    some = st.guest_series(next(iter(_active_keys(controller))))
    assert some is not None and some.active and len(some.history) >= 2
    assert some.latest(GuestChannel.CPU) > 0
    assert st.usage_value(some.key, UsageKind.CPU) > 0
    host = st.host_series(URI)
    assert host is not None and host.active
    assert st.polled_hosts() == [URI]


def test_series_start_and_end_with_lifecycle(
    stats: tuple[HostController, StatsController], qloop: Run
) -> None:
    controller, st = stats
    host = controller.host(URI)
    off = next(g for g in host.guests.values() if g.state is GuestState.SHUTOFF)
    assert st.guest_series(off.key) is None
    qloop(host.call(lambda c: c.lookupByUUIDString(off.uuid).create(), "start"))
    # The start event makes the controller poll at once: the series begins.
    qloop(wait_until(lambda: (s := st.guest_series(off.key)) is not None and s.active))
    qloop(host.call(lambda c: c.lookupByUUIDString(off.uuid).destroy(), "stop"))
    qloop(wait_until(lambda: not st.guest_series(off.key).active))  # type: ignore[union-attr]
    series = st.guest_series(off.key)
    assert series is not None
    _times, values = series.history.view(3600)
    assert math.isnan(values[-1, GuestChannel.CPU]), "the line ends where the guest stopped"
    assert st.usage_value(off.key, UsageKind.CPU) == -1.0


def test_disconnect_ends_series_and_stops_polling(
    stats: tuple[HostController, StatsController], qloop: Run
) -> None:
    controller, st = stats
    _tick(st, qloop)
    key = next(iter(_active_keys(controller)))
    qloop(controller.disconnect_host(URI))
    assert st.polled_hosts() == []
    series, host = st.guest_series(key), st.host_series(URI)
    assert series is not None and not series.active, "history is kept, the series ended"
    assert host is not None and not host.active
    qloop(controller.connect_host(URI))
    qloop(wait_until(lambda: st.guest_series(key).active))  # type: ignore[union-attr]


def test_interval_is_clamped(stats: tuple[HostController, StatsController]) -> None:
    _controller, st = stats
    seen: list[float] = []
    st.intervalChanged.connect(seen.append)
    st.set_interval(0.2)
    st.set_interval(42)
    assert seen == [1.0, 10.0] and st.interval == 10.0


def test_charts_receive_points_and_only_visible_ones_redraw(
    stats: tuple[HostController, StatsController], qloop: Run, qtbot: QtBot
) -> None:
    controller, st = stats
    _tick(st, qloop, 2)
    charts = UsageCharts(st)
    qtbot.addWidget(charts)
    key = next(iter(_active_keys(controller)))
    charts.show_target(GuestTarget(key))
    built_before_show = charts.built
    charts.resize(900, 500)
    charts.show()
    qtbot.waitExposed(charts)
    assert not built_before_show and charts.built, "pyqtgraph waits until the charts show"
    cpu = _chart(charts, ChartId.CPU)
    x, y = cpu.items[0].xData, cpu.items[0].yData  # what was fed (getData is clipped)
    assert len(x) >= 2 and any(v > 0 for v in y if math.isfinite(v))
    series = st.guest_series(key)
    assert series is not None and charts.title.text() == series.name
    assert "%" in cpu.label.text()
    # Hidden: a tick does not redraw; shown again, it catches up.
    charts.hide()
    count = len(x)
    _tick(st, qloop)
    assert len(cpu.items[0].xData) == count
    charts.show()
    qtbot.waitExposed(charts)
    assert len(cpu.items[0].xData) == len(series.history.view(600.0)[0]) > count
    # The host page: real CPU, memory, committed figures.
    charts.show_target(HostTarget(URI))
    host_cpu, host_memory = _chart(charts, ChartId.CPU), _chart(charts, ChartId.MEMORY)
    assert [c.title for c in charts.charts()] == ["Host CPU", "Host memory"]
    assert len(host_cpu.items[0].xData) >= 2
    assert host_memory.notice.isVisible(), "the test driver reports no host memory use"
    assert "vCPUs committed" in charts.subtitle.text()
    charts.show_target(None)
    assert charts.pages.currentWidget() is charts.placeholder


def test_window_choice_and_hover_readout(
    stats: tuple[HostController, StatsController], qloop: Run, qtbot: QtBot
) -> None:
    controller, st = stats
    _tick(st, qloop, 3)
    charts = UsageCharts(st)
    qtbot.addWidget(charts)
    charts.resize(900, 500)
    charts.show()
    qtbot.waitExposed(charts)
    charts.show_target(GuestTarget(next(iter(_active_keys(controller)))))
    cpu = _chart(charts, ChartId.CPU)
    box = cpu.plot.getPlotItem().getViewBox()
    chosen: list[int] = []
    charts.windowChanged.connect(chosen.append)
    for seconds in (60, 3600):
        charts.set_window_seconds(seconds)
        assert charts.window_seconds() == seconds
        left, right = box.viewRange()[0]
        assert left == pytest.approx(-seconds) and 0 <= right < 0.1 * seconds
    times = cpu.times
    at = float(times[-2])
    scene_pos = box.mapViewToScene(QPointF(at - cpu.now, 50.0))  # the axis counts back
    cpu.plot.scene().sigMouseMoved.emit(scene_pos)
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    assert stamp in cpu.label.text()
    assert all(c.cursor.isVisible() for c in charts.charts()), "one moment marked on all"
    QApplication.sendEvent(cpu.plot, QEvent(QEvent.Type.Leave))  # the mouse leaves
    assert not any(c.cursor.isVisible() for c in charts.charts())
    assert stamp not in cpu.label.text() or times[-1] == at
    charts.set_window_seconds(42)  # not a choice: ignored (e.g. a stale saved setting)
    assert charts.window_seconds() == 3600 and chosen == [60, 3600]


def test_curves_redraw_when_they_would_move_a_pixel(
    stats: tuple[HostController, StatsController], qloop: Run, qtbot: QtBot
) -> None:
    """An hour on a few hundred pixels moves a pixel every ~8 s: a 1 s tick updates the
    read-out only; a redraw asked for by the user (here: the window choice) draws at once."""
    controller, st = stats
    _tick(st, qloop, 2)
    charts = UsageCharts(st)
    qtbot.addWidget(charts)
    charts.resize(900, 500)
    charts.show()
    qtbot.waitExposed(charts)
    charts.show_target(GuestTarget(next(iter(_active_keys(controller)))))
    charts.set_window_seconds(3600)
    cpu = _chart(charts, ChartId.CPU)
    drawn = len(cpu.items[0].xData)
    _tick(st, qloop)
    assert len(cpu.items[0].xData) == drawn, "not redrawn for a tenth of a pixel"
    assert len(cpu.times) > drawn, "the read-out has the newest values"
    charts.set_window_seconds(60)
    assert len(cpu.items[0].xData) == len(cpu.times) > drawn


RECORDED = "test:///recorded"


def _replay(stats: StatsController, *, balloon: bool, points: int = 30) -> GuestKey:
    """Feed the controller a recorded guest's ticks (as its poller would); its key."""
    now = time.time()
    for i in range(points):
        sample = GuestSample(
            "u",
            now - points + i,
            cpu_percent=10.0 + (i % 7) * 10,
            memory_used_kib=40_000.0 + i * 100 if balloon else math.nan,
            memory_total_kib=100_000.0,
            rss_kib=200_000.0,
            disk_read_bps=1e6,
            balloon=balloon,
        )
        rows = np.array([sample.row()], dtype=np.float32)
        started = frozenset({"u"}) if i == 0 else frozenset()
        stats.apply(
            TickResult(RECORDED, sample.time, {"u": sample}, None, started, order=("u",), rows=rows)
        )
    return (RECORDED, "u")


def test_recorded_ticks_make_a_series(qtbot: QtBot) -> None:
    """What a poll hands over is all a series is made of: replayed ticks give the same."""
    st = StatsController(HostController())
    ticks: list[str] = []
    st.ticked.connect(ticks.append)
    key = _replay(st, balloon=True, points=5)
    series = st.guest_series(key)
    assert series is not None and series.active and len(series.history) == 5
    _times, values = series.history.view(60.0)
    assert values[-5:, GuestChannel.CPU].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert st.usage_value(key, UsageKind.CPU) == 50.0
    assert st.usage_value(key, UsageKind.MEMORY) == 40_400.0
    assert st.guest_keys() == [key] and ticks == [RECORDED] * 5
    assert st.polled_hosts() == [], "replayed, not polled"


def test_no_balloon_memory_is_honest(qtbot: QtBot) -> None:
    st = StatsController(HostController())
    key = _replay(st, balloon=False)
    charts = UsageCharts(st)
    qtbot.addWidget(charts)
    charts.resize(900, 500)
    charts.show()
    qtbot.waitExposed(charts)
    charts.show_target(GuestTarget(key))
    memory = _chart(charts, ChartId.MEMORY)
    assert memory.notice.isVisible() and memory.notice.text() == NO_BALLOON_TEXT
    used = memory.items[0].yData
    assert not any(math.isfinite(v) for v in used), "no 'used' line made of nothing"
    rss = memory.items[2].yData
    assert max(rss) > 0, "the host-side resident size is shown instead"
    assert "host RSS 195 MiB" in memory.label.text()
    assert "used in the guest" not in memory.label.text()
    assert st.usage_value(key, UsageKind.MEMORY) == 200_000.0, "sorts by RSS without one"


def _chart(charts: UsageCharts, chart_id: ChartId) -> Chart:
    chart = charts.chart(chart_id)
    assert chart is not None, f"the page has a {chart_id} chart"
    return chart


def test_readout_values() -> None:
    """Sizes and rates read as :mod:`vmgui.core.units` writes them everywhere."""
    assert format_value(12.345, Unit.PERCENT) == "12.3 %"
    assert format_value(15_667.0, Unit.KIB) == "15.3 MiB"
    assert format_value(1536.0, Unit.BYTES_PER_S) == "1.5 KiB/s"
    assert format_value(31.6, Unit.IOPS) == "32 IOPS"
    assert format_value(math.nan, Unit.KIB) == "—"


def _imported(modules: str) -> set[str]:
    code = (
        f"import sys, {modules}\n"
        "print(' '.join(m for m in ('numpy', 'pyqtgraph') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


def test_numpy_and_pyqtgraph_wait_for_the_first_paint() -> None:
    """Start-up (app, main window) imports neither (DESIGN: window <= 0.4 s); the charts
    module defers pyqtgraph until the charts are first shown."""
    assert _imported("vmgui.app, vmgui.ui.main.window, vmgui.ui.controller") == set()
    assert _imported("vmgui.ui.monitor.install") == {"numpy"}
    assert _imported("vmgui.ui.monitor") == set(), "the package itself imports nothing"
