"""What each cell of the fleet overview shows: texts, tooltips, colours and sort keys.

Pure functions of a :class:`HostFigures` (a host's snapshot as the model keeps it). The
commitment colours and captions are the host details' (:func:`~vmgui.ui.widgets.vcpu_color`,
:func:`~vmgui.ui.widgets.memory_color`, :func:`~vmgui.ui.widgets.consolidation_texts`), so
a host reads the same in both places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from vmgui.core.model import ConnectionState, Consolidation, HostStatus
from vmgui.core.units import DASH, format_bytes, format_kib, pick_unit, plural
from vmgui.ui.fleet.pools import PoolSpace
from vmgui.ui.hosts.model import status_text
from vmgui.ui.shell import HostUsage
from vmgui.ui.widgets import (
    CPU_COLOR,
    HOST_COLORS,
    MEMORY_COLOR,
    TIMES,
    SparkShape,
    connection_reason,
    consolidation_texts,
    dot_icon,
    memory_color,
    vcpu_color,
)

#: "Now" is the mean of this many seconds of measurements.
NOW_SECONDS = 10.0
#: The sparklines' span (s) and points (one a minute).
TREND_SECONDS = 3600.0
TREND_POINTS = 60

#: A cell's sort key (a number, or the casefolded host name).
FleetSortRole = Qt.ItemDataRole.UserRole + 20
#: The sparkline of a usage cell: ``(SparkShape, colour)``.
SparkRole = Qt.ItemDataRole.UserRole + 21
#: The commitment bar of a vCPU or memory cell: ``(ratio, colour)``.
CommitRole = Qt.ItemDataRole.UserRole + 22


class FleetColumn(IntEnum):
    """The fleet overview's columns."""

    HOST = 0
    STATE = 1
    GUESTS = 2
    VCPUS = 3
    MEMORY = 4
    CPU_USE = 5
    MEMORY_USE = 6
    POOL_FREE = 7

    @property
    def header(self) -> str:
        """The column's title."""
        return _HEADERS[self][0]

    @property
    def tooltip(self) -> str:
        """What the column shows."""
        return _HEADERS[self][1]


_HEADERS = {
    FleetColumn.HOST: ("Host", "The host's name"),
    FleetColumn.STATE: ("State", "The connection's state"),
    FleetColumn.GUESTS: ("Guests", "Active guests (running, paused or suspended) / all guests"),
    FleetColumn.VCPUS: ("vCPUs", "vCPUs the active guests commit / the host's logical CPUs"),
    FleetColumn.MEMORY: ("Memory", "Memory the active guests commit / the host's memory"),
    FleetColumn.CPU_USE: (
        "CPU use (1 h)",
        f"The host CPU its own guests really use now (mean of {NOW_SECONDS:.0f} s), "
        "and over the last hour",
    ),
    FleetColumn.MEMORY_USE: (
        "Memory use (1 h)",
        "What its running guests really hold in the host's memory now, and over the last hour",
    ),
    FleetColumn.POOL_FREE: ("Pool free", "Free space in the host's active storage pools"),
}

_STATE_ORDER = list(ConnectionState)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


@dataclass(slots=True)
class HostFigures:
    """One host's row as last reported (the model fills it; ``stale``: sums to remake).

    Attributes:
        uri: the host.
        label: its display name.
        status: its connection status (None before the first count).
        active: its active guests.
        total: all its guests.
        consolidation: what its active guests commit (None until the host answered).
        usage: its measured use now (None before the first measurement).
        cpu_spark: its guests' CPU over the last hour.
        memory_spark: its guests' resident memory over the last hour.
        pools: its active pools' free space (None: not read).
        pools_error: why the pools could not be read.
        stale: the guests or the host changed since the sums were made.
    """

    uri: str
    label: str = ""
    status: HostStatus | None = None
    active: int = 0
    total: int = 0
    consolidation: Consolidation | None = None
    usage: HostUsage | None = None
    cpu_spark: SparkShape = ((), ())
    memory_spark: SparkShape = ((), ())
    pools: PoolSpace | None = None
    pools_error: str = ""
    stale: bool = True

    @property
    def connected(self) -> bool:
        """Whether the host is connected now."""
        return self.status is not None and self.status.state is ConnectionState.CONNECTED


