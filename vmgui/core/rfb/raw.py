"""The Raw encoding: width x height pixels in the client's pixel format."""

from __future__ import annotations

import numpy as np

from vmgui.core.rfb.pixels import OPAQUE, Pixels, Rect, as_bytes, region


def raw_size(rect: Rect) -> int:
    """The number of bytes of a Raw rectangle (4 per pixel)."""
    return rect.area * 4


def decode_raw(framebuffer: Pixels, rect: Rect, data: bytes) -> None:
    """Copy a Raw rectangle into the framebuffer (one vectorised pass; X set to 0xFF)."""
    pixels = as_bytes(data, raw_size(rect), "Raw rectangle").view("<u4")
    np.bitwise_or(pixels.reshape(rect.height, rect.width), OPAQUE, out=region(framebuffer, rect))
