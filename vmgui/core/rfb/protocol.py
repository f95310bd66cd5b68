"""The RFB 3.8 client state machine, sans I/O: bytes in, events and bytes out.

Feed whatever the socket delivered to :meth:`RfbClient.feed`; it returns the events that
became complete and queues the client's answers for :meth:`RfbClient.pending_output`. The
parser is one generator that yields how many bytes it needs next; :meth:`feed` hands it
exactly that many once they have arrived, so partial messages cost nothing and a large
rectangle is copied once.

Sequence: ProtocolVersion (3.8) → security (None, or VNC authentication with a password)
→ SecurityResult → ClientInit (shared) → ServerInit; the client then sends SetPixelFormat
(:data:`~vmgui.core.rfb.pixels.CLIENT_FORMAT`), SetEncodings and a full
FramebufferUpdateRequest. Later requests are the caller's (:meth:`RfbClient.request_update`),
one outstanding at a time (:attr:`RfbClient.update_requested`).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Generator, Iterable, Sequence

from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.des import vnc_auth_response
from vmgui.core.rfb.errors import RfbAuthError, RfbError
from vmgui.core.rfb.events import (
    Bell,
    Connected,
    DesktopResized,
    Event,
    FramebufferUpdated,
    ServerCutText,
)
from vmgui.core.rfb.pixels import CLIENT_FORMAT, PixelFormat, Pixels, Rect, check_inside
from vmgui.core.rfb.pixels import new_framebuffer as _new_framebuffer
from vmgui.core.rfb.raw import decode_raw, raw_size
from vmgui.core.rfb.tight import TightDecoder
from vmgui.core.rfb.zrle import ZrleDecoder

_Parser = Generator[int, bytes, None]

_VERSION_3_8 = b"RFB 003.008\n"
#: Longest reason / name / cut text accepted (a corrupt length must not allocate gigabytes).
_MAX_TEXT = 1 << 24


class State(enum.Enum):
    """Where the client is in the connection."""

    HANDSHAKE = "handshake"
    READY = "ready"
    FAILED = "failed"


class RfbClient:
    """One RFB connection's protocol state.

    Args:
        encodings: the encodings to ask for, most preferred first (qemu uses the first one
            it supports): :data:`~vmgui.core.rfb.messages.LOCAL_ENCODINGS` or
            :data:`~vmgui.core.rfb.messages.REMOTE_ENCODINGS`.
        password: the display's VNC password, if it has one.
        shared: ask the server to keep other clients connected.
    """

    def __init__(
        self,
        encodings: Sequence[int] = msg.LOCAL_ENCODINGS,
        *,
        password: str | None = None,
        shared: bool = True,
    ) -> None:
        self._encodings = tuple(encodings)
        self._password = password
        self._shared = shared
        self.state = State.HANDSHAKE
        self.name = ""
        self.framebuffer: Pixels = _new_framebuffer(0, 0)
        #: Whether a FramebufferUpdateRequest is outstanding (no update answered it yet).
        self.update_requested = False
        self._out = bytearray()
        self._in = bytearray()
        self._events: list[Event] = []
        self._tight = TightDecoder()
        self._zrle = ZrleDecoder()
        self._parser = self._run()
        self._need = next(self._parser)

    # -- I/O ----------------------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Framebuffer width (0 before ServerInit)."""
        return int(self.framebuffer.shape[1])

    @property
    def height(self) -> int:
        """Framebuffer height (0 before ServerInit)."""
        return int(self.framebuffer.shape[0])

    def feed(self, data: bytes) -> list[Event]:
        """Consume bytes received from the server; return the events they completed.

        Raises:
            RfbError: the stream is malformed or unsupported, or the server refused the
                connection (:class:`RfbAuthError`); the client is FAILED afterwards.
        """
        if self.state is State.FAILED:
            raise RfbError("the connection already failed")
        self._in += data
        pos = 0
        try:
            while len(self._in) - pos >= self._need:
                chunk = bytes(self._in[pos : pos + self._need])
                pos += self._need
                self._need = self._parser.send(chunk)
        except StopIteration:
            self.state = State.FAILED
            raise RfbError("the protocol parser stopped") from None
        except RfbError:
            self.state = State.FAILED
            raise
        except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
            self.state = State.FAILED
            raise RfbError(f"malformed RFB stream: {exc}") from exc
        finally:
            del self._in[:pos]
        events, self._events = self._events, []
        return events

    def pending_output(self) -> bytes:
        """The bytes to send to the server now (and forget them)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- client messages -------------------------------------------------------------------------

    def request_update(self, *, incremental: bool = True, rect: Rect | None = None) -> None:
        """Queue a FramebufferUpdateRequest (whole screen unless ``rect``)."""
        self._require_ready()
        self._out += msg.framebuffer_update_request(
            rect or Rect(0, 0, self.width, self.height), incremental=incremental
        )
        self.update_requested = True

    def key_event(self, keysym: int, *, down: bool) -> None:
        """Queue a KeyEvent."""
        self._require_ready()
        self._out += msg.key_event(keysym, down=down)

    def key_events(self, keys: Iterable[tuple[int, bool]]) -> None:
        """Queue (keysym, down) pairs in order (see :mod:`vmgui.core.rfb.keys`)."""
        for keysym, down in keys:
            self.key_event(keysym, down=down)

    def pointer_event(self, x: int, y: int, buttons: int = 0) -> None:
        """Queue a PointerEvent (``buttons``: the mask of pressed buttons)."""
        self._require_ready()
        self._out += msg.pointer_event(x, y, buttons)

    def client_cut_text(self, text: str) -> None:
        """Queue ClientCutText (the host's clipboard for the guest)."""
        self._require_ready()
        self._out += msg.client_cut_text(text)

    def _require_ready(self) -> None:
        if self.state is not State.READY:
            raise RfbError(f"the connection is not ready ({self.state.value})")

    # -- the parser -----------------------------------------------------------------------------

    def _run(self) -> _Parser:
        yield from self._handshake()
        while True:
            kind = (yield 1)[0]
            if kind == msg.FRAMEBUFFER_UPDATE:
                yield from self._framebuffer_update()
            elif kind == msg.BELL:
                self._events.append(Bell())
            elif kind == msg.SERVER_CUT_TEXT:
                (length,) = struct.unpack(">3xI", (yield 7))
                _check_length(length, "cut text")
                self._events.append(ServerCutText((yield length).decode("latin-1")))
            elif kind == msg.SET_COLOUR_MAP_ENTRIES:
                _first, count = struct.unpack(">xHH", (yield 5))
                yield count * 6  # true colour: a colour map does not apply
            else:
                raise RfbError(f"unknown server message type {kind}")

    def _handshake(self) -> _Parser:
        version = yield 12
        if not version.startswith(b"RFB ") or version[-1:] != b"\n":
            raise RfbError(f"not an RFB server (greeting {version!r})")
        try:
            major, minor = (int(part) for part in version[4:11].split(b"."))
        except ValueError:
            raise RfbError(f"not an RFB server (greeting {version!r})") from None
        if (major, minor) < (3, 8):
            raise RfbError(f"the server speaks RFB {major}.{minor}; vmgui needs 3.8")
        self._out += _VERSION_3_8
        count = (yield 1)[0]
        if count == 0:
            raise RfbAuthError((yield from _read_text("reason")) or "connection refused")
        offered = set((yield count))
        if msg.SECURITY_NONE in offered:
            self._out.append(msg.SECURITY_NONE)
        elif msg.SECURITY_VNC_AUTH in offered:
            if self._password is None:
                raise RfbAuthError(
                    "the display is protected by a VNC password", "Enter the display's password."
                )
            self._out.append(msg.SECURITY_VNC_AUTH)
            challenge = yield 16
            try:
                self._out += vnc_auth_response(challenge, self._password)
            except ValueError as exc:
                raise RfbAuthError(f"the password cannot be used: {exc}") from exc
        else:
            raise RfbAuthError(
                f"the server offers no supported security type (offered {sorted(offered)})"
            )
        (result,) = struct.unpack(">I", (yield 4))
        if result != 0:
            reason = yield from _read_text("reason")
            raise RfbAuthError(reason or "authentication failed")
        self._out.append(int(self._shared))
        width, height = struct.unpack(">HH", (yield 4))
        server_format = PixelFormat.unpack((yield 16))
        self.name = yield from _read_text("desktop name", "utf-8")
        self.framebuffer = _new_framebuffer(width, height)
        self.state = State.READY
        self._out += msg.set_pixel_format(CLIENT_FORMAT)
        self._out += msg.set_encodings(self._encodings)
        self.request_update(incremental=False)
        self._events.append(Connected(width, height, self.name, server_format))

    def _framebuffer_update(self) -> _Parser:
        (count,) = struct.unpack(">xH", (yield 3))
        self.update_requested = False
        damage: list[Rect] = []
        encodings: list[int] = []
        resized = False
        for _ in range(count):
            x, y, width, height, encoding = struct.unpack(">HHHHi", (yield 12))
            rect = Rect(x, y, width, height)
            if encoding == msg.LAST_RECT:
                break
            if encoding in (msg.DESKTOP_SIZE, msg.EXTENDED_DESKTOP_SIZE):
                if encoding == msg.EXTENDED_DESKTOP_SIZE:
                    (screens,) = struct.unpack(">B3x", (yield 4))
                    yield screens * 16
                # ExtendedDesktopSize status (y) != 0 refuses a client's request: no new size.
                if (encoding == msg.DESKTOP_SIZE or y == 0) and self._resize(width, height):
                    resized = True
                    damage.clear()  # earlier rectangles were painted into the old framebuffer
                    encodings.clear()
                continue
            check_inside(rect, self.framebuffer)
            if encoding == msg.RAW:
                decode_raw(self.framebuffer, rect, (yield raw_size(rect)))
            elif encoding == msg.TIGHT:
                yield from self._tight.read_rect(self.framebuffer, rect)
            elif encoding == msg.ZRLE:
                (length,) = struct.unpack(">I", (yield 4))
                self._zrle.decode(self.framebuffer, rect, (yield length))
            else:
                name = msg.ENCODING_NAMES.get(encoding, str(encoding))
                raise RfbError(f"the server sent encoding {name}, which was not asked for")
            damage.append(rect)
            encodings.append(encoding)
        if resized:
            # A new framebuffer: ask for all of it (qemu sends it anyway; others may not).
            self.request_update(incremental=False)
        self._events.append(FramebufferUpdated(tuple(damage), tuple(encodings)))

    def _resize(self, width: int, height: int) -> bool:
        if (width, height) == (self.width, self.height):
            return False
        self.framebuffer = _new_framebuffer(width, height)
        self._events.append(DesktopResized(width, height))
        return True


def _check_length(length: int, what: str) -> None:
    if length > _MAX_TEXT:
        raise RfbError(f"{what} of {length} bytes is implausibly long")


def _read_text(what: str, encoding: str = "latin-1") -> Generator[int, bytes, str]:
    (length,) = struct.unpack(">I", (yield 4))
    _check_length(length, what)
    return (yield length).decode(encoding, errors="replace")
