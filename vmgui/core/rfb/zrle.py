"""The ZRLE encoding: zlib-compressed 64x64 tiles (raw, solid, packed palette, RLE).

One zlib stream lasts the whole connection. CPIXELs are the low 3 bytes of the client's
pixel (B, G, R). Tiles are decoded with numpy (a loop over tiles, never over pixels); the two
run-length subencodings loop over runs, collecting them for one ``np.repeat``.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

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
    """Palette RLE without a loop over runs.

    A byte is an index (high bit: a run length follows) or a run-length byte (255: more
    follow). Which one it is depends on the bytes before it, but only through a two-state
    machine whose step is "go to 0" for bytes < 128, "go to 1" for 255 and "toggle" for
    128..254: so the state after any byte is the state set by the last non-toggling byte,
    flipped once per toggling byte since — a running maximum and a cumulative sum. A tile
    takes at most ``count`` bytes (no token is longer than the pixels it paints); windows of
    growing size keep the work near the tile's real length.
    """
    available = len(tiles.data) - tiles.pos
    size = min(512, count)
    while True:
        window = tiles.array[tiles.pos : tiles.pos + min(size, available)].astype(np.int32)
        result = _palette_rle_window(window, count, final=size >= count or size >= available)
        if result is not None:
            used, indices = result
            tiles.pos += used
            return indices
        size *= 4


def _palette_rle_window(
    window: npt.NDArray[np.int32], count: int, *, final: bool
) -> tuple[int, Bytes] | None:
    size = window.size
    if size == 0:
        raise RfbError("ZRLE tile data is truncated")
    positions = np.arange(size)
    toggles = (window >= 128) & (window < 255)
    last_set = np.maximum.accumulate(np.where(toggles, -1, positions))
    flips: npt.NDArray[np.int64] = np.cumsum(toggles, dtype=np.int64)
    known = last_set >= 0
    anchor = np.maximum(last_set, 0)
    since: npt.NDArray[np.int64] = flips - np.where(known, flips[anchor], 0)
    state_after = (known & (window[anchor] == 255)) ^ (since & 1).astype(bool)
    is_index = np.empty(size, dtype=bool)
    is_index[0] = True
    is_index[1:] = ~state_after[:-1]
    starts = np.flatnonzero(is_index)
    lengths = ~is_index
    token = np.cumsum(is_index) - 1
    runs = 1 + np.bincount(token[lengths], weights=window[lengths], minlength=starts.size)
    ends = np.cumsum(runs.astype(np.int64))
    last = int(np.searchsorted(ends, count))
    if last >= starts.size or (last + 1 == starts.size and state_after[-1]):
        if final:
            raise RfbError("ZRLE tile data is truncated")
        return None  # the tile goes on past this window
    if ends[last] != count:
        raise RfbError("a ZRLE run goes past the end of its tile")
    used = int(starts[last + 1]) if last + 1 < starts.size else size
    indices = (window[starts[: last + 1]] & 0x7F).astype(np.uint8)
    return used, np.repeat(indices, runs[: last + 1].astype(np.int64))
