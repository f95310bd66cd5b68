"""Bounded usage history in numpy rings: recent rows at full rate, an hour of coarse means.

Pure: numpy only, no Qt and no libvirt. A :class:`History` holds series sampled at the same
moments (a host, or all guests of a host, one slot per series); a :class:`SeriesView` is one
series of it. Rows come from :meth:`vmgui.core.rates.GuestSample.row` and
:meth:`~vmgui.core.rates.HostSample.row`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

NAN = math.nan

#: Full-rate points kept per series (10 minutes at 1 s).
FINE_POINTS = 600
#: Seconds per point of the long history, and how long it reaches back.
COARSE_STEP = 10.0
HISTORY_SPAN = 3600.0

FloatArray = npt.NDArray[np.float64]
ValueArray = npt.NDArray[np.float32]


class RingBuffer:
    """A fixed number of timed rows in preallocated numpy arrays; the oldest row drops out.

    Times are float64 seconds (wall clock); each row's values are a float32 array of
    ``shape`` (channels, or slots x channels for a table of series sampled together).
    """

    def __init__(self, capacity: int, shape: int | tuple[int, ...]) -> None:
        shape = (shape,) if isinstance(shape, int) else shape
        if capacity < 1 or min(shape) < 1:
            raise ValueError("capacity and shape must be positive")
        self._times: FloatArray = np.zeros(capacity, dtype=np.float64)
        self._values: ValueArray = np.full((capacity, *shape), np.nan, dtype=np.float32)
        self._capacity = capacity
        self._next = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        """How many rows fit."""
        return self._capacity

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one row's values."""
        return tuple(self._values.shape[1:])

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return int(self._times.nbytes + self._values.nbytes)

    def append(self, time: float, row: Sequence[float] | npt.NDArray[np.floating[Any]]) -> None:
        """Add a row (times must not go backwards)."""
        i = self._next
        self._times[i] = time
        self._values[i] = row
        self._next = (i + 1) % self._capacity
        if self._size < self._capacity:
            self._size += 1

    def widen(self, slots: int) -> None:
        """Make room for ``slots`` along the second axis (new slots read NaN)."""
        capacity, old, *rest = self._values.shape
        if slots > old:
            values = np.full((capacity, slots, *rest), np.nan, dtype=np.float32)
            values[:, :old] = self._values
            self._values = values

    def clear(self, index: int) -> None:
        """Forget one slot's values (they read NaN)."""
        self._values[:, index] = np.nan

    def tail(self, count: int) -> ValueArray:
        """The newest ``count`` rows' values (at most all), oldest first, as a copy."""
        count = min(count, self._size)
        start = self._next - count
        if start >= 0:
            return self._values[start : self._next].copy()
        return np.concatenate((self._values[start:], self._values[: self._next]))

    def first_time(self) -> float:
        """The oldest row's time (NaN when empty)."""
        if not self._size:
            return NAN
        return float(self._times[(self._next - self._size) % self._capacity])

    def last(self, index: int | None = None) -> tuple[float, ValueArray] | None:
        """The newest row (of one slot if ``index`` is given), as a copy; None if empty."""
        if not self._size:
            return None
        i = (self._next - 1) % self._capacity
        values = self._values[i] if index is None else self._values[i, index]
        return float(self._times[i]), values.copy()

    def view(
        self, since: float = -math.inf, index: int | None = None
    ) -> tuple[FloatArray, ValueArray]:
        """Rows with time >= ``since`` (of one slot if ``index`` is given), oldest first, as
        copies. Only those rows are copied: the ring is two time-sorted runs (older rows
        after the write position, newer ones before it), each searched on its own."""
        values = self._values if index is None else self._values[:, index]
        if self._size < self._capacity:
            start = int(np.searchsorted(self._times[: self._size], since, side="left"))
            return self._times[start : self._size].copy(), values[start : self._size].copy()
        split = self._next
        newer = self._times[:split]
        if split and newer[0] < since:
            start = int(np.searchsorted(newer, since, side="left"))
            return self._times[start:split].copy(), values[start:split].copy()
        start = split + int(np.searchsorted(self._times[split:], since, side="left"))
        times = np.concatenate((self._times[start:], newer))
        return times, np.concatenate((values[start:], values[:split]))


