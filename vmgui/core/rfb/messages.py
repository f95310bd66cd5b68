"""RFB constants and the client-to-server messages, packed to bytes (RFC 6143)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from vmgui.core.rfb.pixels import PixelFormat, Rect

# Encodings (the ones the client decodes) and pseudo-encodings.
RAW = 0
TIGHT = 7
ZRLE = 16
DESKTOP_SIZE = -223
LAST_RECT = -224
EXTENDED_DESKTOP_SIZE = -308

#: Encoding names, for logs and errors.
ENCODING_NAMES = {
    RAW: "Raw",
    TIGHT: "Tight",
    ZRLE: "ZRLE",
    DESKTOP_SIZE: "DesktopSize",
    LAST_RECT: "LastRect",
    EXTENDED_DESKTOP_SIZE: "ExtendedDesktopSize",
}

_PSEUDO = (EXTENDED_DESKTOP_SIZE, DESKTOP_SIZE, LAST_RECT)

#: A local Unix socket: Raw costs the least CPU (qemu uses the first encoding it supports).
LOCAL_ENCODINGS: tuple[int, ...] = (RAW, *_PSEUDO)
#: Through a tunnel or TCP: compress (Tight, then ZRLE), Raw as the last resort.
REMOTE_ENCODINGS: tuple[int, ...] = (TIGHT, ZRLE, RAW, *_PSEUDO)

# Security types.
SECURITY_INVALID = 0
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2

# Server-to-client message types.
FRAMEBUFFER_UPDATE = 0
SET_COLOUR_MAP_ENTRIES = 1
BELL = 2
SERVER_CUT_TEXT = 3

# Client-to-server message types.
_SET_PIXEL_FORMAT = 0
_SET_ENCODINGS = 2
_FRAMEBUFFER_UPDATE_REQUEST = 3
_KEY_EVENT = 4
_POINTER_EVENT = 5
_CLIENT_CUT_TEXT = 6

#: Pointer button mask bits.
BUTTON_LEFT = 1
BUTTON_MIDDLE = 2
BUTTON_RIGHT = 4
WHEEL_UP = 8
WHEEL_DOWN = 16
WHEEL_LEFT = 32
WHEEL_RIGHT = 64


def set_pixel_format(pixel_format: PixelFormat) -> bytes:
    """SetPixelFormat."""
    return struct.pack(">B3x", _SET_PIXEL_FORMAT) + pixel_format.pack()


def set_encodings(encodings: Sequence[int]) -> bytes:
    """SetEncodings, in order of preference."""
    return struct.pack(f">BxH{len(encodings)}i", _SET_ENCODINGS, len(encodings), *encodings)


def framebuffer_update_request(rect: Rect, *, incremental: bool) -> bytes:
    """FramebufferUpdateRequest for ``rect``."""
    return struct.pack(
        ">BBHHHH",
        _FRAMEBUFFER_UPDATE_REQUEST,
        int(incremental),
        rect.x,
        rect.y,
        rect.width,
        rect.height,
    )


def key_event(keysym: int, *, down: bool) -> bytes:
    """KeyEvent for an X keysym."""
    return struct.pack(">BBxxI", _KEY_EVENT, int(down), keysym)


def pointer_event(x: int, y: int, buttons: int) -> bytes:
    """PointerEvent; coordinates are clamped to 0..65535."""
    return struct.pack(
        ">BBHH", _POINTER_EVENT, buttons & 0xFF, min(max(x, 0), 0xFFFF), min(max(y, 0), 0xFFFF)
    )


def client_cut_text(text: str) -> bytes:
    """ClientCutText: Latin-1 text (other characters become '?'), newlines as LF."""
    data = text.replace("\r\n", "\n").encode("latin-1", errors="replace")
    return struct.pack(">B3xI", _CLIENT_CUT_TEXT, len(data)) + data
