"""The ZRLE encoding: zlib-compressed 64x64 tiles (raw, solid, packed palette, RLE).

One zlib stream lasts the whole connection. CPIXELs are the low 3 bytes of the client's
pixel (B, G, R). Tiles are decoded with numpy (a loop over tiles, never over pixels); the two
run-length subencodings loop over runs, collecting them for one ``np.repeat``.
"""

from __future__ import annotations

import zlib

import numpy as np

from vmgui.core.rfb.errors import RfbError
from vmgui.core.rfb.pixels import Bytes, Pixels, Rect, from_bgr, region

TILE = 64
_RAW = 0
_SOLID = 1
_MAX_PACKED = 16
_PLAIN_RLE = 128
_MIN_PALETTE_RLE = 130


def _index_bits(palette_size: int) -> int:
    if palette_size == 2:
        return 1
    return 2 if palette_size <= 4 else 4


def unpack_indices(packed: Bytes, bits: int, width: int, height: int) -> Bytes:
    """Palette indices from rows of ``bits``-bit fields, most significant first, each row
    padded to a whole byte."""
    rows = packed.reshape(height, -1)
    if bits == 1:
        return np.unpackbits(rows, axis=1)[:, :width]
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    fields = (rows[:, :, None] >> shifts) & np.uint8((1 << bits) - 1)
    return fields.reshape(height, -1)[:, :width]


class _Tiles:
    """A cursor over one rectangle's decompressed tile data."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.array = np.frombuffer(data, dtype=np.uint8)
        self.pos = 0

    def take(self, count: int) -> Bytes:
        end = self.pos + count
        if end > len(self.data):
            raise RfbError("ZRLE tile data is truncated")
        chunk = self.array[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise RfbError("ZRLE tile data is truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def run_length(self) -> int:
        """A run length: bytes of 255 continue it; the total is their sum plus one."""
        length = 1
        while True:
            value = self.byte()
            length += value
            if value != 255:
                return length


class ZrleDecoder:
    """Decodes ZRLE rectangles; holds the connection's zlib stream."""

    def __init__(self) -> None:
        self._stream = zlib.decompressobj()

    def decode(self, framebuffer: Pixels, rect: Rect, compressed: bytes) -> None:
        """Decode one rectangle's zlib data (the bytes after its 4-byte length)."""
        try:
            data = self._stream.decompress(compressed)
        except zlib.error as exc:
            raise RfbError(f"ZRLE zlib stream: {exc}") from exc
        tiles = _Tiles(data)
        target = region(framebuffer, rect)
        for ty in range(0, rect.height, TILE):
            th = min(TILE, rect.height - ty)
            for tx in range(0, rect.width, TILE):
                tw = min(TILE, rect.width - tx)
                target[ty : ty + th, tx : tx + tw] = _tile(tiles, tw, th)
        if tiles.pos != len(data):
            raise RfbError(f"ZRLE rectangle has {len(data) - tiles.pos} bytes after its tiles")


def _tile(tiles: _Tiles, width: int, height: int) -> Pixels:
    count = width * height
    kind = tiles.byte()
    if kind == _RAW:
        return from_bgr(tiles.take(count * 3)).reshape(height, width)
    if kind == _SOLID:
        return from_bgr(tiles.take(3))  # shape (1,): broadcast over the tile
    if kind <= _MAX_PACKED:
        palette = from_bgr(tiles.take(kind * 3))
        bits = _index_bits(kind)
        row_bytes = (width * bits + 7) // 8
        indices = unpack_indices(tiles.take(row_bytes * height), bits, width, height)
        return _lookup(palette, indices)
    if kind == _PLAIN_RLE:
        return _plain_rle(tiles, count).reshape(height, width)
    if kind >= _MIN_PALETTE_RLE:
        palette = from_bgr(tiles.take((kind - 128) * 3))
        return _lookup(palette, _palette_rle(tiles, count)).reshape(height, width)
    raise RfbError(f"unknown ZRLE subencoding {kind}")


def _lookup(palette: Pixels, indices: Bytes) -> Pixels:
    if indices.size and int(indices.max()) >= palette.size:
        raise RfbError(f"ZRLE palette index out of range (palette of {palette.size})")
    return palette[indices]


def _check_runs(total: int, count: int) -> None:
    if total > count:
        raise RfbError("a ZRLE run goes past the end of its tile")


def _plain_rle(tiles: _Tiles, count: int) -> Pixels:
    data = tiles.data
    values: list[int] = []
    runs: list[int] = []
    total = 0
    while total < count:
        start = tiles.pos
        if start + 3 > len(data):
            raise RfbError("ZRLE tile data is truncated")
        values.append(data[start] | data[start + 1] << 8 | data[start + 2] << 16 | 0xFF000000)
        tiles.pos = start + 3
        run = tiles.run_length()
        runs.append(run)
        total += run
    _check_runs(total, count)
    return np.repeat(np.array(values, dtype=np.uint32), runs)


def _palette_rle(tiles: _Tiles, count: int) -> Bytes:
    indices: list[int] = []
    runs: list[int] = []
    total = 0
    while total < count:
        value = tiles.byte()
        run = tiles.run_length() if value & 0x80 else 1
        indices.append(value & 0x7F)
        runs.append(run)
        total += run
    _check_runs(total, count)
    return np.repeat(np.array(indices, dtype=np.uint8), runs)