class History:
    """Series sampled at the same moments (a host, or all guests of a host): recent rows at
    full rate plus coarse means for the last hour, in one numpy ring per tier.

    Each series owns a slot; a tick appends one row for all slots at once (absent series
    read NaN: a gap). Bounded: ``fine_points`` full-rate rows (10 min at 1 s) and
    ``span / step`` means of ``step`` seconds, computed from the full-rate rows when a step
    ends. :meth:`view` joins both: full rate where it still has it, means before that.
    """

    def __init__(
        self,
        channels: int,
        *,
        slots: int = 1,
        fine_points: int = FINE_POINTS,
        step: float = COARSE_STEP,
        span: float = HISTORY_SPAN,
    ) -> None:
        self.fine = RingBuffer(fine_points, (slots, channels))
        self.coarse = RingBuffer(math.ceil(span / step) + 2, (slots, channels))
        self._step = step
        self._bucket: int | None = None
        self._in_bucket = 0
        self._free: list[int] = []  # released slots, reused first
        self._allocated = 0  # slots ever handed out (the next new one)

    @property
    def channels(self) -> int:
        """Values per series and row."""
        return self.fine.shape[1]

    @property
    def slots(self) -> int:
        """How many series fit (see :meth:`widen`)."""
        return self.fine.shape[0]

    def __len__(self) -> int:
        return len(self.fine)

    def widen(self, slots: int) -> None:
        """Make room for at least ``slots`` series (grows by half at least, amortised)."""
        if slots > self.slots:
            slots = max(slots, self.slots + self.slots // 2)
            self.fine.widen(slots)
            self.coarse.widen(slots)

    def clear(self, slot: int) -> None:
        """Forget one series' values (they read NaN)."""
        self.fine.clear(slot)
        self.coarse.clear(slot)

    def allocate(self) -> int:
        """A slot for a new series: the last released one, else a new one (widening)."""
        if self._free:
            return self._free.pop()
        slot = self._allocated
        self._allocated += 1
        self.widen(slot + 1)
        return slot

    def release(self, slot: int) -> None:
        """Forget a series: its values are cleared and its slot goes to the next
        :meth:`allocate`."""
        self.clear(slot)
        self._free.append(slot)

    def append(
        self,
        time: float,
        rows: Sequence[float] | npt.NDArray[np.floating[Any]],
        slots: npt.NDArray[np.intp] | Sequence[int] | None = None,
    ) -> None:
        """Add one tick: ``rows[i]`` for slot ``slots[i]`` (others read NaN), or one row for
        a single-slot history (``slots`` None)."""
        if slots is None:
            block = np.asarray(rows, dtype=np.float32).reshape(self.fine.shape)
        else:
            block = np.full(self.fine.shape, np.nan, dtype=np.float32)
            block[np.asarray(slots, dtype=np.intp)] = rows
        bucket = math.floor(time / self._step)
        if bucket != self._bucket:
            self._flush()
            self._bucket = bucket
        self.fine.append(time, block)
        self._in_bucket += 1

    def break_line(self, time: float) -> None:
        """Mark a gap for every series (the host dropped): lines do not join across it."""
        self._flush()
        gap = np.full(self.fine.shape, np.nan, dtype=np.float32)
        self.fine.append(time, gap)
        self.coarse.append(time, gap)

    def _flush(self) -> None:
        """Close the current step: its mean (of the known values) goes to the coarse ring."""
        if self._bucket is not None and self._in_bucket:
            rows = self.fine.tail(self._in_bucket)
            known = np.isfinite(rows)
            count = known.sum(axis=0)
            total = np.where(known, rows, 0.0).sum(axis=0, dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            self.coarse.append((self._bucket + 0.5) * self._step, means)
        self._bucket = None
        self._in_bucket = 0

    def last(self, slot: int = 0) -> tuple[float, ValueArray] | None:
        """One series' newest full-rate row, or None."""
        return self.fine.last(slot)

    def last_time(self) -> float:
        """The newest row's time (NaN when empty)."""
        last = self.fine.last(0)
        return NAN if last is None else last[0]

    def view(
        self, seconds: float, now: float | None = None, slot: int = 0
    ) -> tuple[FloatArray, ValueArray]:
        """One series' rows of the last ``seconds`` before ``now`` (default: newest row)."""
        if now is None:
            now = self.last_time()
            if math.isnan(now):
                return self.fine.view(index=slot)
        since = now - seconds
        times, values = self.fine.view(since, slot)
        fine_start = self.fine.first_time()
        if len(self.coarse) and not math.isnan(fine_start) and fine_start > since:
            old_t, old_v = self.coarse.view(since, slot)
            # Only steps whose rows have all left the full-rate ring: a young series' first
            # step would otherwise add its mean, stamped mid-step, before the series began.
            keep = old_t + self._step / 2 <= fine_start
            if keep.any():
                times = np.concatenate((old_t[keep], times))
                values = np.concatenate((old_v[keep], values))
        return times, values

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return self.fine.nbytes + self.coarse.nbytes


@dataclass(frozen=True, slots=True)
class SeriesView:
    """One series of a :class:`History` (a guest's slot in its host's table)."""

    table: History
    slot: int

    def __len__(self) -> int:
        return len(self.table)

    def view(self, seconds: float, now: float | None = None) -> tuple[FloatArray, ValueArray]:
        """The series' rows of the last ``seconds`` (see :meth:`History.view`)."""
        return self.table.view(seconds, now, self.slot)

    def last(self) -> tuple[float, ValueArray] | None:
        """The series' newest row, or None."""
        return self.table.last(self.slot)

    def last_time(self) -> float:
        """The newest row's time (NaN when empty)."""
        return self.table.last_time()
