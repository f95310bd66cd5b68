"""Small widgets and helpers shared by the panes, lists and dialogs (no libvirt, no blocking calls).

Part of the shared bottom layer of ``vmgui.ui``: imports nothing from the feature packages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QIcon,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vmgui.core.model import ConnectionState, Consolidation, GuestInfo, GuestState, HostStatus
from vmgui.core.units import format_kib, plural
from vmgui.core.xml.domain import DiskInfo

STATE_COLORS = {
    GuestState.RUNNING: "#2e9d4f",
    GuestState.PAUSED: "#d9a21b",
    GuestState.SHUTOFF: "#8a8f98",
    GuestState.CRASHED: "#d0312d",
    GuestState.SUSPENDED: "#4f7fd9",
    GuestState.SAVED: "#7a5cc7",
}

HOST_COLORS = {
    ConnectionState.CONNECTED: "#2e9d4f",
    ConnectionState.CONNECTING: "#d9a21b",
    ConnectionState.DISCONNECTED: "#8a8f98",
    ConnectionState.FAILED: "#d0312d",
}

NORMAL_COLOR = "#3584e4"
AMBER_COLOR = "#d9a21b"
RED_COLOR = "#d0312d"
MUTED_STYLE = "color: palette(placeholder-text);"
TIMES = "\N{MULTIPLICATION SIGN}"
#: The colours of CPU and memory sparklines (the guest list's and the fleet's).
CPU_COLOR = "#2f6fd6"
MEMORY_COLOR = "#2e9d4f"

#: A sparkline ready to paint: its polylines and the areas under them, in a unit square.
SparkShape = tuple[tuple[QPolygonF, ...], tuple[QPolygonF, ...]]

_icons: dict[str, QIcon] = {}


def dot_icon(color: str) -> QIcon:
    """A small filled circle (cached; needs a QGuiApplication)."""
    icon = _icons.get(color)
    if icon is None:
        pixmap = QPixmap(12, 12)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor(color))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(1, 1, 10, 10)
        painter.end()
        icon = QIcon(pixmap)
        _icons[color] = icon
    return icon


class NoWheelSpinBox(QSpinBox):
    """A spin box that ignores the mouse wheel unless focused (the pane scrolls instead)."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ElidedLabel(QLabel):
    """One line of text, elided to the label's width; the full text is the tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        """Show the first line of ``text``, elided; "—" when empty."""
        self._full = text.strip()
        self.setToolTip(self._full)
        self._elide()

    def full_text(self) -> str:
        """The text as given (stripped)."""
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        lines = self._full.splitlines()
        first = lines[0] if lines else "—"
        if len(lines) > 1:
            first += " …"
        width = max(self.contentsRect().width(), 40)
        self.setText(self.fontMetrics().elidedText(first, Qt.TextElideMode.ElideRight, width))


class StateBadge(QWidget):
    """A colored dot followed by a state name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dot = QLabel()
        self._label = QLabel()
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self._dot)
        layout.addWidget(self._label)

    def set_state(self, text: str, color: str) -> None:
        """Show ``text`` after a dot of ``color``."""
        self._dot.setPixmap(dot_icon(color).pixmap(12, 12))
        self._label.setText(text)

    def text(self) -> str:
        """The state shown."""
        return self._label.text()


class ConsolidationBar(QWidget):
    """A caption over a thin bar; the bar is clamped at 100 %, the caption is not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._caption = QLabel()
        self._bar = QProgressBar()
        self._bar.setRange(0, 1000)
        self._bar.setTextVisible(False)
        self._bar.setFixedHeight(8)
        self._bar.setMaximumWidth(440)
        self._color = NORMAL_COLOR
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 2)
        layout.setSpacing(4)
        layout.addWidget(self._caption)
        layout.addWidget(self._bar)

    def set_value(self, text: str, ratio: float, color: str) -> None:
        """Show ``text`` over a bar filled to ``ratio`` (clamped to 0..1) in ``color``."""
        self._caption.setText(text)
        self._bar.setValue(round(min(max(ratio, 0.0), 1.0) * 1000))
        self._color = color
        self._bar.setStyleSheet(
            "QProgressBar { border: none; border-radius: 4px; background: palette(midlight); }"
            f"QProgressBar::chunk {{ border-radius: 4px; background: {color}; }}"
        )

    def text(self) -> str:
        """The caption."""
        return self._caption.text()

    def color(self) -> str:
        """The bar's color."""
        return self._color

    def fraction(self) -> float:
        """How full the bar is drawn (0..1)."""
        return self._bar.value() / 1000