def cell_data(fig: HostFigures, column: FleetColumn, role: int) -> Any:
    """What ``role`` of ``column`` holds for the host ``fig`` (None: nothing)."""
    if role == Qt.ItemDataRole.DisplayRole:
        return _text(fig, column)
    if role == Qt.ItemDataRole.ToolTipRole:
        return _tooltip(fig, column)
    if role == FleetSortRole:
        return _sort_key(fig, column)
    if role == Qt.ItemDataRole.DecorationRole and column is FleetColumn.HOST:
        state = fig.status.state if fig.status else ConnectionState.DISCONNECTED
        return dot_icon(HOST_COLORS[state])
    if role == Qt.ItemDataRole.TextAlignmentRole and column >= FleetColumn.GUESTS:
        return int(_RIGHT)
    if role == CommitRole:
        return _commitment(fig, column)
    if role == Qt.ItemDataRole.ForegroundRole:
        commitment = _commitment(fig, column)
        if commitment is not None and commitment[0] > 1.0:
            return QColor(commitment[1])
        return None
    if role == SparkRole:
        if column is FleetColumn.CPU_USE:
            return fig.cpu_spark, CPU_COLOR
        if column is FleetColumn.MEMORY_USE:
            return fig.memory_spark, MEMORY_COLOR
    return None


def over_commit(cons: Consolidation, column: FleetColumn) -> str:
    """By how much the host is over-committed in ``column`` (vCPUs or memory), or ""."""
    if column is FleetColumn.VCPUS and cons.host_cpus and cons.vcpu_ratio > 1.0:
        extra = cons.committed_vcpus - cons.host_cpus
        return (
            f"Over-committed by {plural(extra, 'vCPU')}: "
            f"{cons.vcpu_ratio:.2f}{TIMES} the host's {plural(cons.host_cpus, 'CPU')}"
        )
    if column is FleetColumn.MEMORY and cons.host_memory_kib and cons.memory_ratio > 1.0:
        extra_kib = cons.committed_memory_kib - cons.host_memory_kib
        return (
            f"Over-committed by {format_kib(extra_kib)}: "
            f"{cons.memory_ratio:.0%} of the host's {format_kib(cons.host_memory_kib)}"
        )
    return ""


# -- per column -------------------------------------------------------------------------------


def _text(fig: HostFigures, column: FleetColumn) -> str:
    cons, usage = fig.consolidation, _live(fig)
    if column is FleetColumn.HOST:
        return fig.label
    if column is FleetColumn.STATE:
        return status_text(fig.status) if fig.status else DASH
    if column is FleetColumn.GUESTS:
        return f"{fig.active}/{fig.total}"
    if column is FleetColumn.VCPUS:
        if cons is None:
            return DASH
        if not cons.host_cpus:
            return str(cons.committed_vcpus)
        return f"{cons.committed_vcpus} / {cons.host_cpus} · {cons.vcpu_ratio:.2f}{TIMES}"
    if column is FleetColumn.MEMORY:
        if cons is None:
            return DASH
        if not cons.host_memory_kib:
            return format_kib(cons.committed_memory_kib)
        return f"{_pair_kib(cons.committed_memory_kib, cons.host_memory_kib)} · " + (
            f"{cons.memory_ratio:.0%}"
        )
    if column is FleetColumn.CPU_USE:
        value = usage.guests_cpu_percent if usage else math.nan
        return DASH if math.isnan(value) else f"{value:.0f} %"
    if column is FleetColumn.MEMORY_USE:
        value = usage.guests_memory_kib if usage else math.nan
        return DASH if math.isnan(value) else format_kib(value)
    return format_bytes(fig.pools.free) if fig.pools is not None else DASH


def _tooltip(fig: HostFigures, column: FleetColumn) -> str:
    if column in (FleetColumn.HOST, FleetColumn.STATE):
        lines = [fig.uri, status_text(fig.status) if fig.status else "not connected"]
        if fig.status is not None and (reason := connection_reason(fig.status)):
            lines.append(reason)
        return "\n".join(lines)
    if column is FleetColumn.GUESTS:
        return f"{fig.active} active (running, paused or suspended) of {plural(fig.total, 'guest')}"
    if column in (FleetColumn.VCPUS, FleetColumn.MEMORY):
        return _commit_tooltip(fig, column)
    if column in (FleetColumn.CPU_USE, FleetColumn.MEMORY_USE):
        return _use_tooltip(fig, column)
    if fig.pools_error:
        return f"Could not read the pools: {fig.pools_error}"
    if fig.pools is None:
        return "Not read (the host is not connected)"
    if not fig.pools.pools:
        return "No active storage pool"
    return "\n".join(
        f"{p.name}: {format_bytes(p.available)} free of {format_bytes(p.capacity)}"
        for p in fig.pools.pools
    )


