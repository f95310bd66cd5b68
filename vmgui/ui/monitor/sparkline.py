"""CPU and memory sparklines in guest list cells, painted by a delegate (no widget per row).

:class:`SparklineDelegate` draws the last minute of one guest channel as a small filled line
plus the current value. The memory sparkline is honest: with a balloon driver it shows the
memory used inside the guest against what the guest sees; without one it shows the host-side
resident size in a muted colour, and its tooltip says why.

:func:`install_sparklines` puts the delegates on the guest view's columns
:attr:`~vmgui.ui.guests.model.GuestColumn.CPU_USE` and
:attr:`~vmgui.ui.guests.model.GuestColumn.MEMORY_USE`
(:data:`USAGE_COLUMNS`) and repaints just those columns after each tick. The delegate reads
histories through :class:`~vmgui.ui.monitor.series.SeriesSource`, not the controller.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    SignalInstance,
)
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPalette, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QTreeView,
)

from vmgui.core.model import GuestInfo
from vmgui.core.rates import GuestChannel
from vmgui.core.units import DASH, format_kib, plural
from vmgui.ui.guests.model import GuestColumn, GuestRole
from vmgui.ui.monitor.series import GuestSeries, SeriesSource
from vmgui.ui.shell import UsageKind
from vmgui.ui.widgets import (
    CPU_COLOR,
    MEMORY_COLOR,
    SparkShape,
    paint_sparkline,
    sparkline_shape,
)

#: The guest list's columns the sparklines paint, and what each shows.
USAGE_COLUMNS: dict[UsageKind, GuestColumn] = {
    UsageKind.CPU: GuestColumn.CPU_USE,
    UsageKind.MEMORY: GuestColumn.MEMORY_USE,
}
#: Least row height (px) of a guest list with sparklines.
ROW_HEIGHT = 22
#: Least seconds between sparkline repaints (a pixel of a 60 s line is about a second).
SPARK_REFRESH = 2.0
#: Seconds of history a sparkline shows.
SPARK_SECONDS = 60.0

RSS_COLOR = "#8a8f98"

AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Spark:
    """One sparkline, ready to paint: runs of points in a unit square (x: time, y: value;
    gaps split runs) and the regions under them, the text beside it, its colour and tooltip."""

    lines: tuple[QPolygonF, ...]
    areas: tuple[QPolygonF, ...]
    text: str
    color: str
    tooltip: str


def _shape(xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]) -> SparkShape:
    return sparkline_shape(xs.tolist(), ys.tolist())


def build_spark(
    series: GuestSeries, kind: UsageKind, seconds: float = SPARK_SECONDS
) -> Spark | None:
    """The sparkline of a guest's last ``seconds`` (None when there is nothing to show)."""
    t, values = series.history.view(seconds)
    if t.size == 0:
        return None
    xs = ((t - (t[-1] - seconds)) / seconds).clip(0.0, 1.0)
    if kind is UsageKind.CPU:
        cpu = values[:, GuestChannel.CPU].astype(np.float64)
        current = _last_finite(cpu)
        host = _last_finite(values[:, GuestChannel.CPU_HOST].astype(np.float64))
        text = DASH if math.isnan(current) else f"{current:.0f} %"
        vcpus = plural(series.vcpus, "vCPU") if series.vcpus else ""
        tooltip = f"CPU {current:.1f} % of {vcpus or 'its vCPUs'}"
        if not math.isnan(host):
            tooltip += f" ({host:.1f} % of the host)"
        return Spark(*_shape(xs, cpu / 100.0), text, CPU_COLOR, tooltip + ", last minute")
    used = values[:, GuestChannel.MEMORY_USED].astype(np.float64)
    total = values[:, GuestChannel.MEMORY_TOTAL].astype(np.float64)
    if np.isfinite(used).any():  # the balloon driver reports the guest's own use
        current, size = _last_finite(used), _last_finite(total)
        ys = used / np.where(total > 0, total, np.nan)
        tooltip = f"Memory used in the guest: {format_kib(current)} of {format_kib(size)}"
        return Spark(*_shape(xs, ys), format_kib(current), MEMORY_COLOR, tooltip)
    rss = values[:, GuestChannel.RSS].astype(np.float64)
    current = _last_finite(rss)
    if math.isnan(current):
        return Spark((), (), DASH, RSS_COLOR, "Guest memory use unavailable — no balloon driver")
    scale = max(float(np.nanmax(rss)), _last_finite(total), 1.0)
    tooltip = (
        "Guest memory use unavailable — no balloon driver.\n"
        f"Host-side resident size: {format_kib(current)}"
    )
    return Spark(*_shape(xs, rss / scale), format_kib(current), RSS_COLOR, tooltip)


def _last_finite(values: npt.NDArray[np.float64]) -> float:
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[-1]]) if finite.size else math.nan


