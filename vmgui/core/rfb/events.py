"""What :meth:`RfbClient.feed <vmgui.core.rfb.protocol.RfbClient.feed>` reports."""

from __future__ import annotations

from dataclasses import dataclass

from vmgui.core.rfb.pixels import PixelFormat, Rect


@dataclass(frozen=True, slots=True)
class Connected:
    """The handshake is done (ServerInit received); the framebuffer exists.

    Attributes:
        width: framebuffer width in pixels.
        height: framebuffer height in pixels.
        name: the desktop name the server announced.
        server_format: the server's own pixel format (the client has asked for its own).
    """

    width: int
    height: int
    name: str
    server_format: PixelFormat


@dataclass(frozen=True, slots=True)
class DesktopResized:
    """The framebuffer has a new size (a new, black array; full update follows)."""

    width: int
    height: int


@dataclass(frozen=True, slots=True)
class FramebufferUpdated:
    """One FramebufferUpdate was decoded into the framebuffer.

    Attributes:
        damage: the rectangles that changed (empty when the update held only pseudo-rects).
        encodings: the encoding of each damaged rectangle, in order.
    """

    damage: tuple[Rect, ...]
    encodings: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ServerCutText:
    """The guest's clipboard text (Latin-1 on the wire)."""

    text: str


@dataclass(frozen=True, slots=True)
class Bell:
    """The guest rang the bell."""


Event = Connected | DesktopResized | FramebufferUpdated | ServerCutText | Bell
