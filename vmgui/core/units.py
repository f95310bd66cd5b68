"""The one way vmgui writes sizes, rates, durations and counts for people.

Binary units throughout (KiB, MiB, GiB, TiB). One decimal below 100 of a unit, none from 100 on
("12.5 KiB", "150 MiB", "2.0 GiB"); whole bytes without decimals ("512 B"). A value that is not
finite (a gap in a series) reads "—".
"""

from __future__ import annotations

import math

DASH = "—"
_UNITS = ("KiB", "MiB", "GiB", "TiB")


def pick_unit(peak: float, suffix: str = "") -> tuple[float, str]:
    """A binary unit for byte values up to ``peak``: (divisor, label), e.g. (1024², "MiB")."""
    divisor, label = 1.0, "B"
    for name in _UNITS:
        if not math.isfinite(peak) or abs(peak) < divisor * 1024:
            break
        divisor, label = divisor * 1024, name
    return divisor, label + suffix


def format_bytes(value: float, suffix: str = "") -> str:
    """Bytes for people: "0 B", "12.5 KiB", "150 MiB", "1.2 GiB" (plus ``suffix``, e.g. "/s")."""
    if not math.isfinite(value):
        return DASH
    divisor, label = pick_unit(value, suffix)
    number = value / divisor
    decimals = 0 if divisor == 1.0 or abs(number) >= 100 else 1
    return f"{number:.{decimals}f} {label}"


def format_rate(bytes_per_second: float) -> str:
    """A transfer rate: "0 B/s", "1.5 MiB/s"."""
    return format_bytes(bytes_per_second, "/s")


def format_kib(kib: float) -> str:
    """A size given in KiB (libvirt's memory unit): "512 MiB", "1.5 GiB"."""
    return format_bytes(kib * 1024)


def format_seconds(seconds: float) -> str:
    """A duration for people: "4 s", "2 min 05 s", "1 h 03 min"."""
    if not math.isfinite(seconds):
        return DASH
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plural(count: int, word: str) -> str:
    """ "1 guest", "2 guests", "0 guests"."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