class SparklineDelegate(QStyledItemDelegate):
    """Paints one guest channel's last minute and its current value in a cell.

    A sparkline is built once per tick and guest (then cached) and painted with a few
    polygon calls; the cell's background comes from the view, the selection from here.

    Args:
        source: where the guest histories are (the stats controller).
        kind: CPU or memory.
        parent: the owning object (the view).
    """

    def __init__(
        self, source: SeriesSource, kind: UsageKind, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._source = source
        self._kind = kind
        self._cache: dict[tuple[str, str], tuple[float, Spark | None]] = {}

    @property
    def kind(self) -> UsageKind:
        """What this delegate paints."""
        return self._kind

    def spark_for(self, index: AnyIndex) -> Spark | None:
        """The sparkline of the guest in ``index``'s row, if it has usage to show."""
        guest = index.data(GuestRole)
        if not isinstance(guest, GuestInfo):
            return None
        series = self._source.guest_series(guest.key)
        if series is None or not series.active:
            return None
        stamp = series.history.last_time()
        cached = self._cache.get(guest.key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if len(self._cache) > 4096:
            self._cache.clear()
        spark = build_spark(series, self._kind)
        self._cache[guest.key] = (stamp, spark)
        return spark

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(option.rect, option.palette.highlight())
        spark = self.spark_for(index)
        if spark is None:
            return
        rect = QRect(option.rect).adjusted(4, 3, -4, -3)
        text_width = option.fontMetrics.horizontalAdvance("0000 MiB")
        box = QRectF(rect.adjusted(0, 1, -(text_width + 6), -1))
        color = QColor(spark.color)
        if selected:
            color = color.lighter(160)
        painter.save()
        paint_sparkline(painter, box, (spark.lines, spark.areas), color)
        if selected:
            painter.setPen(option.palette.color(QPalette.ColorRole.HighlightedText))
        elif spark.color == RSS_COLOR:
            painter.setPen(QColor(RSS_COLOR))
        else:
            painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(align), spark.text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), ROW_HEIGHT))

    def helpEvent(  # noqa: N802
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        spark = self.spark_for(index)
        if spark is None:
            return super().helpEvent(event, view, option, index)
        QToolTip.showText(event.globalPos(), spark.tooltip, view)
        return True


class _Repainter(QObject):
    """Repaints the sparkline columns after a tick, and re-sorts when sorted by them."""

    def __init__(self, view: QTreeView, proxy: QSortFilterProxyModel | None) -> None:
        super().__init__(view)
        self._view = view
        self._proxy = proxy
        self._columns = [column.value for column in USAGE_COLUMNS.values()]
        self._painted_at = -math.inf

    def _on_stats_ticked(self, _uri: str) -> None:
        """Repaint (at most every :data:`SPARK_REFRESH` seconds, and only when visible)."""
        view = self._view
        now = time.monotonic()
        if not view.isVisible() or now - self._painted_at < 0.95 * SPARK_REFRESH:
            return
        self._painted_at = now
        proxy = self._proxy
        if proxy is not None and proxy.sortColumn() in self._columns:
            proxy.invalidate()
        header = view.header()
        viewport = view.viewport()
        for column in self._columns:
            x = header.sectionViewportPosition(column)
            width = header.sectionSize(column)
            if width > 0 and x < viewport.width() and x + width > 0:
                viewport.update(QRect(x, 0, width, viewport.height()))


def install_sparklines(
    view: QTreeView,
    proxy: QSortFilterProxyModel | None,
    source: SeriesSource,
    ticked: SignalInstance,
    *,
    width: int = 130,
) -> list[SparklineDelegate]:
    """Paint sparklines in ``view``'s :data:`USAGE_COLUMNS`; returns the delegates (CPU first).

    The columns are shown right after the :attr:`~vmgui.ui.guests.model.GuestColumn.STATE` column
    (a visual move: the model's column numbers do not change) and ``width`` pixels wide.
    ``view`` shows the guest model (through ``proxy``, which only filters and sorts); the
    columns repaint, and re-sort when ``proxy`` sorts by them, after each ``ticked``.
    """
    header = view.header()
    anchor = GuestColumn.STATE.value
    delegates: list[SparklineDelegate] = []
    for kind in (UsageKind.MEMORY, UsageKind.CPU):  # CPU ends up first
        column = USAGE_COLUMNS[kind].value
        delegate = SparklineDelegate(source, kind, view)
        view.setItemDelegateForColumn(column, delegate)
        delegates.insert(0, delegate)
        header.moveSection(header.visualIndex(column), header.visualIndex(anchor) + 1)
        header.resizeSection(column, width)
    repainter = _Repainter(view, proxy)
    ticked.connect(repainter._on_stats_ticked)
    return delegates
