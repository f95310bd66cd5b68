"""One usage chart: a pyqtgraph plot with its curves, read-out line and notice.

Created once per chart (pyqtgraph is passed in: the caller imports it when the charts are first
shown) and fed whole history rows by :meth:`Chart.set_data`. The time axis counts back from
now, so its range and ticks change only with the window; the read-out line doubles as the
legend: the newest values, or those under the mouse, with their clock time. A guest's limits
are dashed horizontal lines with their label (:meth:`Chart.set_limits`); the value axis always
reaches the highest one. A limit in another unit than the axis (disk IOPS) is a note at the end
of the read-out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from vmgui.core.units import format_kib, format_rate, pick_unit
from vmgui.ui.monitor.chartspec import GREY, ChartSpec, Unit
from vmgui.ui.monitor.limitlines import LimitLine

Array = npt.NDArray[np.float64]

_NOTICE_STYLE = (
    "QLabel { background: #fff4ce; color: #5c4400; border: 1px solid #e0c36a;"
    " border-radius: 3px; padding: 1px 6px; }"
)


def format_value(value: float, unit: Unit) -> str:
    """One read-out value: "12.5 %", "150 MiB", "1.5 KiB/s", "32 IOPS" ("—" if unknown)."""
    if not math.isfinite(value):
        return "—"
    if unit is Unit.PERCENT:
        return f"{value:.1f} %"
    if unit is Unit.IOPS:
        return f"{value:.0f} IOPS"
    if unit is Unit.MS_PER_S:
        return f"{value:.1f} ms/s"
    return format_kib(value) if unit is Unit.KIB else format_rate(value)


class Chart:
    """One plot with its curves, read-out and notice; created once, fed by :meth:`set_data`.

    Args:
        pg: the pyqtgraph module.
        spec: what the chart shows.
        fg: the axes' colour.
        bg: the plot's background.
    """

    def __init__(self, pg: Any, spec: ChartSpec, fg: str, bg: str) -> None:
        self._pg = pg
        self.spec = spec
        self.title = spec.title
        self.fields = spec.fields
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
        #: What one unit of the value axis is in the first field's unit (bytes/s per KiB/s...).
        self.scale = 1.0
        self.limits: tuple[LimitLine, ...] = ()
        #: The limits in another unit than the axis, noted in the read-out.
        self.limit_notes: tuple[LimitLine, ...] = ()
        #: The ``InfiniteLine`` of each of :attr:`limits`, in the same order.
        self.limit_items: list[Any] = []

    def set_limits(self, lines: Sequence[LimitLine]) -> None:
        """Draw ``lines`` (replacing the previous ones); empty: no limit lines."""
        self.limit_notes = tuple(line for line in lines if not line.on_axis)
        lines = tuple(line for line in lines if line.on_axis)
        if lines == self.limits:
            return
        item = self.plot.getPlotItem()
        for old in self.limit_items:
            item.removeItem(old)
        self.limits = lines
        self.limit_items = []
        for line in lines:
            pen = self._pg.mkPen(line.color, width=1.5, style=Qt.PenStyle.DashLine)
            marker = self._pg.InfiniteLine(
                line.value / self.scale,
                angle=0,
                movable=False,
                pen=pen,
                label=line.label,
                labelOpts={"position": 0.02, "color": line.color, "anchors": [(0, 1), (0, 1)]},
            )
            item.addItem(marker, ignoreBounds=True)
            self.limit_items.append(marker)

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
        # The highest limit line with room above it for its label.
        peak = max([peak, *(line.value * 1.15 for line in self.limits)])
        if self.unit is Unit.PERCENT:
            scale, unit, top = 1.0, "%", 100.0
        elif self.unit is Unit.MS_PER_S:
            scale, unit, top = 1.0, "ms/s", _nice_top(peak * 1.1)
        else:
            per_value = 1024.0 if self.unit is Unit.KIB else 1.0  # memory is kept in KiB
            scale, unit = pick_unit(peak * per_value, "" if self.unit is Unit.KIB else "/s")
            scale /= per_value
            top = _nice_top(peak / scale * 1.1)
        self.scale = scale
        for line, marker in zip(self.limits, self.limit_items, strict=True):
            marker.setValue(line.value / scale)
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
        notes = "".join(
            f" · <span style='color:{note.color}'>┅</span> {note.label}"
            for note in self.limit_notes
        )
        if not len(self.times):
            self.label.setText(f"{head}<span style='color:{GREY}'>no data yet</span>{notes}")
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
            self.label.setText(f"{head}{stamp}<span style='color:{GREY}'>{why}</span>{notes}")
            return
        parts = []
        for f in known:
            text = f.text.format(format_value(float(row[f.channel]), f.unit))
            if f.extra is not None and math.isfinite(row[f.extra]):
                text += f" ({format_value(float(row[f.extra]), Unit.IOPS)})"
            if f.color:
                mark = "┅" if f.dashed else "■"
                text = f"<span style='color:{f.color}'>{mark}</span> {text}"
            parts.append(text)
        self.label.setText(head + stamp + " · ".join(parts) + notes)

    def show_notice(self, rows: Array) -> None:
        """Show the spec's notice if ``rows`` have ``seen`` values but no ``used`` ones."""
        notice = self.spec.notice
        if notice is None:
            return
        seen, used = rows[:, notice.seen], rows[:, notice.used]
        missing = bool(np.isfinite(seen).any()) and not np.isfinite(used).any()
        if self.notice.isHidden() == missing or self.notice.text() != notice.text:
            self.notice.setText(notice.text)
            self.notice.setVisible(missing)

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