class PaneHeader(QWidget):
    """A details pane's header: a large title over a state badge and a secondary line.

    Both panes (a guest's, a host's) start with one.
    """

    def __init__(self, secondary: QLabel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        title_font(self.title)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = StateBadge()
        self.secondary = secondary
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        state_row = QHBoxLayout()
        state_row.setSpacing(12)
        state_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignLeft)
        state_row.addWidget(secondary, 1)
        layout.addLayout(state_row)


def section(title: str) -> tuple[QWidget, QFormLayout]:
    """A bold title over a form; returns the section and its form."""
    widget = QWidget()
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    label = QLabel(title)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.1)
    label.setFont(font)
    layout.addWidget(label)
    form = QFormLayout()
    form.setContentsMargins(12, 0, 0, 0)
    form.setHorizontalSpacing(16)
    form.setVerticalSpacing(6)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    layout.addLayout(form)
    return widget, form


def align_forms(*forms: QFormLayout) -> None:
    """Give the label columns of ``forms`` one width, so stacked sections line up."""
    labels: list[QWidget] = []
    for form in forms:
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            widget = item.widget() if item is not None else None
            if widget is not None:
                labels.append(widget)
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)


def value_label(selectable: bool = False) -> QLabel:
    """A word-wrapped value label, optionally selectable with the mouse."""
    label = QLabel()
    label.setWordWrap(True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def muted_label(text: str = "") -> QLabel:
    """A word-wrapped label in the palette's muted text color."""
    label = QLabel(text)
    label.setStyleSheet(MUTED_STYLE)
    label.setWordWrap(True)
    return label


def title_font(label: QLabel) -> None:
    """Make ``label`` a bold, larger title."""
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.5)
    label.setFont(font)


def scroll_area(body: QWidget) -> QScrollArea:
    """A frameless, vertically scrolling area around ``body``."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(body)
    return area


def make_table(headers: list[str], stretch: int) -> QTableWidget:
    """A read-only table with ``headers``; column ``stretch`` takes the spare width."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return table


def fill_table(table: QTableWidget, rows: list[tuple[list[str], str]]) -> None:
    """Replace the rows (cells, tooltip) and make the table exactly as tall as its rows."""
    table.setRowCount(len(rows))
    for row, (cells, tooltip) in enumerate(rows):
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tooltip or text)
            table.setItem(row, column, item)
    table.resizeRowsToContents()
    height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
    height += sum(table.rowHeight(row) for row in range(len(rows)))
    table.setFixedHeight(height)
    table.setVisible(bool(rows))


def disk_row(disk: DiskInfo) -> tuple[list[str], str]:
    """A disk's table cells and tooltip (the source and its backing chain)."""
    source = disk.source_key or ("(empty)" if disk.device in ("cdrom", "floppy") else "")
    flags = ", ".join(
        name for name, on in (("read-only", disk.readonly), ("shareable", disk.shareable)) if on
    )
    tooltip = source
    if disk.backing_paths:
        chain = "\n".join(f"  ← {path}" for path in disk.backing_paths)
        tooltip = f"{source}\nBacking chain:\n{chain}"
    return [disk.target, disk.device, disk.bus, source, disk.driver_type, flags], tooltip


def vcpu_color(ratio: float) -> str:
    """The bar color for a vCPU overcommit ratio: amber above 1, red above 2."""
    if ratio > 2.0:
        return RED_COLOR
    return AMBER_COLOR if ratio > 1.0 else NORMAL_COLOR


def memory_color(ratio: float) -> str:
    """The bar color for committed memory: red above 100 % of the host's RAM."""
    return RED_COLOR if ratio > 1.0 else NORMAL_COLOR


