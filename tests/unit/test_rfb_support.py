"""The server side of RFB for the unit tests: handshakes and hand-built rectangles (no tests).

Every encoder here is written from RFC 6143 and the Tight/ZRLE descriptions, independently
of the decoders in ``vmgui.core.rfb``, with per-pixel Python loops where that is clearer.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.pixels import PixelFormat

Img = npt.NDArray[np.uint32]

#: qemu 7.2's own ServerInit format (32 bpp, depth 24, little-endian, red at 16).
SERVER_FORMAT = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)


def image(width: int, height: int, seed: int = 1, colours: int = 0) -> Img:
    """An opaque test image: random colours, or random picks from ``colours`` colours."""
    rng = np.random.default_rng(seed)
    if colours:
        palette = rng.integers(0, 1 << 24, colours, dtype=np.uint32) | np.uint32(0xFF000000)
        return palette[rng.integers(0, colours, (height, width))]
    return rng.integers(0, 1 << 24, (height, width), dtype=np.uint32) | np.uint32(0xFF000000)


def greeting(*, security: bytes = b"\x01\x01", version: bytes = b"RFB 003.008\n") -> bytes:
    """The server's first bytes: version and the security type list."""
    return version + security


def server_init(width: int, height: int, name: str = "tiny") -> bytes:
    """SecurityResult OK + ServerInit."""
    data = name.encode()
    return (
        struct.pack(">IHH", 0, width, height)
        + SERVER_FORMAT.pack()
        + struct.pack(">I", len(data))
        + data
    )


def handshake(width: int = 64, height: int = 48, name: str = "tiny") -> bytes:
    """A complete security-None handshake from the server."""
    return greeting() + server_init(width, height, name)


def update(*rects: bytes) -> bytes:
    """A FramebufferUpdate holding already encoded rectangles (header + body each)."""
    return struct.pack(">BxH", msg.FRAMEBUFFER_UPDATE, len(rects)) + b"".join(rects)


def header(x: int, y: int, width: int, height: int, encoding: int) -> bytes:
    """A rectangle header."""
    return struct.pack(">HHHHi", x, y, width, height, encoding)


def raw_rect(x: int, y: int, img: Img) -> bytes:
    """A Raw rectangle (X byte left 0, as qemu sends it)."""
    height, width = img.shape
    body = (img & np.uint32(0xFFFFFF)).astype("<u4").tobytes()
    return header(x, y, width, height, msg.RAW) + body


def rgb(pixel: int) -> bytes:
    """A Tight TPIXEL: R, G, B."""
    return bytes(((pixel >> 16) & 255, (pixel >> 8) & 255, pixel & 255))


def bgr(pixel: int) -> bytes:
    """A ZRLE CPIXEL: the low 3 bytes, little-endian (B, G, R)."""
    return bytes((pixel & 255, (pixel >> 8) & 255, (pixel >> 16) & 255))


def compact(length: int) -> bytes:
    """Tight's compact length."""
    out = [length & 0x7F]
    if length > 0x7F:
        out[0] |= 0x80
        out.append((length >> 7) & 0x7F)
        if length > 0x3FFF:
            out[1] |= 0x80
            out.append((length >> 14) & 0xFF)
    return bytes(out)


