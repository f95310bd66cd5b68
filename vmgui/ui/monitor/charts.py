"""The ``usageCharts`` widget: live CPU, memory, disk and network charts of a guest or a host.

Plots are pyqtgraph ``PlotWidget`` s created once (pyqtgraph itself is imported the first time
the widget is shown, never at start-up) and fed with ``setData`` from the stats controller's
ring buffers, clipped to the chosen window (1 min, 10 min, 1 h) and downsampled. Only the
charts on screen redraw; a hidden widget just notes that it is out of date.

Every chart (:class:`~vmgui.ui.monitor.plot.Chart`) has a time axis counting back from now, a
unit on its value axis and a read-out line above it that doubles as the legend; while the
mouse hovers any chart, a vertical line marks that moment on all of them. The limits of the
charted guest, once known (:meth:`UsageCharts.set_limits`), are dashed lines on its CPU, disk
and network charts (see :mod:`vmgui.ui.monitor.limitlines`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.limits import LimitsView
from vmgui.core.rates import GuestChannel, HostChannel
from vmgui.core.units import plural
from vmgui.ui.monitor.chartspec import GUEST_CHARTS, HOST_CHARTS, ChartId, ChartSpec
from vmgui.ui.monitor.controller import StatsController
from vmgui.ui.monitor.lazy import without_source_scan
from vmgui.ui.monitor.limitlines import LimitLines, limit_lines
from vmgui.ui.monitor.plot import Array, Chart
from vmgui.ui.monitor.series import GuestKey, GuestSeries, HostSeries

#: The windows users can choose, in seconds, with their labels.
WINDOWS: tuple[tuple[str, int], ...] = (("1 min", 60), ("10 min", 600), ("1 h", 3600))
DEFAULT_WINDOW = 600


@dataclass(frozen=True, slots=True)
class GuestTarget:
    """Chart one guest."""

    key: GuestKey

    @property
    def uri(self) -> str:
        """The guest's host."""
        return self.key[0]


@dataclass(frozen=True, slots=True)
class HostTarget:
    """Chart one host."""

    uri: str


ChartTarget = GuestTarget | HostTarget


