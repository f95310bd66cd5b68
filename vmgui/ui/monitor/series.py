"""One guest's or one host's usage history, as the charts and sparklines read it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from vmgui.core.history import History, SeriesView
from vmgui.core.rates import GuestChannel, HostChannel

GuestKey = tuple[str, str]


@dataclass(eq=False)
class GuestSeries:
    """One guest's usage history and what its charts need to label it.

    A guest's rows live in its slot of its host's table (one :class:`History` per host,
    appended once per tick for all guests); ticks without the guest read NaN there.

    Attributes:
        key: (host URI, UUID).
        name: the guest's name.
        vcpus: its vCPUs.
        table: the host's guest table.
        slot: this guest's slot in it.
        active: whether the series is still running (the guest is active).
        ended_at: when it ended (wall clock), NaN while active.
    """

    key: GuestKey
    name: str
    vcpus: int
    table: History
    slot: int
    active: bool = True
    ended_at: float = math.nan

    @property
    def history(self) -> SeriesView:
        """The guest's rows in :class:`~vmgui.core.rates.GuestChannel` order."""
        return SeriesView(self.table, self.slot)

    def latest(self, channel: GuestChannel) -> float:
        """The newest value of a channel (NaN when none)."""
        last = self.history.last()
        return math.nan if last is None else float(last[1][channel])


@dataclass(eq=False)
class HostSeries:
    """One host's usage history (rows in :class:`~vmgui.core.rates.HostChannel` order)."""

    uri: str
    history: History
    active: bool = True

    def latest(self, channel: HostChannel) -> float:
        """The newest value of a channel (NaN when none)."""
        last = self.history.last()
        return math.nan if last is None else float(last[1][channel])


class SeriesSource(Protocol):
    """Where a view reads guests' histories (the stats controller; tests pass a fake)."""

    def guest_series(self, key: GuestKey) -> GuestSeries | None:
        """A guest's series, or None if it was never seen running."""
        ...
