"""Pixel formats, rectangles and the framebuffer's pixel layout.

The client always asks for one format (:data:`CLIENT_FORMAT`): 32 bits per pixel, depth 24,
little-endian true colour with red at bit 16, green at 8, blue at 0. In memory each pixel is
B, G, R, X — a ``uint32`` array of shape (height, width) wraps as ``QImage.Format_RGB32``
without conversion. The client keeps X at 0xFF (RGB32 means 0xffRRGGBB).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vmgui.core.rfb.errors import RfbError

Pixels = npt.NDArray[np.uint32]
Bytes = npt.NDArray[np.uint8]

#: The X byte of every framebuffer pixel (opaque for ``QImage.Format_RGB32``).
OPAQUE = np.uint32(0xFF000000)

_PIXEL_FORMAT = struct.Struct(">BBBBHHHBBB3x")


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """An RFB PIXEL_FORMAT (16 bytes on the wire)."""

    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int

    def pack(self) -> bytes:
        """The 16 bytes of this format."""
        return _PIXEL_FORMAT.pack(
            self.bits_per_pixel,
            self.depth,
            int(self.big_endian),
            int(self.true_colour),
            self.red_max,
            self.green_max,
            self.blue_max,
            self.red_shift,
            self.green_shift,
            self.blue_shift,
        )

    @classmethod
    def unpack(cls, data: bytes) -> PixelFormat:
        """Parse 16 bytes (raises RfbError when they are not 16)."""
        if len(data) != _PIXEL_FORMAT.size:
            raise RfbError(f"a pixel format is 16 bytes, got {len(data)}")
        bpp, depth, big, true, rmax, gmax, bmax, rsh, gsh, bsh = _PIXEL_FORMAT.unpack(data)
        return cls(bpp, depth, bool(big), bool(true), rmax, gmax, bmax, rsh, gsh, bsh)


#: The format the client sets: B, G, R, X bytes in memory.
CLIENT_FORMAT = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle of the framebuffer, in pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        """The number of pixels."""
        return self.width * self.height


def new_framebuffer(width: int, height: int) -> Pixels:
    """A black framebuffer (every pixel 0xFF000000)."""
    return np.full((height, width), OPAQUE, dtype=np.uint32)


def as_bytes(data: bytes, size: int, what: str) -> Bytes:
    """``data`` as a uint8 array, checked to hold exactly ``size`` bytes."""
    if len(data) != size:
        raise RfbError(f"{what}: expected {size} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=np.uint8)


def from_bgr(data: Bytes) -> Pixels:
    """Pixels from packed B, G, R byte triples (ZRLE CPIXELs: the low 3 bytes)."""
    count = data.size // 3
    out = np.empty((count, 4), dtype=np.uint8)
    out[:, :3] = data[: count * 3].reshape(count, 3)
    out[:, 3] = 0xFF
    return out.view(np.uint32).reshape(count)


def from_rgb(data: Bytes) -> Pixels:
    """Pixels from packed R, G, B byte triples (Tight TPIXELs)."""
    count = data.size // 3
    out = np.empty((count, 4), dtype=np.uint8)
    out[:, :3] = data[: count * 3].reshape(count, 3)[:, ::-1]
    out[:, 3] = 0xFF
    return out.view(np.uint32).reshape(count)


def check_inside(rect: Rect, framebuffer: Pixels) -> None:
    """Raise RfbError unless ``rect`` lies inside the framebuffer."""
    height, width = framebuffer.shape
    if rect.x + rect.width > width or rect.y + rect.height > height:
        raise RfbError(
            f"rectangle {rect.width}x{rect.height}+{rect.x}+{rect.y} "
            f"is outside the {width}x{height} framebuffer"
        )


def region(framebuffer: Pixels, rect: Rect) -> Pixels:
    """The writable view of ``rect`` in the framebuffer."""
    return framebuffer[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]
