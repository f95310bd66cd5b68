"""The ``usageCharts`` widget: live CPU, memory, disk and network charts of a guest or a host.

Plots are pyqtgraph ``PlotWidget`` s created once (pyqtgraph itself is imported the first time
the widget is shown, never at start-up) and fed with ``setData`` from the stats controller's
ring buffers, clipped to the chosen window (1 min, 10 min, 1 h) and downsampled. Only the
charts on screen redraw; a hidden widget just notes that it is out of date.

Every chart has a time axis counting back from now (its range and ticks change only with the
window, so a tick moves the curves without relaying out the axes), a unit on its value axis
and a read-out line above it that doubles as the legend: the newest values, or the values
under the mouse, with their clock time, while it hovers any chart (a vertical line marks that
moment on all of them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.rates import GuestChannel, HostChannel

if TYPE_CHECKING:
    from vmgui.ui.statscontroller import GuestSeries, HostSeries, StatsController

Array = npt.NDArray[np.float64]

#: The windows users can choose, in seconds, with their labels.
WINDOWS: tuple[tuple[str, float], ...] = (("1 min", 60.0), ("10 min", 600.0), ("1 h", 3600.0))
DEFAULT_WINDOW = 600.0

NO_BALLOON_TEXT = "guest memory use unavailable — no balloon driver"
NO_HOST_MEMORY_TEXT = "this host does not report its memory use"

BLUE, GREEN, ORANGE, GREY, PURPLE = "#2f6fd6", "#2e9d4f", "#e07b1f", "#8a8f98", "#7a5cc7"
_NOTICE_STYLE = (
    "QLabel { background: #fff4ce; color: #5c4400; border: 1px solid #e0c36a;"
    " border-radius: 3px; padding: 1px 6px; }"
)


def pick_unit(peak: float, suffix: str = "") -> tuple[float, str]:
    """A binary unit for byte values up to ``peak``: (divisor, label), e.g. (1024², "MiB")."""
    divisor, label = 1.0, "B"
    for name in ("KiB", "MiB", "GiB", "TiB"):
        if not math.isfinite(peak) or peak < divisor * 1024:
            break
        divisor, label = divisor * 1024, name
    return divisor, label + suffix


def format_bytes(value: float, suffix: str = "") -> str:
    """Bytes for people: "0 B", "12.5 KiB", "1.2 GiB" (plus ``suffix``, e.g. "/s")."""
    if not math.isfinite(value):
        return "—"
    divisor, label = pick_unit(abs(value), suffix)
    number = value / divisor
    return f"{number:.{0 if divisor == 1.0 or number >= 100 else 1}f} {label}"


def _format(value: float, unit: str) -> str:
    """One read-out value: unit "%", "KiB" (memory), "B/s" or "IOPS"."""
    if not math.isfinite(value):
        return "—"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "IOPS":
        return f"{value:.0f} IOPS"
    return format_bytes(value * 1024) if unit == "KiB" else format_bytes(value, "/s")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Field:
    """One value of a chart: a history column, how it reads, and its line if plotted.

    ``text`` is a template for the read-out ("{} of its vCPUs"); ``extra`` names a second
    column shown in parentheses (IOPS next to bytes/s).
    """

    text: str
    channel: int
    unit: str
    color: str = ""
    dashed: bool = False
    fill: bool = False
    extra: int | None = None


class _Chart:
    """One plot with its curves, read-out and notice; created once, fed by :meth:`set_data`."""

    def __init__(self, pg: Any, title: str, fields: Sequence[Field], fg: str, bg: str) -> None:
        self.title = title
        self.fields = tuple(fields)
        self.unit = self.fields[0].unit
        self.widget = QWidget()
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        # Long read-outs are cut, never widen the chart (the grid keeps equal columns).
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notice = QLabel()
        self.notice.setStyleSheet(_NOTICE_STYLE)
        self.notice.hide()
        self.plot = pg.PlotWidget(background=bg)
        self.plot.setMinimumHeight(110)
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        # No grid and no antialiasing: measured, each doubles the cost of a repaint.
        for name in ("left", "bottom"):
            item.getAxis(name).setTextPen(fg)
            item.getAxis(name).setPen(fg)
        item.getAxis("left").setWidth(48)
        for name in ("left", "bottom"):
            item.getAxis(name).setStyle(hideOverlappingLabels=False)
        self.items: list[Any] = []
        for field in self.fields:
            if not field.color:
                continue
            style = Qt.PenStyle.DashLine if field.dashed else Qt.PenStyle.SolidLine
            options: dict[str, Any] = {"pen": pg.mkPen(field.color, width=1, style=style)}
            if field.fill:
                options.update(fillLevel=0.0, brush=pg.mkBrush(field.color + "40"))
            self.items.append(self.plot.plot([], [], **options))
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(GREY, width=1))
        self.cursor.hide()
        item.addItem(self.cursor, ignoreBounds=True)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.label)
        layout.addWidget(self.notice, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.plot, 1)
        self.times: Array = np.empty(0)
        self.values: Array = np.empty((0, 0))
        self.now = math.nan
        self._window = math.nan
        self._unit_shown = ""
        self._top = math.nan

    def set_data(self, times: Array, values: Array, now: float, window: float) -> None:
        """Show ``values`` (whole history rows) of the ``window`` seconds before ``now``.

        The time axis counts seconds back from now, so its range and ticks change only with
        the window, and a tick just moves the curves (no axis relayout per tick).
        """
        self.times, self.values, self.now = times, values, now
        item = self.plot.getPlotItem()
        if window != self._window:
            self._window = window
            item.getAxis("bottom").setTicks([_time_ticks(window)])
            item.setXRange(-window, window * 0.04, padding=0)  # room for the "now" label
        plotted = [f for f in self.fields if f.color]
        columns = [values[:, f.channel] if len(values) else np.empty(0) for f in plotted]
        finite = [c[np.isfinite(c)] for c in columns]
        peak = max((float(c.max()) for c in finite if c.size), default=0.0)
        if self.unit == "%":
            scale, unit, top = 1.0, "%", 100.0
        else:
            per_value = 1024.0 if self.unit == "KiB" else 1.0  # memory is kept in KiB
            scale, unit = pick_unit(peak * per_value, "" if self.unit == "KiB" else "/s")
            scale /= per_value
            top = _nice_top(peak / scale * 1.1)
        x = times - now
        for curve, column, good in zip(self.items, columns, finite, strict=True):
            if good.size == column.size:
                curve.setData(x, column / scale, connect="all", skipFiniteCheck=True)
            else:  # gaps: the series ended, or a value was unknown
                curve.setData(x, column / scale, connect="finite")
        if unit != self._unit_shown:
            self._unit_shown = unit
            item.setLabel("left", unit)
        if top != self._top:
            self._top = top
            item.setYRange(0.0, top, padding=0.02)

    def show_readout(self, at: float | None) -> None:
        """The values at time ``at`` (the newest known when None) in the read-out line."""
        head = f"<b>{self.title}</b>&nbsp; "
        if not len(self.times):
            self.label.setText(f"{head}<span style='color:{GREY}'>no data yet</span>")
            return
        stamp = ""
        if at is None:
            row = _last_finite_row(self.values)
        else:
            i = int(np.clip(np.searchsorted(self.times, at), 0, len(self.times) - 1))
            row = self.values[i]
            stamp = time.strftime("%H:%M:%S", time.localtime(float(self.times[i]))) + "&nbsp; "
        known = [f for f in self.fields if math.isfinite(row[f.channel])]
        if not known:
            why = "no figures yet" if len(self.times) < 2 else "no counters reported"
            self.label.setText(f"{head}{stamp}<span style='color:{GREY}'>{why}</span>")
            return
        parts = []
        for f in known:
            text = f.text.format(_format(float(row[f.channel]), f.unit))
            if f.extra is not None and math.isfinite(row[f.extra]):
                text += f" ({_format(float(row[f.extra]), 'IOPS')})"
            if f.color:
                mark = "┅" if f.dashed else "■"
                text = f"<span style='color:{f.color}'>{mark}</span> {text}"
            parts.append(text)
        self.label.setText(head + stamp + " · ".join(parts))

    def set_cursor(self, at: float | None) -> None:
        """Show the hover line at ``at`` (hide it when None)."""
        self.cursor.setVisible(at is not None)
        if at is not None:
            self.cursor.setValue(at - self.now)


def _time_ticks(window: float) -> list[tuple[float, str]]:
    """Ticks of a time axis counting back from now: "-60 s" ... "now", "-8 min" ..."""
    step, unit = {60.0: (15.0, 1), 600.0: (120.0, 60), 3600.0: (600.0, 60)}.get(
        window, (window / 4, 1)
    )
    name = "s" if unit == 1 else "min"
    marks = [-step * i for i in range(int(window // step), 0, -1)]
    return [(m, f"{m / unit:.0f} {name}") for m in marks] + [(0.0, "now")]


def _nice_top(value: float) -> float:
    """A round number at or above ``value`` (so axis tops change rarely)."""
    if not math.isfinite(value) or value <= 1.0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    steps = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
    return next(m * magnitude for m in steps if m * magnitude >= value)


def _last_finite_row(values: Array) -> Array:
    """Per column, the newest finite value (NaN if none): what "now" reads."""
    result = np.full(values.shape[1], np.nan)
    for column in range(values.shape[1]):
        finite = np.flatnonzero(np.isfinite(values[:, column]))
        if finite.size:
            result[column] = values[finite[-1], column]
    return result


_G, _H = GuestChannel, HostChannel
#: The charts of a guest and of a host: title -> fields (the first one sets the unit).
GUEST_CHARTS: dict[str, tuple[Field, ...]] = {
    "CPU": (
        Field("{} of its vCPUs", _G.CPU, "%", BLUE, fill=True),
        Field("{} of the host", _G.CPU_HOST, "%"),
    ),
    "Memory": (
        Field("{} used in the guest", _G.MEMORY_USED, "KiB", GREEN, fill=True),
        Field("guest has {}", _G.MEMORY_TOTAL, "KiB", GREY),
        Field("host RSS {}", _G.RSS, "KiB", PURPLE, dashed=True),
    ),
    "Disk": (
        Field("read {}", _G.DISK_READ, "B/s", BLUE, extra=_G.DISK_READ_IOPS),
        Field("write {}", _G.DISK_WRITE, "B/s", ORANGE, extra=_G.DISK_WRITE_IOPS),
    ),
    "Network": (
        Field("received {}", _G.NET_RX, "B/s", PURPLE),
        Field("sent {}", _G.NET_TX, "B/s", GREEN),
    ),
}
HOST_CHARTS: dict[str, tuple[Field, ...]] = {
    "Host CPU": (
        Field("{} busy", _H.CPU, "%", BLUE, fill=True),
        Field("guests {}", _H.GUESTS_CPU, "%", ORANGE, dashed=True),
    ),
    "Host memory": (
        Field("{} used", _H.MEMORY_USED, "KiB", BLUE, fill=True),
        Field("{} physical", _H.MEMORY_TOTAL, "KiB", GREY),
        Field("{} committed to guests", _H.COMMITTED_MEMORY, "KiB", ORANGE, dashed=True),
    ),
}


class UsageCharts(QWidget):
    """Live usage of the selected guest or host (objectName ``usageCharts``).

    Args:
        stats: where the histories are; the charts redraw after its ticks.
        parent: the parent widget.
    """

    def __init__(self, stats: StatsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("usageCharts")
        self._stats = stats
        self._target: tuple[str, Any] | None = None
        self._window = DEFAULT_WINDOW
        self._dirty = True
        self._hover: float | None = None
        self._drawn_at = -math.inf
        self._guest_charts: list[_Chart] = []
        self._host_charts: list[_Chart] = []

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

    def charts(self) -> list[_Chart]:
        """The charts of the current page (empty before they are built)."""
        if self._target is None:
            return []
        return self._guest_charts if self._target[0] == "guest" else self._host_charts

    def show_guest(self, key: tuple[str, str]) -> None:
        """Chart one guest."""
        self._set_target(("guest", key))

    def show_host(self, uri: str) -> None:
        """Chart one host."""
        self._set_target(("host", uri))

    def show_nothing(self) -> None:
        """Show the hint to select something."""
        self._set_target(None)

    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds`` (one of :data:`WINDOWS`)."""
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
        width = self.charts()[0].plot.width() if self.charts() else 0
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

    def _set_target(self, target: tuple[str, Any] | None) -> None:
        if target == self._target:
            return
        self._target = target
        self._hover = None
        self._show_page()
        self.refresh()

    def _show_page(self) -> None:
        target = self._target
        page = self.placeholder if target is None else self._guest_page
        if target is not None and target[0] == "host":
            page = self._host_page
        self.pages.setCurrentWidget(page)
        self._headline()

    def _headline(self) -> None:
        target = self._target
        title, details = "Usage", []
        if target is not None and target[0] == "guest":
            series = self._stats.guest_series(target[1])
            title = self._stats.guest_label(target[1])
            if series is None:
                details.append("not running since vmgui started")
            else:
                details.append(_plural(series.vcpus, "vCPU") if series.vcpus else "")
                details.append("running" if series.active else "stopped: its series has ended")
        elif target is not None:
            host = self._stats.host_series(target[1])
            title = self._stats.host_label(target[1])
            cpus = host.latest(HostChannel.CPUS) if host else math.nan
            vcpus = host.latest(HostChannel.COMMITTED_VCPUS) if host else math.nan
            if math.isfinite(cpus) and cpus > 0:
                details.append(_plural(int(cpus), "CPU"))
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
        kind, ident = target
        series: GuestSeries | HostSeries | None
        if kind == "guest":
            uri, series, channels = ident[0], self._stats.guest_series(ident), len(GuestChannel)
        else:
            uri, series, channels = ident, self._stats.host_series(ident), len(HostChannel)
        end = self._now(uri)
        times: Array = np.empty(0)
        rows: Array = np.empty((0, channels))
        if series is not None:
            times, values = series.history.view(self._window, end)
            rows = values.astype(np.float64)
        for chart in self.charts():
            if curves:
                chart.set_data(times, rows, end, self._window)
            else:
                chart.times, chart.values = times, rows
            chart.show_readout(self._hover)
            chart.set_cursor(self._hover)
        memory = self.charts()[1]
        if kind == "guest":  # honest memory: no guest figure without a balloon driver
            used, notice = rows[:, GuestChannel.MEMORY_USED], NO_BALLOON_TEXT
            seen = rows[:, GuestChannel.MEMORY_TOTAL]
        else:
            used, notice = rows[:, HostChannel.MEMORY_USED], NO_HOST_MEMORY_TEXT
            seen = rows[:, HostChannel.MEMORY_TOTAL]
        missing = bool(np.isfinite(seen).any()) and not np.isfinite(used).any()
        if memory.notice.isHidden() == missing or memory.notice.text() != notice:
            memory.notice.setText(notice)
            memory.notice.setVisible(missing)

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        from vmgui.ui.statscontroller import without_source_scan

        with without_source_scan():  # after start-up: the first time the charts are shown
            import pyqtgraph as pg

        palette = self.palette()
        fg = palette.color(palette.ColorRole.Text).name()
        bg = palette.color(palette.ColorRole.Base).name()
        for specs, charts, page, columns in (
            (GUEST_CHARTS, self._guest_charts, self._guest_page, 2),
            (HOST_CHARTS, self._host_charts, self._host_page, 2),
        ):
            grid = QGridLayout(page)
            grid.setContentsMargins(0, 4, 0, 0)
            grid.setSpacing(10)
            for i, (title, fields) in enumerate(specs.items()):
                chart = _Chart(pg, title, fields, fg, bg)
                chart.plot.scene().sigMouseMoved.connect(
                    lambda pos, c=chart: self._on_chart_mouse_moved(c, pos)
                )
                chart.plot.installEventFilter(self)
                charts.append(chart)
                grid.addWidget(chart.widget, i // columns, i % columns)
            for i in range(columns):
                grid.setColumnStretch(i, 1)

    # -- slots ------------------------------------------------------------------------------

    def _on_chart_mouse_moved(self, chart: _Chart, pos: QPointF) -> None:
        box = chart.plot.getPlotItem().getViewBox()
        inside = box.sceneBoundingRect().contains(pos)
        self._set_hover(chart.now + float(box.mapSceneToView(pos).x()) if inside else None)

    def _set_hover(self, at: float | None) -> None:
        self._hover = at
        for chart in self.charts():
            chart.set_cursor(at)
            chart.show_readout(at)

    def _on_stats_ticked(self, uri: str) -> None:
        target = self._target
        if target is not None and (target[1][0] if target[0] == "guest" else target[1]) == uri:
            self.refresh(tick=True)

    def _on_window_combo_changed(self, index: int) -> None:
        self._window = float(self.window_combo.itemData(index))
        self.refresh()

    def _on_interval_spin_changed(self, value: int) -> None:
        self._stats.set_interval(float(value))

    def _on_stats_interval_changed(self, seconds: float) -> None:
        self.interval_spin.setValue(round(seconds))