def _commit_tooltip(fig: HostFigures, column: FleetColumn) -> str:
    cons = fig.consolidation
    if cons is None:
        return "Not known until the host answers"
    vcpu_text, memory_text, defined_text = consolidation_texts(cons)
    lines = [
        f"What the {plural(cons.active_guests, 'active guest')} commit: "
        + (vcpu_text if column is FleetColumn.VCPUS else memory_text)
    ]
    if excess := over_commit(cons, column):
        lines.append(excess)
    lines.append(f"If all ran: {defined_text}")
    return "\n".join(lines)


def _use_tooltip(fig: HostFigures, column: FleetColumn) -> str:
    trend = "The line: the last hour (its own guests only; other hosts on the same machine do "
    trend += "not count)."
    usage = _live(fig)
    if usage is None:
        state = "Not connected" if not fig.connected else "Not measured yet"
        return f"{state}.\n{trend}"
    if column is FleetColumn.CPU_USE:
        value = usage.guests_cpu_percent
        if math.isnan(value):
            return f"This host reports no guest CPU figures.\n{trend}"
        cpus = f" {plural(usage.cpus, 'CPU')}" if usage.cpus else " CPUs"
        now = f"Its guests use {value:.1f} % of the host's{cpus} (last {NOW_SECONDS:.0f} s)."
        return f"{now}\n{trend}"
    value = usage.guests_memory_kib
    if math.isnan(value):
        return f"This host reports no guest memory figures.\n{trend}"
    now = f"Its running guests hold {format_kib(value)} of the host's memory"
    if usage.memory_total_kib > 0:
        now += f" ({value / usage.memory_total_kib:.0%} of {format_kib(usage.memory_total_kib)})"
    return f"{now}.\n{trend}"


def _sort_key(fig: HostFigures, column: FleetColumn) -> str | float:
    cons, usage = fig.consolidation, _live(fig)
    if column is FleetColumn.HOST:
        return fig.label.casefold()
    if column is FleetColumn.STATE:
        return float(_STATE_ORDER.index(fig.status.state)) if fig.status else -1.0
    if column is FleetColumn.GUESTS:
        return fig.active * 1e6 + fig.total
    if column is FleetColumn.VCPUS:
        return cons.vcpu_ratio if cons else -1.0
    if column is FleetColumn.MEMORY:
        return cons.memory_ratio if cons else -1.0
    if column is FleetColumn.CPU_USE:
        return _known(usage.guests_cpu_percent if usage else math.nan)
    if column is FleetColumn.MEMORY_USE:
        return _known(usage.guests_memory_kib if usage else math.nan)
    return float(fig.pools.free) if fig.pools is not None else -1.0


def _commitment(fig: HostFigures, column: FleetColumn) -> tuple[float, str] | None:
    cons = fig.consolidation
    if cons is None:
        return None
    if column is FleetColumn.VCPUS and cons.host_cpus:
        return cons.vcpu_ratio, vcpu_color(cons.vcpu_ratio)
    if column is FleetColumn.MEMORY and cons.host_memory_kib:
        return cons.memory_ratio, memory_color(cons.memory_ratio)
    return None


def _live(fig: HostFigures) -> HostUsage | None:
    """The measured use, while the host is connected (its last figures are not "now")."""
    return fig.usage if fig.connected else None


def _known(value: float) -> float:
    return -1.0 if math.isnan(value) else value


def _pair_kib(part: float, whole: float) -> str:
    """ "85.9 / 64.0 GiB": two sizes in the larger one's unit."""
    divisor, unit = pick_unit(max(part, whole) * 1024)
    decimals = 0 if divisor == 1.0 else 1
    return f"{part * 1024 / divisor:.{decimals}f} / {whole * 1024 / divisor:.{decimals}f} {unit}"
