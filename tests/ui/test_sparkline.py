"""The guest list's sparklines (delegate, installation) and live usage in the main window."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyleOptionViewItem, QTabWidget, QTreeView
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from vmgui.core.history import History
from vmgui.core.model import GuestInfo, GuestState
from vmgui.core.rates import GuestChannel, GuestSample
from vmgui.ui.controller import HostController
from vmgui.ui.dialogs import QtDialogs
from vmgui.ui.guests.model import (
    GuestColumn,
    GuestFilterProxy,
    GuestModel,
    GuestRole,
    SortRole,
)
from vmgui.ui.main.window import MainWindow
from vmgui.ui.monitor.charts import ChartTarget, GuestTarget, HostTarget, UsageCharts
from vmgui.ui.monitor.controller import StatsController
from vmgui.ui.monitor.install import install_usage
from vmgui.ui.monitor.series import GuestKey, GuestSeries
from vmgui.ui.monitor.sparkline import SparklineDelegate
from vmgui.ui.shell import Selection, UsageKind
from vmgui.ui.tablemodel import HostUriRole
from vmgui.ui.uistate import UiState

Run = Callable[..., Any]
URI = fixture_uri()


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


class _Source:
    """A :class:`~vmgui.ui.monitor.series.SeriesSource` with one recorded series."""

    def __init__(self, series: GuestSeries | None) -> None:
        self.series = series

    def guest_series(self, key: GuestKey) -> GuestSeries | None:
        return self.series


def _paint(source: _Source, kind: UsageKind) -> tuple[QImage, int]:
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
    _image, cpu = _paint(_Source(_series(balloon=True)), UsageKind.CPU)
    _image, memory = _paint(_Source(_series(balloon=True)), UsageKind.MEMORY)
    _image, rss = _paint(_Source(_series(balloon=False)), UsageKind.MEMORY)
    _image, nothing = _paint(_Source(None), UsageKind.CPU)
    assert cpu > 150 and memory > 150 and rss > 150
    assert nothing < 40, "no series: nothing but the cell background"
    delegate = SparklineDelegate(_Source(_series(balloon=False)), UsageKind.MEMORY)
    model = QStandardItemModel(1, 1)
    model.setData(
        model.index(0, 0), GuestInfo("u", "u", "g", GuestState.RUNNING, 1, 1, 1), GuestRole
    )
    spark = delegate.spark_for(model.index(0, 0))
    assert spark is not None and "no balloon driver" in spark.tooltip
    assert spark.text == "195 MiB"
    assert delegate.spark_for(QModelIndex()) is None
    cpu_spark = SparklineDelegate(_Source(_series(balloon=True)), UsageKind.CPU).spark_for(
        model.index(0, 0)
    )
    assert cpu_spark is not None and "of 2 vCPUs" in cpu_spark.tooltip


def _select(selection: QItemSelectionModel, *indexes: QModelIndex) -> None:
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    selection.clearSelection()
    for index in indexes:
        selection.select(index, flags)


def test_install_usage_on_the_main_window(qtbot: QtBot, qloop: Run) -> None:
    controller = HostController()
    window = MainWindow(controller, QtDialogs())
    qtbot.addWidget(window)
    window.show()
    controller.add_host(URI, save=False)
    qloop(controller.connect_host(URI))
    selection = window.selection
    view, proxy, model = window.guest_list.view, window.guest_list.proxy, window.guest_list.model
    st = install_usage(selection, view, model, proxy, window.side_tabs, controller)
    try:
        charts = window.side_tabs.findChild(UsageCharts, "usageCharts")
        assert charts is not None

        def shown() -> ChartTarget | None:
            return charts.target

        assert window.side_tabs.indexOf(charts) == 1, "beside Details"
        assert window.side_tabs.tabText(1) == "Usage"
        assert st.polled_hosts() == [URI], "a host connected before the install is polled"
        # With nothing selected the charts show the first host, like the details do.
        assert shown() == HostTarget(URI)
        assert charts.title.text() == controller.label(URI)
        # The sparklines: on the usage columns, shown right after State, CPU first.
        header = view.header()
        state = header.visualIndex(GuestColumn.STATE)
        expected = (
            (UsageKind.CPU, GuestColumn.CPU_USE),
            (UsageKind.MEMORY, GuestColumn.MEMORY_USE),
        )
        for offset, (kind, column) in enumerate(expected, 1):
            delegate = view.itemDelegateForColumn(column)
            assert isinstance(delegate, SparklineDelegate) and delegate.kind is kind
            assert column < model.columnCount() and not header.isSectionHidden(column)
            assert header.visualIndex(column) == state + offset
            assert header.sectionSize(column) == 130
        # The charts follow the selection: one guest, its charts; two, the focused host's.
        running = [
            proxy.index(r, 0)
            for r in range(proxy.rowCount())
            if proxy.index(r, 0).data(GuestRole).state is GuestState.RUNNING
        ]
        first = running[0].data(GuestRole)
        _select(view.selectionModel(), running[0])
        assert shown() == GuestTarget(first.key)
        _select(view.selectionModel(), *running[:2])
        assert shown() == HostTarget(URI)
        # The model sorts its usage columns by the controller's current figures.
        qloop(wait_until(lambda: st.usage_value(first.key, UsageKind.CPU) > 0))
        for kind, column in expected:
            index = model.index(model.row_of(*first.key), column)
            assert index.data(SortRole) == st.usage_value(first.key, kind)
        proxy.sort(GuestColumn.CPU_USE, Qt.SortOrder.DescendingOrder)
        keys = [proxy.index(r, GuestColumn.CPU_USE).data(SortRole) for r in range(20)]
        assert keys == sorted(keys, reverse=True) and keys[0] > 0
    finally:
        st.close()
        qloop(controller.close_all())


def test_usage_follows_hosts_added_and_removed(qtbot: QtBot, qloop: Run) -> None:
    """No host: nothing to chart; a host added is in focus; removed, nothing again."""
    controller = HostController()
    model = GuestModel(controller.label)
    proxy = GuestFilterProxy()
    proxy.setSourceModel(model)
    view, hosts, tabs = QTreeView(), QTreeView(), QTabWidget()
    view.setModel(proxy)
    hosts.setModel(QStandardItemModel(0, 1))
    for widget in (view, hosts, tabs):
        qtbot.addWidget(widget)
    selection = Selection(
        view.selectionModel(),
        hosts.selectionModel(),
        controller.uris,
        guest_role=GuestRole,
        host_role=HostUriRole,
    )
    st = install_usage(selection, view, model, proxy, tabs, controller)
    try:
        charts = tabs.widget(0)
        assert isinstance(charts, UsageCharts) and tabs.tabText(0) == "Usage"
        seen = [charts.target]
        controller.add_host(URI, autoconnect=False, save=False)
        seen.append(charts.target)
        qloop(controller.remove_host(URI))
        seen.append(charts.target)
        assert seen == [None, HostTarget(URI), None]
    finally:
        st.close()
        qloop(controller.close_all())


def test_chart_window_and_interval_are_remembered(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "ui.ini"

    def install(state: UiState) -> tuple[MainWindow, StatsController, UsageCharts]:
        controller = HostController()
        window = MainWindow(controller, QtDialogs(), ui_state=state)
        qtbot.addWidget(window)
        gl = window.guest_list
        st = install_usage(
            window.selection, gl.view, gl.model, gl.proxy, window.side_tabs, controller, state=state
        )
        charts = window.side_tabs.findChild(UsageCharts, "usageCharts")
        assert charts is not None
        return window, st, charts

    first, st, charts = install(UiState(path))
    try:
        assert (charts.window_seconds(), st.interval) == (600, 1.0), "the defaults"
        charts.set_window_seconds(3600)
        st.set_interval(5.0)
    finally:
        st.close()
    first.close()  # saves the layout, and with it the usage settings

    second, st2, charts2 = install(UiState(path))
    try:
        assert charts2.window_seconds() == 3600
        assert st2.interval == 5.0
    finally:
        st2.close()
    second.close()
