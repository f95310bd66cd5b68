"""A guest's limits as horizontal lines on its usage charts (pure: no Qt, no pyqtgraph).

Each line is in the unit of the chart's first field, so it sits on the same scale as the
curve it bounds:

* Disk: the read and write bytes/s limits. The chart plots the sum over all disks, so the
  line is the sum of the disks' limits when every disk is limited; when only some are, the
  line is each limited disk's own limit, named ("read limit 256 KiB/s on vda").
* Disk IOPS: the chart's axis is bytes/s, so read/write IOPS limits are not lines but notes in
  its read-out (``on_axis`` False), beside the IOPS figures it already shows ("read limit
  100 IOPS on vda"), summed and named the same way.
* Network: the inbound (to the guest, the "received" curve) and outbound ("sent") KiB/s
  averages, as bytes/s, summed over the NICs the same way.
* CPU: the cap is set in % of one host CPU for the whole guest; the chart plots % of the
  guest's own vCPUs (100 = every vCPU busy), so the line is at ``cap / vCPUs`` (a 20 % cap on
  2 vCPUs is a line at 10 %), labelled with the cap as set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from vmgui.core.limits import DiskLimits, LimitsView, NicLimits
from vmgui.core.units import format_rate
from vmgui.ui.monitor.chartspec import BLUE, GREEN, ORANGE, PURPLE, ChartId


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One limit drawn across a chart.

    Attributes:
        value: where, in the unit of the chart's first field (bytes/s, % of its vCPUs).
        label: what it is, e.g. "read limit 256 KiB/s".
        color: the colour of the curve it bounds.
        on_axis: drawn as a line (``value`` in the chart's unit); False: a note in the chart's
            read-out, for a limit in another unit (disk IOPS on the bytes/s chart).
    """

    value: float
    label: str
    color: str
    on_axis: bool = True


LimitLines = dict[ChartId, tuple[LimitLine, ...]]
_D = TypeVar("_D", DiskLimits, NicLimits)


def limit_lines(view: LimitsView | None) -> LimitLines:
    """The lines of each chart for ``view``'s limits in force (none for a chart without)."""
    if view is None:
        return {}
    limits = view.current
    lines: LimitLines = {}
    cap = limits.cpu_cap_percent
    if cap > 0:
        vcpus = max(1, limits.vcpus)
        text = f"CPU cap {cap:g} % of one host CPU"
        if vcpus > 1:
            text += f" ({cap / vcpus:g} % of its {vcpus} vCPUs)"
        lines[ChartId.CPU] = (LimitLine(min(100.0, cap / vcpus), text, BLUE),)
    disk = _device_lines(
        limits.disks,
        lambda d: d.target,
        (("read", BLUE, lambda d: d.read_bps), ("write", ORANGE, lambda d: d.write_bps)),
    )
    iops = _device_lines(
        limits.disks,
        lambda d: d.target,
        (("read", BLUE, lambda d: d.read_iops), ("write", ORANGE, lambda d: d.write_iops)),
        unit="IOPS",
    )
    if disk or iops:
        lines[ChartId.DISK] = disk + iops
    net = _device_lines(
        limits.nics,
        lambda n: n.mac,
        (
            ("inbound", PURPLE, lambda n: n.inbound_kib * 1024),
            ("outbound", GREEN, lambda n: n.outbound_kib * 1024),
        ),
    )
    if net:
        lines[ChartId.NETWORK] = net
    return lines


def _device_lines(
    devices: Sequence[_D],
    name: Callable[[_D], str],
    directions: Sequence[tuple[str, str, Callable[[_D], int]]],
    unit: str = "",
) -> tuple[LimitLine, ...]:
    """Lines of a rate in bytes/s (``unit`` ""), or read-out notes of one in ``unit``."""

    def text(amount: int) -> str:
        return f"{amount} {unit}" if unit else format_rate(amount)

    lines = []
    for direction, color, value in directions:
        limited = [d for d in devices if value(d) > 0]
        if not limited:
            continue
        if len(limited) == len(devices):
            total = sum(value(d) for d in limited)
            label = f"{direction} limit {text(total)}"
            if len(limited) > 1:
                label += f" ({len(limited)} devices)"
            lines.append(LimitLine(float(total), label, color, not unit))
            continue
        for d in limited:
            label = f"{direction} limit {text(value(d))} on {name(d)}"
            lines.append(LimitLine(float(value(d)), label, color, not unit))
    return tuple(lines)
