"""Usage in the UI: the stats controller on a test-driver host, the charts, the sparklines."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QPointF, QRect
from PySide6.QtGui import QColor, QImage, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyleOptionViewItem, QTabWidget, QTreeView, QWidget
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from vmgui.core.history import History
from vmgui.core.model import GuestInfo, GuestState
from vmgui.core.rates import GuestChannel, GuestSample
from vmgui.ui.charts import NO_BALLOON_TEXT, UsageCharts, format_bytes, pick_unit
from vmgui.ui.dialogs import QtDialogs
from vmgui.ui.hosts import HostController
from vmgui.ui.mainwindow import MainWindow
from vmgui.ui.models import GuestRole
from vmgui.ui.sparkline import SparkKind, SparklineDelegate, install_sparklines, usage_columns
from vmgui.ui.statscontroller import GuestSeries, StatsController, install_usage

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
    assert st.usage_value(some.key, "cpu") > 0
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
    assert st.usage_value(off.key, "cpu") == -1.0


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
    charts.show_guest(key)
    built_before_show = charts.built
    charts.resize(900, 500)
    charts.show()
    qtbot.waitExposed(charts)
    assert not built_before_show and charts.built, "pyqtgraph waits until the charts show"
    cpu = charts.charts()[0]
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
    charts.show_host(URI)
    host_cpu, host_memory = charts.charts()
    assert len(host_cpu.items[0].xData) >= 2
    assert host_memory.notice.isVisible(), "the test driver reports no host memory use"
    assert "vCPUs committed" in charts.subtitle.text()
    charts.show_nothing()
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
    charts.show_guest(next(iter(_active_keys(controller))))
    cpu = charts.charts()[0]
    box = cpu.plot.getPlotItem().getViewBox()
    for seconds in (60.0, 3600.0):
        charts.set_window(seconds)
        left, right = box.viewRange()[0]
        assert left == pytest.approx(-seconds) and 0 <= right < 0.1 * seconds
    times = cpu.times
    at = float(times[-2])
    scene_pos = box.mapViewToScene(QPointF(at - cpu.now, 50.0))  # the axis counts back
    cpu.plot.scene().sigMouseMoved.emit(scene_pos)
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    assert stamp in cpu.label.text()
    assert all(c.cursor.isVisible() for c in charts.charts()), "one moment marked on all"
    charts._set_hover(None)
    assert stamp not in cpu.label.text() or times[-1] == at


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
    charts.show_guest(next(iter(_active_keys(controller))))
    charts.set_window(3600.0)
    cpu = charts.charts()[0]
    drawn = len(cpu.items[0].xData)
    _tick(st, qloop)
    assert len(cpu.items[0].xData) == drawn, "not redrawn for a tenth of a pixel"
    assert len(cpu.times) > drawn, "the read-out has the newest values"
    charts.set_window(60.0)
    assert len(cpu.items[0].xData) == len(cpu.times) > drawn


def _series(balloon: bool, points: int = 30) -> GuestSeries:
    history = History(len(GuestChannel))
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
        history.append(sample.time, sample.row())
    return GuestSeries(("test:///x", "u"), "guest", 2, history, 0)


def test_no_balloon_memory_is_honest(
    stats: tuple[HostController, StatsController], qtbot: QtBot
) -> None:
    _controller, st = stats
    series = _series(balloon=False)
    st._guests[series.key] = series  # a recorded series, shown as is
    charts = UsageCharts(st)
    qtbot.addWidget(charts)
    charts.resize(900, 500)
    charts.show()
    qtbot.waitExposed(charts)
    charts.show_guest(series.key)
    memory = charts.charts()[1]
    assert memory.notice.isVisible() and memory.notice.text() == NO_BALLOON_TEXT
    used = memory.items[0].yData
    assert not any(math.isfinite(v) for v in used), "no 'used' line made of nothing"
    rss = memory.items[2].yData
    assert max(rss) > 0, "the host-side resident size is shown instead"
    assert "host RSS 195 MiB" in memory.label.text()
    assert "used in the guest" not in memory.label.text()


class _Source:
    def __init__(self, series: GuestSeries | None) -> None:
        self.series = series

    def guest_series(self, key: tuple[str, str]) -> GuestSeries | None:
        return self.series


def _paint(source: _Source, kind: SparkKind) -> tuple[QImage, int]:
    model = QStandardItemModel(1, 1)
    item = QStandardItem()
    guest = GuestInfo("test:///x", "u", "guest", GuestState.RUNNING, 2, 1024, 1024)
    item.setData(guest, GuestRole)
    model.setItem(0, 0, item)
    view = QTreeView()
    view.setModel(model)
    delegate = SparklineDelegate(source, kind)
    image = QImage(160, 24, QImage.Format.Format_ARGB32)
    background = QColor("#ffffff")
    image.fill(background)
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 160, 24)
    option.palette = view.palette()
    option.fontMetrics = view.fontMetrics()
    delegate.paint(painter, option, model.index(0, 0))
    painter.end()
    changed = sum(1 for x in range(160) for y in range(24) if image.pixelColor(x, y) != background)
    return image, changed


def test_sparklines_paint(qtbot: QtBot) -> None:
    _image, cpu = _paint(_Source(_series(balloon=True)), SparkKind.CPU)
    _image, memory = _paint(_Source(_series(balloon=True)), SparkKind.MEMORY)
    _image, rss = _paint(_Source(_series(balloon=False)), SparkKind.MEMORY)
    _image, nothing = _paint(_Source(None), SparkKind.CPU)
    assert cpu > 150 and memory > 150 and rss > 150
    assert nothing < 40, "no series: nothing but the cell background"
    delegate = SparklineDelegate(_Source(_series(balloon=False)), SparkKind.MEMORY)
    model = QStandardItemModel(1, 1)
    model.setData(
        model.index(0, 0), GuestInfo("u", "u", "g", GuestState.RUNNING, 1, 1, 1), GuestRole
    )
    spark = delegate.spark_for(model.index(0, 0))
    assert spark is not None and "no balloon driver" in spark.tooltip
    assert delegate.spark_for(QModelIndex()) is None


def test_install_usage_on_the_main_window(qtbot: QtBot, qloop: Run) -> None:
    controller = HostController()
    window = MainWindow(controller, QtDialogs())
    qtbot.addWidget(window)
    window.show()
    controller.add_host(URI, save=False)
    qloop(controller.connect_host(URI))
    st = install_usage(window, controller)
    try:
        charts = window.findChild(QWidget, "usageCharts")
        assert isinstance(charts, UsageCharts)
        tabs = charts.parentWidget()
        while tabs is not None and not isinstance(tabs, QTabWidget):
            tabs = tabs.parentWidget()
        assert tabs is not None and tabs.tabText(tabs.indexOf(charts)) == "Usage"
        assert st.polled_hosts() == [URI], "a host connected before the install is polled"
        # With nothing selected the charts show the first host, like the details do.
        assert charts.title.text() == controller.label(URI)
        # Sparklines go where the guest model has usage columns (none: nothing breaks).
        columns = usage_columns(window.guest_model)
        for kind, column in columns.items():
            delegate = window.guest_view.itemDelegateForColumn(column)
            assert isinstance(delegate, SparklineDelegate) and delegate.kind is kind
        if columns:
            assert getattr(window.guest_model, "usage_value", None) == st.usage_value
        else:
            assert install_sparklines(window.guest_view, window.guest_model, None, st) == []
    finally:
        st.close()
        qloop(controller.close_all())


def test_units() -> None:
    assert pick_unit(512.0) == (1.0, "B")
    assert pick_unit(3 * 1024**2, "/s") == (1024.0**2, "MiB/s")
    assert format_bytes(0.0) == "0 B"
    assert format_bytes(1536.0, "/s") == "1.5 KiB/s"
    assert format_bytes(math.nan) == "—"


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
    assert _imported("vmgui.app, vmgui.ui.mainwindow, vmgui.ui.hosts") == set()
    assert _imported("vmgui.ui.statscontroller, vmgui.ui.charts") == {"numpy"}