def consolidation_texts(cons: Consolidation) -> tuple[str, str, str]:
    """Captions for committed vCPUs, committed memory and the "if all ran" totals.

    Example: "8 vCPUs on 4 CPUs (2.00x)", "6.0 GiB of 16.0 GiB (38%)",
    "12 vCPUs (3.00x) · 10.0 GiB (62%) for all 5 guests" (with a multiplication sign).
    """
    vcpus = plural(cons.committed_vcpus, "vCPU")
    if cons.host_cpus:
        vcpu_text = f"{vcpus} on {plural(cons.host_cpus, 'CPU')} ({cons.vcpu_ratio:.2f}{TIMES})"
    else:
        vcpu_text = f"{vcpus} (host CPUs unknown)"
    memory = format_kib(cons.committed_memory_kib)
    if cons.host_memory_kib:
        host_memory = format_kib(cons.host_memory_kib)
        memory_text = f"{memory} of {host_memory} ({cons.memory_ratio:.0%})"
    else:
        memory_text = f"{memory} (host memory unknown)"
    defined_vcpus = plural(cons.defined_vcpus, "vCPU")
    defined_memory = format_kib(cons.defined_memory_kib)
    if cons.host_cpus:
        defined_vcpus += f" ({cons.defined_vcpus / cons.host_cpus:.2f}{TIMES})"
    if cons.host_memory_kib:
        defined_memory += f" ({cons.defined_memory_kib / cons.host_memory_kib:.0%})"
    defined_text = f"{defined_vcpus} · {defined_memory} for all {plural(cons.guests, 'guest')}"
    return vcpu_text, memory_text, defined_text


_STATE_ORDER = (
    GuestState.RUNNING,
    GuestState.PAUSED,
    GuestState.SHUTOFF,
    GuestState.SAVED,
    GuestState.SUSPENDED,
    GuestState.CRASHED,
)
_ALWAYS_COUNTED = (GuestState.RUNNING, GuestState.PAUSED, GuestState.SHUTOFF)


def guest_state_summary(guests: list[GuestInfo]) -> str:
    """ "3 running · 0 paused · 1 shut off" (other states only when present)."""
    counts = {state: sum(1 for g in guests if g.state == state) for state in _STATE_ORDER}
    return " · ".join(
        f"{counts[state]} {state.label}"
        for state in _STATE_ORDER
        if counts[state] or state in _ALWAYS_COUNTED
    )


def connection_reason(status: HostStatus) -> str:
    """Why a host is disconnected or failed, with "retrying in N s"; "" otherwise."""
    if status.state not in (ConnectionState.DISCONNECTED, ConnectionState.FAILED):
        return ""
    reason = status.reason
    if status.retry_in is not None:
        retry = f"retrying in {math.ceil(max(status.retry_in, 0.0))} s"
        reason = f"{reason} — {retry}" if reason else retry.capitalize()
    return reason


def sparkline_shape(xs: Sequence[float], ys: Sequence[float]) -> SparkShape:
    """Polylines through the points (x: time, y: value, both 0..1; y clamped) split at NaN (a
    gap), and the areas under them: what :func:`paint_sparkline` draws."""
    runs: list[list[QPointF]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if not math.isnan(y):
            runs[-1].append(QPointF(x, min(max(y, 0.0), 1.0)))
        elif runs[-1]:
            runs.append([])
    runs = [r for r in runs if r]
    lines = tuple(QPolygonF(r) for r in runs)
    areas = tuple(QPolygonF([QPointF(r[0].x(), 0.0), *r, QPointF(r[-1].x(), 0.0)]) for r in runs)
    return lines, areas


def paint_sparkline(painter: QPainter, box: QRectF, shape: SparkShape, color: QColor) -> None:
    """Paint ``shape`` (a unit square, y up) filling ``box``: a light fill, a 1.4 px line."""
    lines, areas = shape
    if box.width() <= 8 or not lines:
        return
    painter.save()
    painter.translate(box.left(), box.bottom())
    painter.scale(box.width(), -box.height())
    fill = QColor(color)
    fill.setAlpha(60)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(fill)
    for area in areas:
        painter.drawPolygon(area)
    pen = QPen(color, 1.4)
    pen.setCosmetic(True)  # pixels, whatever the scale
    painter.setPen(pen)
    for line in lines:
        painter.drawPolyline(line)
    painter.restore()
