"""Proof on screen: a guest's limits as lines on its usage charts, and the wait-for-CPU chart."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.unit.test_rates import VCPU_T0, VCPU_T2
from vmgui.core.limits import DiskLimits, GuestLimits, LimitsView, NicLimits
from vmgui.core.model import GuestInfo, GuestState
from vmgui.core.rates import GuestChannel, GuestSample, guest_counters_from_stats, guest_sample
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import QtDialogs
from vmgui.ui.guests.model import GuestRole
from vmgui.ui.main.window import MainWindow
from vmgui.ui.monitor.charts import GuestTarget, UsageCharts
from vmgui.ui.monitor.chartspec import NO_CPU_WAIT_TEXT, ChartId
from vmgui.ui.monitor.controller import StatsController
from vmgui.ui.monitor.install import install_usage
from vmgui.ui.monitor.limitlines import limit_lines
from vmgui.ui.monitor.limitwatch import ChartLimits
from vmgui.ui.monitor.plot import Chart
from vmgui.ui.monitor.series import GuestKey
from vmgui.virt.stats import TickResult

Run = Callable[..., Any]
URI = fixture_uri()
RECORDED = "test:///recorded"
KIB = 1024

LIMITED = GuestLimits(
    vcpus=2,
    vcpu_period_us=100_000,
    vcpu_quota_us=10_000,  # 20 % of one host CPU for the guest, 10 % per vCPU
    disks=(DiskLimits("vda", read_bps=256 * KIB), DiskLimits("vdb", write_iops=100)),
    nics=(NicLimits("52:54:00:00:00:01", "network", inbound_kib=1024, outbound_kib=512),),
)


def _view(uuid: str, limits: GuestLimits = LIMITED) -> LimitsView:
    return LimitsView("g", uuid, True, True, limits, limits)


def _replay_records(stats: StatsController, records: list[dict[str, Any]]) -> GuestKey:
    """Feed ``getAllDomainStats`` records of one guest, 2 s apart, as its poller would."""
    # The first two in one 10 s step of the history, the third in the next (deterministic).
    start = math.floor(time.time() / 10) * 10 - 23.0
    previous = None
    for i, record in enumerate(records):
        counters = guest_counters_from_stats("u", 7, 100.0 + 2 * i, record, 2)
        sample = guest_sample(previous, counters, 4, start + 2 * i)
        previous = counters
        rows = np.array([sample.row()], dtype=np.float32)
        started = frozenset({"u"}) if i == 0 else frozenset()
        stats.apply(
            TickResult(RECORDED, sample.time, {"u": sample}, None, started, order=("u",), rows=rows)
        )
    return (RECORDED, "u")


def _replay_rates(stats: StatsController, points: int = 10) -> GuestKey:
    now = time.time()
    for i in range(points):
        sample = GuestSample(
            "u", now - points + i, cpu_percent=30.0, disk_read_bps=100 * KIB, net_rx_bps=2000.0
        )
        rows = np.array([sample.row()], dtype=np.float32)
        started = frozenset({"u"}) if i == 0 else frozenset()
        stats.apply(
            TickResult(RECORDED, sample.time, {"u": sample}, None, started, order=("u",), rows=rows)
        )
    return (RECORDED, "u")


def _shown_charts(qtbot: QtBot, stats: StatsController, key: GuestKey) -> UsageCharts:
    charts = UsageCharts(stats)
    qtbot.addWidget(charts)
    charts.resize(900, 700)
    charts.show()
    qtbot.waitExposed(charts)
    charts.show_target(GuestTarget(key))
    return charts


def _chart(charts: UsageCharts, chart_id: ChartId) -> Chart:
    chart = charts.chart(chart_id)
    assert chart is not None, f"the page has a {chart_id} chart"
    return chart


def _lines(chart: Chart) -> list[tuple[float, str]]:
    """Each limit line's value in the chart's base unit and its label, as drawn."""
    return [
        (round(float(item.value()) * chart.scale, 6), item.label.toPlainText())
        for item in chart.limit_items
    ]


def test_limit_lines_on_the_right_charts_at_the_right_values(qtbot: QtBot) -> None:
    st = StatsController(HostController())
    key = _replay_rates(st)
    charts = _shown_charts(qtbot, st, key)
    disk, net = _chart(charts, ChartId.DISK), _chart(charts, ChartId.NETWORK)
    cpu, memory = _chart(charts, ChartId.CPU), _chart(charts, ChartId.MEMORY)
    assert all(not c.limit_items for c in charts.charts()), "no limits given: no lines"
    charts.set_limits(key, _view("u"))
    # Only vda of two disks is limited: its own limit, named (the chart sums both disks).
    assert _lines(disk) == [(float(256 * KIB), "read limit 256 KiB/s on vda")]
    # An IOPS limit is not on the bytes/s axis: a note in the read-out, beside the IOPS.
    assert [n.label for n in disk.limit_notes] == ["write limit 100 IOPS on vdb"]
    assert "write limit 100 IOPS on vdb" in disk.label.text()
    assert _lines(net) == [
        (float(1024 * KIB), "inbound limit 1.0 MiB/s"),
        (float(512 * KIB), "outbound limit 512 KiB/s"),
    ]
    # The cap is 20 % of one host CPU; the chart plots % of the guest's 2 vCPUs: 10 %.
    assert _lines(cpu) == [(10.0, "CPU cap 20 % of one host CPU (10 % of its 2 vCPUs)")]
    assert not memory.limit_items and not _chart(charts, ChartId.CPU_WAIT).limit_items
    # The value axis reaches the line (reads run at 100 KiB/s, the limit is 256 KiB/s).
    top = disk.plot.getPlotItem().getViewBox().viewRange()[1][1]
    assert top * disk.scale >= 256 * KIB
    # Another guest charted: none of these lines; back, they are there again.
    charts.show_target(GuestTarget((RECORDED, "other")))
    assert all(not c.limit_items for c in charts.charts())
    charts.show_target(GuestTarget(key))
    assert len(_chart(charts, ChartId.DISK).limit_items) == 1
    # Limits lifted (a view without any), or cleared: no line anywhere.
    charts.set_limits(key, _view("u", GuestLimits(vcpus=2, disks=(DiskLimits("vda"),))))
    assert all(not c.limit_items for c in charts.charts())
    assert not disk.limit_notes and "IOPS on vdb" not in disk.label.text()
    charts.set_limits(key, _view("u"))
    charts.clear_limits()
    assert all(not c.limit_items for c in charts.charts())


def test_limit_lines_sum_when_every_device_is_limited() -> None:
    limits = dataclasses.replace(
        LIMITED,
        vcpus=1,
        vcpu_quota_us=20_000,
        disks=(DiskLimits("vda", write_bps=KIB * KIB), DiskLimits("vdb", write_bps=KIB * KIB)),
    )
    lines = limit_lines(_view("u", limits))
    assert [(x.value, x.label) for x in lines[ChartId.DISK]] == [
        (2.0 * KIB * KIB, "write limit 2.0 MiB/s (2 devices)")
    ]
    assert [(x.value, x.label) for x in lines[ChartId.CPU]] == [
        (20.0, "CPU cap 20 % of one host CPU")
    ]
    assert limit_lines(None) == {}


def test_cpu_wait_chart_from_recorded_vcpu_delay(qtbot: QtBot) -> None:
    """Recorded ``vcpu.N.delay`` counters through ``StatsController.apply``: plotted in ms/s."""
    t4 = {
        **VCPU_T2,
        "cpu.time": VCPU_T2["cpu.time"] + 2_000_000_000,
        "vcpu.0.delay": VCPU_T2["vcpu.0.delay"] + 40_000_000,  # 20 ms/s
        "vcpu.1.delay": VCPU_T2["vcpu.1.delay"],  # 0 ms/s
    }
    st = StatsController(HostController())
    key = _replay_records(st, [VCPU_T0, VCPU_T2, t4])
    charts = _shown_charts(qtbot, st, key)
    wait = _chart(charts, ChartId.CPU_WAIT)
    assert wait.title == "Waiting for a host CPU"
    y = [v for v in wait.items[0].yData if math.isfinite(v)]
    first = ((445934341 - 443766062) + (364397792 - 364386695)) / 2 / 2 / 1e6
    assert y == [pytest.approx(first), pytest.approx(10.0)]
    assert "10.0 ms/s per vCPU" in wait.label.text()
    assert not wait.notice.isVisible()
    series = st.guest_series(key)
    assert series is not None and series.latest(GuestChannel.CPU_WAIT) == pytest.approx(10.0)


@pytest.fixture
def polled(qtbot: QtBot, qloop: Run) -> Iterator[tuple[HostController, StatsController]]:
    """A connected test-driver host (no vCPU stats), ticked by hand."""
    controller = HostController()
    stats = StatsController(controller, interval=10)
    controller.add_host(URI, save=False)
    qloop(controller.connect_host(URI))
    qloop(wait_until(lambda: stats.host_series(URI) is not None))
    yield controller, stats
    stats.close()
    qloop(controller.close_all())


def test_cpu_wait_not_reported_by_the_test_driver(
    polled: tuple[HostController, StatsController], qloop: Run, qtbot: QtBot
) -> None:
    controller, st = polled
    for _ in range(2):
        qloop(st.tick_now(URI))
    guest = next(g for g in controller.host(URI).guests.values() if g.is_active)
    qloop(wait_until(lambda: (s := st.guest_series(guest.key)) is not None and len(s.history) >= 2))
    charts = _shown_charts(qtbot, st, guest.key)
    wait = _chart(charts, ChartId.CPU_WAIT)
    assert wait.notice.isVisible() and wait.notice.text() == NO_CPU_WAIT_TEXT
    assert not any(math.isfinite(v) for v in wait.items[0].yData), "never a fake zero"
    assert math.isfinite(_chart(charts, ChartId.CPU).values[-1, GuestChannel.CPU])


def _select_running(window: MainWindow, nth: int = 0) -> GuestInfo:
    proxy = window.guest_list.proxy
    rows = [
        r
        for r in range(proxy.rowCount())
        if proxy.index(r, 0).data(GuestRole).state is GuestState.RUNNING
    ]
    index = proxy.index(rows[nth], 0)
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
    window.guest_list.view.selectionModel().setCurrentIndex(
        index, flags | QItemSelectionModel.SelectionFlag.Rows
    )
    guest: GuestInfo = index.data(GuestRole)
    return guest


def test_charts_read_the_selected_guests_limits_once_per_selection(
    qtbot: QtBot, qloop: Run
) -> None:
    """The wiring :func:`vmgui.app.main` does, on the test driver (it cannot report limits):

    one read per selection change while the Usage tab shows, none per tick, none while hidden;
    the Limits tab's limits (after an Apply) reach the charts of the guest they are for.
    """
    controller = HostController()
    window = MainWindow(controller, QtDialogs())
    qtbot.addWidget(window)
    window.show()
    controller.add_host(URI, save=False)
    qloop(controller.connect_host(URI))
    tab = window.limits_tab
    st = install_usage(
        window.selection,
        window.guest_list.view,
        window.guest_list.model,
        window.guest_list.proxy,
        window.side_tabs,
        controller,
        limits_changed=tab.limitsChanged,
    )
    try:
        charts = window.side_tabs.findChild(UsageCharts, "usageCharts")
        watch = st.findChild(ChartLimits)
        assert charts is not None and watch is not None
        reads: list[str] = []
        watch.limitsUnavailable.connect(lambda uuid, _why: reads.append(uuid))
        watch.limitsRead.connect(lambda view: reads.append(view.uuid))
        window.side_tabs.setCurrentWidget(charts)
        qtbot.waitExposed(charts)
        guest = _select_running(window)
        proxy = window.guest_list.proxy
        assert charts.target == GuestTarget(guest.key)
        qloop(wait_until(lambda: reads == [guest.uuid]))
        for _ in range(3):  # ticks change the selected row (its usage): no new read
            qloop(st.tick_now(URI))
            index = window.guest_list.view.currentIndex()
            proxy.dataChanged.emit(index, index.siblingAtColumn(proxy.columnCount() - 1), [])
        qloop(asyncio.sleep(0.4))
        assert reads == [guest.uuid]
        # Hidden charts read nothing; shown again, the guest chosen meanwhile is read once.
        window.side_tabs.setCurrentIndex(0)
        other = _select_running(window, 1)
        qloop(asyncio.sleep(0.4))
        assert reads == [guest.uuid]
        window.side_tabs.setCurrentWidget(charts)
        qloop(wait_until(lambda: reads == [guest.uuid, other.uuid]))
        # Limits read by the Limits tab: drawn for the guest they are for, only.
        disk = _chart(charts, ChartId.DISK)
        tab.limitsChanged.emit(_view("some-other-uuid"))
        assert not disk.limit_items
        tab.limitsChanged.emit(_view(other.uuid))
        assert _lines(disk) == [(float(256 * KIB), "read limit 256 KiB/s on vda")]
        qloop(asyncio.sleep(0.4))
        assert len(reads) == 2
    finally:
        st.close()
        qloop(controller.close_all())
