"""The Tight encoding, lossless part: fill, basic compression (copy, palette, gradient).

Tight keeps four zlib streams for the whole connection; a rectangle's control byte may reset
any of them. TPIXELs are R, G, B bytes (32 bpp, depth 24). JPEG (lossy) and PNG (TightPNG)
are never asked for (the client sends no quality level), so they are protocol errors here.

The decoder is a generator: it yields how many bytes it needs next and is sent exactly those
bytes (see :mod:`vmgui.core.rfb.protocol`).
"""

from __future__ import annotations

import zlib
from collections.abc import Generator

import numpy as np

from vmgui.core.rfb.errors import RfbError
from vmgui.core.rfb.pixels import Bytes, Pixels, Rect, as_bytes, from_rgb, region

#: A reader: yields a byte count, is sent that many bytes, returns its result.
Read = Generator[int, bytes, None]

_FILL = 0x8
_JPEG = 0x9
_PNG = 0xA
_EXPLICIT_FILTER = 0x4
_FILTER_COPY = 0
_FILTER_PALETTE = 1
_FILTER_GRADIENT = 2
#: Below this many bytes the data is sent as is, without zlib.
_MIN_TO_COMPRESS = 12


class TightDecoder:
    """Decodes Tight rectangles; holds the connection's four zlib streams."""

    def __init__(self) -> None:
        self._streams = [zlib.decompressobj() for _ in range(4)]

    def read_rect(self, framebuffer: Pixels, rect: Rect) -> Read:
        """Read one Tight rectangle and paint it into the framebuffer."""
        control = (yield 1)[0]
        for stream in range(4):
            if control & (1 << stream):
                self._streams[stream] = zlib.decompressobj()
        kind = control >> 4
        target = region(framebuffer, rect)
        if kind == _FILL:
            target[...] = from_rgb(as_bytes((yield 3), 3, "Tight fill"))[0]
            return
        if kind == _JPEG:
            raise RfbError("the server sent a Tight JPEG rectangle, which was not asked for")
        if kind > _FILL:
            raise RfbError(f"unknown Tight compression type {kind:#x}")
        stream = kind & 3
        filter_id = (yield 1)[0] if kind & _EXPLICIT_FILTER else _FILTER_COPY
        width, height = rect.width, rect.height
        palette: Pixels | None = None
        if filter_id in (_FILTER_COPY, _FILTER_GRADIENT):
            size = width * height * 3
        elif filter_id == _FILTER_PALETTE:
            colours = (yield 1)[0] + 1
            palette = from_rgb(as_bytes((yield colours * 3), colours * 3, "Tight palette"))
            size = height * ((width + 7) // 8) if colours == 2 else width * height
        else:
            raise RfbError(f"unknown Tight filter {filter_id}")
        if size < _MIN_TO_COMPRESS:
            data = yield size
        else:
            length = yield from _compact_length()
            try:
                data = self._streams[stream].decompress((yield length))
            except zlib.error as exc:
                raise RfbError(f"Tight zlib stream {stream}: {exc}") from exc
        raw = as_bytes(data, size, "Tight rectangle")
        if palette is not None:
            target[...] = _apply_palette(palette, raw, width, height)
        elif filter_id == _FILTER_GRADIENT:
            target[...] = from_rgb(gradient_unfilter(raw.reshape(height, width, 3))).reshape(
                height, width
            )
        else:
            target[...] = from_rgb(raw).reshape(height, width)


def _compact_length() -> Generator[int, bytes, int]:
    byte = (yield 1)[0]
    length = byte & 0x7F
    if byte & 0x80:
        byte = (yield 1)[0]
        length |= (byte & 0x7F) << 7
        if byte & 0x80:
            length |= (yield 1)[0] << 14
    return length


def _apply_palette(palette: Pixels, raw: Bytes, width: int, height: int) -> Pixels:
    if palette.size == 2:
        indices = np.unpackbits(raw.reshape(height, (width + 7) // 8), axis=1)[:, :width]
    else:
        indices = raw.reshape(height, width)
        if int(indices.max(initial=0)) >= palette.size:
            raise RfbError(f"Tight palette index out of range (palette of {palette.size})")
    return palette[indices]


def gradient_unfilter(data: Bytes) -> Bytes:
    """Undo Tight's gradient filter on (height, width, 3) bytes.

    Each component was sent as ``value - clamp(left + up - up_left)`` (mod 256), with zeros
    outside the rectangle. A pixel needs its left, upper and upper-left neighbours, so the
    pixels of one anti-diagonal (x + y = k) are independent: one vectorised step per diagonal
    (width + height - 1 steps) instead of a loop over pixels.
    """
    height, width, _ = data.shape
    values = np.zeros((height + 1, width + 1, 3), dtype=np.int16)  # padded with a zero row/col
    deltas = data.astype(np.int16)
    rows = np.arange(height)
    for k in range(width + height - 1):
        ys = rows[max(0, k - width + 1) : min(height - 1, k) + 1]
        xs = k - ys
        predicted = values[ys, xs + 1] + values[ys + 1, xs] - values[ys, xs]
        np.clip(predicted, 0, 255, out=predicted)
        values[ys + 1, xs + 1] = (predicted + deltas[ys, xs]) & 0xFF
    return values[1:, 1:].astype(np.uint8)
