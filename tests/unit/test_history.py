"""The numpy history: ring buffers, the two-tier history and its slots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vmgui.core.history import History, RingBuffer, SeriesView


def test_ring_buffer_wraps_and_keeps_order() -> None:
    ring = RingBuffer(4, 2)
    assert len(ring) == 0 and ring.last() is None and math.isnan(ring.first_time())
    for t in range(6):
        ring.append(float(t), (t * 10.0, -t))
    assert len(ring) == 4 and ring.capacity == 4
    times, values = ring.view()
    assert times.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert values[:, 0].tolist() == [20.0, 30.0, 40.0, 50.0]
    assert ring.first_time() == 2.0
    last = ring.last()
    assert last is not None and last[0] == 5.0 and last[1].tolist() == [50.0, -5.0]
    # Windows that fall in either run of the wrapped ring, or span both.
    assert ring.view(4.5)[0].tolist() == [5.0]
    assert ring.view(3.0)[0].tolist() == [3.0, 4.0, 5.0]
    assert ring.view(-1.0)[0].tolist() == [2.0, 3.0, 4.0, 5.0]
    # Views are copies: later appends do not change them.
    times.fill(0)
    ring.append(6.0, (60.0, -6.0))
    assert ring.view()[0].tolist() == [3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize("count", [0, 1, 3, 7, 8, 9, 20])
def test_ring_buffer_view_matches_a_list(count: int) -> None:
    ring = RingBuffer(8, 1)
    for t in range(count):
        ring.append(float(t), (float(t),))
    kept = [float(t) for t in range(count)][-8:]
    for since in (-1.0, 2.0, 5.5, 19.0, 30.0):
        assert ring.view(since)[0].tolist() == [t for t in kept if t >= since]


def test_history_is_bounded_and_reaches_an_hour() -> None:
    history = History(1, fine_points=60, step=10.0, span=3600.0)
    for t in range(7200):  # two hours at 1 s
        history.append(float(t), (float(t % 100),))
    nbytes = history.nbytes()
    assert len(history.fine) == 60 and len(history.coarse) == history.coarse.capacity
    times, values = history.view(3600.0)
    assert times[0] <= 7199 - 3590 and times[-1] == 7199.0
    assert np.all(np.diff(times) > 0)
    # Recent part at full rate, older part as 10 s means.
    assert times[-60:].tolist() == [float(t) for t in range(7140, 7200)]
    assert values[0, 0] == pytest.approx(np.mean([t % 100 for t in range(3600, 3610)]), abs=50)
    assert history.view(60.0)[0].tolist() == [float(t) for t in range(7139, 7200)][-60:]
    for t in range(7200, 9000):
        history.append(float(t), (1.0,))
    assert history.nbytes() == nbytes, "memory stays bounded"


def test_history_break_line_and_nan_means() -> None:
    history = History(2, fine_points=10, step=10.0)
    for t in range(15):
        history.append(float(t), (1.0, math.nan))
    history.break_line(15.0)
    for t in range(100, 105):
        history.append(float(t), (2.0, 3.0))
    times, values = history.view(200.0)
    assert math.isnan(values[times.tolist().index(15.0), 0]), "a gap where the guest stopped"
    _coarse_t, coarse_v = history.coarse.view(index=0)
    assert coarse_v[0, 0] == 1.0 and math.isnan(coarse_v[0, 1])
    last = history.last()
    assert last is not None and last[1].tolist() == [2.0, 3.0]


def test_a_table_of_series_sampled_together() -> None:
    """A host's guests share one table: one append per tick; absent series read NaN."""
    table = History(2, slots=2, fine_points=30, step=10.0)
    for t in range(25):
        present = [0, 1] if t < 12 else [1]  # series 0 stops at t = 12
        rows = np.array([[t, 1.0], [t * 2, 2.0]], dtype=np.float32)[present]
        table.append(float(t), rows, present)
    zero, one = SeriesView(table, 0), SeriesView(table, 1)
    times, values = zero.view(100.0)
    assert times.tolist() == [float(t) for t in range(25)]
    assert values[11].tolist() == [11.0, 1.0] and np.isnan(values[12:]).all()
    assert one.view(5.0)[1][:, 0].tolist() == [38.0, 40.0, 42.0, 44.0, 46.0, 48.0]
    last = zero.last()
    assert last is not None and np.isnan(last[1]).all() and len(zero) == 25
    # Room for more series: old ones keep their data, new ones read NaN until appended.
    table.widen(3)
    assert table.slots >= 3
    assert one.view(5.0)[1][:, 0].tolist() == [38.0, 40.0, 42.0, 44.0, 46.0, 48.0]
    assert np.isnan(table.view(100.0, slot=2)[1]).all()
    # A cleared slot forgets its series (so a new one can take it).
    table.clear(1)
    assert np.isnan(one.view(100.0)[1]).all()
    # Coarse means were made per slot.
    _t, coarse = table.coarse.view(index=0)
    assert coarse[0].tolist() == [4.5, 1.0]


def test_slots_are_allocated_released_and_reused() -> None:
    """A host's table hands each new guest a slot, widening as needed; a released slot is
    cleared and goes to the next new guest."""
    table = History(1, slots=2, fine_points=10)
    slots = [table.allocate() for _ in range(5)]
    assert slots == [0, 1, 2, 3, 4] and table.slots >= 5
    table.append(1.0, np.array([[10.0], [30.0]]), [1, 3])
    table.release(3)
    assert np.isnan(table.view(10.0, slot=3)[1]).all(), "a released slot reads NaN"
    assert table.view(10.0, slot=1)[1][:, 0].tolist() == [10.0]
    assert table.allocate() == 3, "the released slot first"
    assert table.allocate() == 5


def test_a_young_series_gets_no_mean_before_its_first_row() -> None:
    """Rows at 17 and 19 s close the 10-20 s step at 21 s; its mean (stamped at 15 s) must not
    be drawn before the series began: the full-rate rows still hold that step."""
    h = History(1, step=10.0)
    for t, v in ((17.0, 1.0), (19.0, 3.0), (21.0, 5.0)):
        h.append(t, [v])
    times, values = h.view(600.0)
    assert times.tolist() == [17.0, 19.0, 21.0]
    assert values[:, 0, ...].ravel().tolist() == [1.0, 3.0, 5.0]
