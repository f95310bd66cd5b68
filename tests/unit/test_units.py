"""The one size/rate/duration formatter."""

import math

import pytest

from vmgui.core.units import (
    format_bytes,
    format_kib,
    format_rate,
    format_seconds,
    pick_unit,
    plural,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (12.5 * 1024, "12.5 KiB"),
        (150 * 1024**2, "150 MiB"),
        (1.5 * 1024**3, "1.5 GiB"),
        (2 * 1024**4, "2.0 TiB"),
        (5000 * 1024**4, "5000 TiB"),
        (-2048, "-2.0 KiB"),
        (math.nan, "—"),
        (math.inf, "—"),
    ],
)
def test_format_bytes(value: float, text: str) -> None:
    assert format_bytes(value) == text


def test_rate_and_kib() -> None:
    assert format_rate(1.5 * 1024**2) == "1.5 MiB/s"
    assert format_bytes(0, "/s") == "0 B/s"
    assert format_kib(512 * 1024) == "512 MiB"
    assert format_kib(2 * 1024**2) == "2.0 GiB"
    assert format_kib(math.nan) == "—"


def test_pick_unit() -> None:
    assert pick_unit(3 * 1024**2) == (1024.0**2, "MiB")
    assert pick_unit(10, "/s") == (1.0, "B/s")
    assert pick_unit(math.nan) == (1.0, "B")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (4.4, "4 s"), (-3, "0 s"), (125, "2 min 05 s"), (3780, "1 h 03 min")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_plural() -> None:
    assert plural(1, "guest") == "1 guest"
    assert plural(0, "guest") == "0 guests"
    assert plural(3, "host") == "3 hosts"