class UsageCharts(QWidget):
    """Live usage of the selected guest or host (objectName ``usageCharts``).

    Signals:
        windowChanged(int): the seconds of history shown changed (one of :data:`WINDOWS`).

    Args:
        stats: where the histories are; the charts redraw after its ticks.
        parent: the parent widget.
    """

    windowChanged = Signal(int)

    def __init__(self, stats: StatsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("usageCharts")
        self._stats = stats
        self._target: ChartTarget | None = None
        self._window = DEFAULT_WINDOW
        self._dirty = True
        self._hover: float | None = None
        self._drawn_at = -math.inf
        self._guest_charts: dict[ChartId, Chart] = {}
        self._host_charts: dict[ChartId, Chart] = {}
        self._limits: tuple[GuestKey, LimitLines] | None = None

        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: palette(placeholder-text);")
        self.window_combo = QComboBox()
        self.window_combo.setObjectName("usageWindow")
        self.window_combo.setToolTip("How much history the charts show")
        for label, seconds in WINDOWS:
            self.window_combo.addItem(label, seconds)
        self.window_combo.setCurrentIndex([s for _l, s in WINDOWS].index(DEFAULT_WINDOW))
        self.interval_spin = QSpinBox()
        self.interval_spin.setObjectName("usageInterval")
        self.interval_spin.setToolTip("How often usage is read from the hosts")
        self.interval_spin.setRange(1, 10)
        self.interval_spin.setPrefix("every ")
        self.interval_spin.setSuffix(" s")
        self.interval_spin.setValue(round(stats.interval))
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        top = QHBoxLayout()
        top.addLayout(titles, 1)
        top.addWidget(self.window_combo)
        top.addWidget(self.interval_spin)
        self.placeholder = QLabel("Select a guest or a host to see its usage.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._guest_page = QWidget()
        self._host_page = QWidget()
        self.pages = QStackedWidget()
        for page in (self.placeholder, self._guest_page, self._host_page):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)

        self.window_combo.currentIndexChanged.connect(self._on_window_combo_changed)
        self.interval_spin.valueChanged.connect(self._on_interval_spin_changed)
        stats.ticked.connect(self._on_stats_ticked)
        stats.intervalChanged.connect(self._on_stats_interval_changed)
        self._show_page()

    # -- public -----------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether the plots exist yet (they are made on first show)."""
        return bool(self._guest_charts)

    @property
    def target(self) -> ChartTarget | None:
        """What is charted (None: the hint to select something)."""
        return self._target

    def charts(self) -> list[Chart]:
        """The charts of the current page, in layout order (empty before they are built)."""
        return list(self._page_charts().values())

    def chart(self, chart_id: ChartId) -> Chart | None:
        """One chart of the current page (None if the page has none such, or not built)."""
        return self._page_charts().get(chart_id)

    def show_target(self, target: ChartTarget | None) -> None:
        """Chart a guest or a host (None: show the hint to select something)."""
        if target == self._target:
            return
        self._target = target
        self._hover = None
        self._show_page()
        self.refresh()

    def set_limits(self, key: GuestKey, view: LimitsView | None) -> None:
        """Draw the limits of guest ``key`` on its charts (None: it has none known).

        One guest's limits are kept at a time (the last one given): they are drawn while that
        guest is charted, as lines on the charts that have a limit, and nowhere else.
        """
        lines = limit_lines(view)
        self._limits = (key, lines) if lines else None
        self.refresh()

    def clear_limits(self) -> None:
        """Forget the limits given: no limit lines on any chart."""
        if self._limits is not None:
            self._limits = None
            self.refresh()

    def window_seconds(self) -> int:
        """The seconds of history shown (one of :data:`WINDOWS`)."""
        return self._window

    def set_window_seconds(self, seconds: int) -> None:
        """Show the last ``seconds``; a value not in :data:`WINDOWS` is ignored."""
        for i, (_label, value) in enumerate(WINDOWS):
            if value == seconds:
                self.window_combo.setCurrentIndex(i)

    def refresh(self, *, tick: bool = False) -> None:
        """Redraw now if on screen; otherwise remember to when shown.

        After a ``tick``, the curves are redrawn only once they would move by a pixel (a
        10-minute window on 450 px moves a pixel per 1.3 s; an hour, per 8 s); the
        read-outs always show the newest values.
        """
        if not self.isVisible() or not self.built:
            self._dirty = True
            return
        self._dirty = False
        charts = self.charts()
        width = charts[0].plot.width() if charts else 0
        per_pixel = self._window / max(width - 50, 100)
        curves = not tick or time.monotonic() - self._drawn_at >= 0.9 * per_pixel
        if curves:
            self._drawn_at = time.monotonic()
        self._draw(curves)

    # -- Qt ----------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self.built:
            self._build()
            self._show_page()
        if self._dirty:
            self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Leave and self._hover is not None:
            self._set_hover(None)
        return super().eventFilter(watched, event)

    # -- drawing ----------------------------------------------------------------------------

    def _page_charts(self) -> dict[ChartId, Chart]:
        target = self._target
        if target is None:
            return {}
        return self._guest_charts if isinstance(target, GuestTarget) else self._host_charts

    def _show_page(self) -> None:
        target = self._target
        page: QWidget = self.placeholder
        if isinstance(target, GuestTarget):
            page = self._guest_page
        elif isinstance(target, HostTarget):
            page = self._host_page
        self.pages.setCurrentWidget(page)
        self._headline()

    def _headline(self) -> None:
        target = self._target
        title, details = "Usage", []
        if isinstance(target, GuestTarget):
            series = self._stats.guest_series(target.key)
            title = self._stats.guest_label(target.key)
            if series is None:
                details.append("not running since vmgui started")
            else:
                details.append(plural(series.vcpus, "vCPU") if series.vcpus else "")
                details.append("running" if series.active else "stopped: its series has ended")
        elif isinstance(target, HostTarget):
            host = self._stats.host_series(target.uri)
            title = self._stats.host_label(target.uri)
            cpus = host.latest(HostChannel.CPUS) if host else math.nan
            vcpus = host.latest(HostChannel.COMMITTED_VCPUS) if host else math.nan
            if math.isfinite(cpus) and cpus > 0:
                details.append(plural(int(cpus), "CPU"))
                if math.isfinite(vcpus):
                    details.append(f"{vcpus:.0f} vCPUs committed ({vcpus / cpus:.1f} per CPU)")
            if host is None or not host.active:
                details.append("not connected" if host is None else "disconnected: series ended")
        self.title.setText(title)
        self.subtitle.setText(" · ".join(d for d in details if d))

    def _now(self, uri: str) -> float:
        host = self._stats.host_series(uri)
        last = host.history.last_time() if host is not None else math.nan
        return last if math.isfinite(last) else time.time()

    def _draw(self, curves: bool = True) -> None:
        target = self._target
        self._headline()
        if target is None:
            return
        series: GuestSeries | HostSeries | None
        if isinstance(target, GuestTarget):
            series, channels = self._stats.guest_series(target.key), len(GuestChannel)
        else:
            series, channels = self._stats.host_series(target.uri), len(HostChannel)
        end = self._now(target.uri)
        times: Array = np.empty(0)
        rows: Array = np.empty((0, channels))
        if series is not None:
            times, values = series.history.view(self._window, end)
            rows = values.astype(np.float64)
        limits: LimitLines = {}
        if isinstance(target, GuestTarget) and self._limits and self._limits[0] == target.key:
            limits = self._limits[1]
        for chart in self.charts():
            chart.set_limits(limits.get(chart.spec.id, ()))
            if curves:
                chart.set_data(times, rows, end, self._window)
            else:
                chart.times, chart.values = times, rows
            chart.show_readout(self._hover)
            chart.set_cursor(self._hover)
            chart.show_notice(rows)

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        with without_source_scan():  # after start-up: the first time the charts are shown
            import pyqtgraph as pg

        palette = self.palette()
        fg = palette.color(palette.ColorRole.Text).name()
        bg = palette.color(palette.ColorRole.Base).name()
        pages: tuple[tuple[tuple[ChartSpec, ...], dict[ChartId, Chart], QWidget], ...] = (
            (GUEST_CHARTS, self._guest_charts, self._guest_page),
            (HOST_CHARTS, self._host_charts, self._host_page),
        )
        columns = 2
        for specs, charts, page in pages:
            grid = QGridLayout(page)
            grid.setContentsMargins(0, 4, 0, 0)
            grid.setSpacing(10)
            for i, spec in enumerate(specs):
                chart = Chart(pg, spec, fg, bg)
                chart.plot.scene().sigMouseMoved.connect(
                    lambda pos, c=chart: self._on_chart_mouse_moved(c, pos)
                )
                chart.plot.installEventFilter(self)
                charts[spec.id] = chart
                grid.addWidget(chart.widget, i // columns, i % columns)
            for i in range(columns):
                grid.setColumnStretch(i, 1)

    # -- slots ------------------------------------------------------------------------------

    def _on_chart_mouse_moved(self, chart: Chart, pos: QPointF) -> None:
        box = chart.plot.getPlotItem().getViewBox()
        inside = box.sceneBoundingRect().contains(pos)
        self._set_hover(chart.now + float(box.mapSceneToView(pos).x()) if inside else None)

    def _set_hover(self, at: float | None) -> None:
        self._hover = at
        for chart in self.charts():
            chart.set_cursor(at)
            chart.show_readout(at)

    def _on_stats_ticked(self, uri: str) -> None:
        if self._target is not None and self._target.uri == uri:
            self.refresh(tick=True)

    def _on_window_combo_changed(self, index: int) -> None:
        self._window = int(self.window_combo.itemData(index))
        self.refresh()
        self.windowChanged.emit(self._window)

    def _on_interval_spin_changed(self, value: int) -> None:
        self._stats.set_interval(float(value))

    def _on_stats_interval_changed(self, seconds: float) -> None:
        self.interval_spin.setValue(round(seconds))