class TightEncoder:
    """Tight rectangles with four zlib streams, like a server keeps them."""

    def __init__(self) -> None:
        self.streams = [zlib.compressobj() for _ in range(4)]

    def _data(self, stream: int, raw: bytes) -> bytes:
        if len(raw) < 12:
            return raw
        z = self.streams[stream]
        comp = z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)
        return compact(len(comp)) + comp

    def reset(self, stream: int) -> None:
        """Start a stream afresh (the next rectangle must set its reset bit)."""
        self.streams[stream] = zlib.compressobj()

    def fill(self, x: int, y: int, width: int, height: int, pixel: int) -> bytes:
        """A fill rectangle."""
        return header(x, y, width, height, msg.TIGHT) + b"\x80" + rgb(pixel)

    def copy(self, x: int, y: int, img: Img, stream: int = 0, reset: int = 0) -> bytes:
        """Basic compression, copy filter (implicit)."""
        height, width = img.shape
        raw = b"".join(rgb(int(p)) for p in img.ravel())
        control = (stream << 4) | reset
        return header(x, y, width, height, msg.TIGHT) + bytes([control]) + self._data(stream, raw)

    def palette(self, x: int, y: int, img: Img, stream: int = 1) -> bytes:
        """Basic compression, palette filter (1 bit per pixel for 2 colours)."""
        height, width = img.shape
        colours = sorted({int(p) for p in img.ravel()})
        index = {c: i for i, c in enumerate(colours)}
        if len(colours) == 2:
            rows = []
            for row in img:
                bits = [index[int(p)] for p in row] + [0] * (-width % 8)
                rows.append(
                    bytes(
                        sum(bit << (7 - j) for j, bit in enumerate(bits[i : i + 8]))
                        for i in range(0, len(bits), 8)
                    )
                )
            raw = b"".join(rows)
        else:
            raw = bytes(index[int(p)] for p in img.ravel())
        head = bytes([(stream << 4) | 0x40, 1, len(colours) - 1]) + b"".join(map(rgb, colours))
        return header(x, y, width, height, msg.TIGHT) + head + self._data(stream, raw)

    def gradient(self, x: int, y: int, img: Img, stream: int = 2) -> bytes:
        """Basic compression, gradient filter (per-pixel reference encoder)."""
        height, width = img.shape
        comp = np.stack([(img >> 16) & 255, (img >> 8) & 255, img & 255], axis=-1).astype(np.int32)
        out = bytearray()
        for yy in range(height):
            for xx in range(width):
                for c in range(3):
                    left = comp[yy, xx - 1, c] if xx else 0
                    up = comp[yy - 1, xx, c] if yy else 0
                    up_left = comp[yy - 1, xx - 1, c] if xx and yy else 0
                    pred = min(max(left + up - up_left, 0), 255)
                    out.append((int(comp[yy, xx, c]) - pred) & 255)
        head = bytes([(stream << 4) | 0x40, 2])
        return header(x, y, width, height, msg.TIGHT) + head + self._data(stream, bytes(out))


class ZrleEncoder:
    """ZRLE rectangles whose tiles use the subencoding the test chooses."""

    def __init__(self) -> None:
        self.stream = zlib.compressobj()

    def rect(self, x: int, y: int, width: int, height: int, tiles: list[bytes]) -> bytes:
        """A ZRLE rectangle from encoded tiles (left to right, top to bottom)."""
        raw = b"".join(tiles)
        comp = self.stream.compress(raw) + self.stream.flush(zlib.Z_SYNC_FLUSH)
        return header(x, y, width, height, msg.ZRLE) + struct.pack(">I", len(comp)) + comp


def run_length(length: int) -> bytes:
    """A ZRLE run length (length - 1 as bytes of 255 and a final byte < 255)."""
    rest = length - 1
    return b"\xff" * (rest // 255) + bytes([rest % 255])


def zrle_raw(tile: Img) -> bytes:
    """Subencoding 0."""
    return b"\x00" + b"".join(bgr(int(p)) for p in tile.ravel())


def zrle_solid(pixel: int) -> bytes:
    """Subencoding 1."""
    return b"\x01" + bgr(pixel)


def zrle_packed(tile: Img) -> bytes:
    """Subencodings 2-16: palette and packed indices (1, 2 or 4 bits, rows padded)."""
    colours = sorted({int(p) for p in tile.ravel()})
    bits = 1 if len(colours) == 2 else 2 if len(colours) <= 4 else 4
    index = {c: i for i, c in enumerate(colours)}
    out = bytearray([len(colours)]) + b"".join(map(bgr, colours))
    for row in tile:
        acc, nbits = 0, 0
        for p in row:
            acc = (acc << bits) | index[int(p)]
            nbits += bits
            if nbits == 8:
                out.append(acc)
                acc, nbits = 0, 0
        if nbits:
            out.append(acc << (8 - nbits))
    return bytes(out)


def _runs(tile: Img) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for p in tile.ravel():
        if runs and runs[-1][0] == int(p):
            runs[-1] = (int(p), runs[-1][1] + 1)
        else:
            runs.append((int(p), 1))
    return runs


def zrle_plain_rle(tile: Img) -> bytes:
    """Subencoding 128."""
    return b"\x80" + b"".join(bgr(p) + run_length(n) for p, n in _runs(tile))


def zrle_palette_rle(tile: Img) -> bytes:
    """Subencodings 130-255 (runs of 1 as a single index byte)."""
    colours = sorted({int(p) for p in tile.ravel()})
    index = {c: i for i, c in enumerate(colours)}
    out = bytearray([128 + len(colours)]) + b"".join(map(bgr, colours))
    for p, n in _runs(tile):
        if n == 1:
            out.append(index[p])
        else:
            out += bytes([index[p] | 0x80]) + run_length(n)
    return bytes(out)
