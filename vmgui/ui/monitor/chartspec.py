"""What each usage chart plots: its fields (history columns, how they read, their lines).

The guest page and the host page are tuples of :class:`ChartSpec` in layout order; code
finds a chart by its :class:`ChartId`, never by its position.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from vmgui.core.rates import GuestChannel, HostChannel

NO_BALLOON_TEXT = "guest memory use unavailable — no balloon driver"
NO_HOST_MEMORY_TEXT = "this host does not report its memory use"
NO_CPU_WAIT_TEXT = "not reported by this host"

BLUE, GREEN, ORANGE, GREY, PURPLE = "#2f6fd6", "#2e9d4f", "#e07b1f", "#8a8f98", "#7a5cc7"


class ChartId(Enum):
    """Which chart of a page (the guest and the host page share the ids they both have)."""

    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    NETWORK = "network"
    CPU_WAIT = "cpu-wait"


class Unit(Enum):
    """How a field's values read (and the value axis's unit)."""

    PERCENT = "%"
    KIB = "KiB"  # memory, kept in KiB
    BYTES_PER_S = "B/s"
    IOPS = "IOPS"
    MS_PER_S = "ms/s"  # time waited per second


@dataclass(frozen=True, slots=True)
class Field:
    """One value of a chart: a history column, how it reads, and its line if plotted.

    ``text`` is a template for the read-out ("{} of its vCPUs"); ``extra`` names a second
    column shown in parentheses (IOPS next to bytes/s).
    """

    text: str
    channel: int
    unit: Unit
    color: str = ""
    dashed: bool = False
    fill: bool = False
    extra: int | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """An honest gap: shown when ``seen`` has values in the window but ``used`` has none."""

    used: int
    seen: int
    text: str


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """One chart: its id, title and fields (the first one sets the unit), and its notice."""

    id: ChartId
    title: str
    fields: tuple[Field, ...]
    notice: Notice | None = None


_G, _H = GuestChannel, HostChannel
_PCT, _KIB, _BPS = Unit.PERCENT, Unit.KIB, Unit.BYTES_PER_S

#: The charts of a guest, in layout order.
GUEST_CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        ChartId.CPU,
        "CPU",
        (
            Field("{} of its vCPUs", _G.CPU, _PCT, BLUE, fill=True),
            Field("{} of the host", _G.CPU_HOST, _PCT),
        ),
    ),
    ChartSpec(
        ChartId.MEMORY,
        "Memory",
        (
            Field("{} used in the guest", _G.MEMORY_USED, _KIB, GREEN, fill=True),
            Field("guest has {}", _G.MEMORY_TOTAL, _KIB, GREY),
            Field("host RSS {}", _G.RSS, _KIB, PURPLE, dashed=True),
        ),
        # Honest memory: no guest figure without a balloon driver.
        Notice(_G.MEMORY_USED, _G.MEMORY_TOTAL, NO_BALLOON_TEXT),
    ),
    ChartSpec(
        ChartId.DISK,
        "Disk",
        (
            Field("read {}", _G.DISK_READ, _BPS, BLUE, extra=_G.DISK_READ_IOPS),
            Field("write {}", _G.DISK_WRITE, _BPS, ORANGE, extra=_G.DISK_WRITE_IOPS),
        ),
    ),
    ChartSpec(
        ChartId.NETWORK,
        "Network",
        (
            Field("received {}", _G.NET_RX, _BPS, PURPLE),
            Field("sent {}", _G.NET_TX, _BPS, GREEN),
        ),
    ),
    ChartSpec(
        ChartId.CPU_WAIT,
        "Waiting for a host CPU",
        (Field("{} per vCPU", _G.CPU_WAIT, Unit.MS_PER_S, ORANGE, fill=True),),
        # Honest gap: a host without vcpu.N.delay (the test driver, old libvirt) shows no 0.
        Notice(_G.CPU_WAIT, _G.CPU, NO_CPU_WAIT_TEXT),
    ),
)
#: The charts of a host, in layout order.
HOST_CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        ChartId.CPU,
        "Host CPU",
        (
            Field("{} busy", _H.CPU, _PCT, BLUE, fill=True),
            Field("guests {}", _H.GUESTS_CPU, _PCT, ORANGE, dashed=True),
        ),
    ),
    ChartSpec(
        ChartId.MEMORY,
        "Host memory",
        (
            Field("{} used", _H.MEMORY_USED, _KIB, BLUE, fill=True),
            Field("{} physical", _H.MEMORY_TOTAL, _KIB, GREY),
            Field("{} committed to guests", _H.COMMITTED_MEMORY, _KIB, ORANGE, dashed=True),
        ),
        Notice(_H.MEMORY_USED, _H.MEMORY_TOTAL, NO_HOST_MEMORY_TEXT),
    ),
)
