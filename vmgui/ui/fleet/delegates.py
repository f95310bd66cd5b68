"""The fleet table's painted cells: usage sparklines and commitment bars (no widget per row)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from vmgui.ui.fleet.cells import CommitRole, SparkRole
from vmgui.ui.widgets import paint_sparkline

AnyIndex = QModelIndex | QPersistentModelIndex

#: Least row height (px) of the fleet table.
ROW_HEIGHT = 26
#: The commitment bar's height (px).
BAR_HEIGHT = 3


class SparkDelegate(QStyledItemDelegate):
    """Paints a cell's :data:`~vmgui.ui.fleet.cells.SparkRole` line with its text at the right."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        rect = QRect(opt.rect).adjusted(4, 3, -4, -3)
        text_width = opt.fontMetrics.horizontalAdvance("0000 MiB")
        spark = index.data(SparkRole)
        if spark is not None:
            shape, color_name = spark
            color = QColor(color_name)
            if selected:
                color = color.lighter(160)
            box = QRectF(rect.adjusted(0, 1, -(text_width + 6), -1))
            paint_sparkline(painter, box, shape, color)
        painter.save()
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(align), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), ROW_HEIGHT))


class CommitDelegate(QStyledItemDelegate):
    """Paints a cell's text over a thin bar filled to its commitment ratio (clamped at 100 %),
    in the colour of :data:`~vmgui.ui.fleet.cells.CommitRole` (amber or red: over-committed)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        super().paint(painter, option, index)
        commitment = index.data(CommitRole)
        if commitment is None:
            return
        ratio, color = commitment
        track = QRect(option.rect).adjusted(4, 0, -4, -2)
        track.setTop(track.bottom() - BAR_HEIGHT + 1)
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.fillRect(track, option.palette.color(QPalette.ColorRole.Midlight))
        filled = QRect(track)
        filled.setWidth(round(track.width() * min(max(ratio, 0.0), 1.0)))
        painter.fillRect(filled, QColor(color))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height() + 2 * BAR_HEIGHT, ROW_HEIGHT))
