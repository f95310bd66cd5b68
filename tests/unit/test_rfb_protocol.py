"""The RFB state machine: handshake, security, messages, resize, malformed streams."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.unit import test_rfb_support as srv
from vmgui.core.errors import VmguiError
from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.des import des_encrypt_block, vnc_auth_response
from vmgui.core.rfb.errors import RfbAuthError, RfbError
from vmgui.core.rfb.events import (
    Bell,
    Connected,
    DesktopResized,
    FramebufferUpdated,
    ServerCutText,
)
from vmgui.core.rfb.pixels import CLIENT_FORMAT, Rect
from vmgui.core.rfb.protocol import RfbClient, State


def connected(width: int = 64, height: int = 48, **kwargs: object) -> RfbClient:
    client = RfbClient(**kwargs)  # type: ignore[arg-type]  # test-only pass-through
    client.feed(srv.handshake(width, height))
    client.pending_output()
    return client


# -- DES and VNC authentication ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "plain", "cipher"),
    [
        ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),  # the textbook example
        ("0E329232EA6D0D73", "8787878787878787", "0000000000000000"),
        ("0101010101010101", "95F8A5E5DD31D900", "8000000000000000"),  # NBS SP 500-20
    ],
)
def test_des_matches_the_published_vectors(key: str, plain: str, cipher: str) -> None:
    assert des_encrypt_block(bytes.fromhex(key), bytes.fromhex(plain)).hex() == cipher.lower()


def test_vnc_auth_response_matches_openssl() -> None:
    # openssl enc -des-ecb -nopad -K <password bytes with their bits mirrored> (legacy provider)
    challenge = bytes(range(16))
    assert vnc_auth_response(challenge, "secret12").hex() == "adcd997f8e16fee575e973f93c2b62b4"
    # short passwords are zero padded; only the first 8 characters count
    other = bytes.fromhex("ffeeddccbbaa99887766554433221100")
    assert vnc_auth_response(other, "pw").hex() == "6284e44d7d6a0f2a1650914febb2bfee"
    assert vnc_auth_response(challenge, "secret12-and-more") == vnc_auth_response(
        challenge, "secret12"
    )


# -- handshake -------------------------------------------------------------------------------


def test_security_none_handshake_byte_by_byte() -> None:
    client = RfbClient(msg.REMOTE_ENCODINGS)
    events = []
    for byte in srv.handshake(720, 400, "vmgui-rfb-1"):
        events += client.feed(bytes([byte]))
    assert events == [Connected(720, 400, "vmgui-rfb-1", srv.SERVER_FORMAT)]
    assert client.state is State.READY
    assert client.framebuffer.shape == (400, 720)
    assert client.framebuffer.dtype == np.uint32
    out = client.pending_output()
    expected = (
        b"RFB 003.008\n"
        + b"\x01"  # security None
        + b"\x01"  # ClientInit: shared
        + b"\x00\x00\x00\x00"
        + CLIENT_FORMAT.pack()
        + struct.pack(">BxH6i", 2, 6, 7, 16, 0, -308, -223, -224)
        + struct.pack(">BBHHHH", 3, 0, 0, 0, 720, 400)
    )
    assert out == expected
    assert client.update_requested
    assert client.pending_output() == b""


def test_client_pixel_format_is_bgrx_little_endian() -> None:
    assert CLIENT_FORMAT.pack() == bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])


def test_vnc_authentication() -> None:
    client = RfbClient(password="secret12")
    client.feed(srv.greeting(security=b"\x01\x02"))
    assert client.pending_output() == b"RFB 003.008\n\x02"
    client.feed(bytes(range(16)))
    assert client.pending_output().hex() == "adcd997f8e16fee575e973f93c2b62b4"
    events = client.feed(srv.server_init(32, 16))
    assert isinstance(events[0], Connected)


def test_none_is_preferred_over_vnc_auth() -> None:
    client = RfbClient(password="x")
    client.feed(srv.greeting(security=b"\x02\x02\x01"))
    assert client.pending_output() == b"RFB 003.008\n\x01"


def test_vnc_auth_without_a_password_asks_for_one() -> None:
    client = RfbClient()
    with pytest.raises(RfbAuthError, match="VNC password") as info:
        client.feed(srv.greeting(security=b"\x01\x02"))
    assert info.value.hint == "Enter the display's password."
    assert client.state is State.FAILED


def test_security_result_failure_carries_the_reason() -> None:
    client = RfbClient(password="wrong")
    client.feed(srv.greeting(security=b"\x01\x02") + bytes(16))
    reason = b"Authentication failed"
    with pytest.raises(RfbAuthError) as info:
        client.feed(struct.pack(">II", 1, len(reason)) + reason)
    assert info.value.details == "Authentication failed"
    assert isinstance(info.value, VmguiError)


def test_no_security_types_carries_the_reason() -> None:
    reason = b"Too many security failures"
    with pytest.raises(RfbAuthError, match="Too many security failures"):
        RfbClient().feed(srv.greeting(security=b"\x00" + struct.pack(">I", len(reason)) + reason))


def test_unsupported_security_types() -> None:
    with pytest.raises(RfbAuthError, match="no supported security type"):
        RfbClient().feed(srv.greeting(security=b"\x02\x10\x13"))


@pytest.mark.parametrize(
    ("greeting", "match"),
    [
        (b"SSH-2.0-Open\n", "not an RFB server"),
        (b"RFB 003.00x\n", "not an RFB server"),
        (b"RFB 003.003\n", "needs 3.8"),
    ],
)
def test_bad_greetings(greeting: bytes, match: str) -> None:
    with pytest.raises(RfbError, match=match):
        RfbClient().feed(greeting)


def test_a_newer_server_is_answered_with_3_8() -> None:
    client = RfbClient()
    client.feed(b"RFB 003.889\n")
    assert client.pending_output() == b"RFB 003.008\n"


# -- messages --------------------------------------------------------------------------------


def test_input_messages() -> None:
    client = connected()
    client.key_event(0xFFE1, down=True)
    client.pointer_event(700, -5, msg.BUTTON_LEFT | msg.WHEEL_UP)
    client.client_cut_text("héllo\r\nwörld €")
    client.request_update(incremental=True, rect=Rect(1, 2, 3, 4))
    assert client.pending_output() == (
        bytes([4, 1, 0, 0, 0, 0, 0xFF, 0xE1])
        + bytes([5, 9]) + struct.pack(">HH", 700, 0)
        + bytes([6, 0, 0, 0]) + struct.pack(">I", 13) + "héllo\nwörld ?".encode("latin-1")
        + bytes([3, 1]) + struct.pack(">HHHH", 1, 2, 3, 4)
    )  # fmt: skip


def test_input_before_the_handshake_is_refused() -> None:
    with pytest.raises(RfbError, match="not ready"):
        RfbClient().key_event(0x61, down=True)


def test_server_cut_text_bell_and_colour_map() -> None:
    client = connected()
    text = "Grüße".encode("latin-1")
    events = client.feed(
        b"\x02"
        + struct.pack(">B3xI", 3, len(text))
        + text
        + struct.pack(">BxHH", 1, 0, 2)
        + bytes(12)  # SetColourMapEntries: skipped
        + b"\x02"
    )
    assert events == [Bell(), ServerCutText("Grüße"), Bell()]


def test_desktop_size_replaces_the_framebuffer_and_asks_for_all_of_it() -> None:
    client = connected(640, 480)
    client.feed(srv.update())
    assert not client.update_requested
    before = client.framebuffer
    img = srv.image(720, 400)
    events = client.feed(
        srv.update(srv.header(0, 0, 720, 400, msg.DESKTOP_SIZE), srv.raw_rect(0, 0, img))
    )
    assert events == [
        DesktopResized(720, 400),
        FramebufferUpdated((Rect(0, 0, 720, 400),), (msg.RAW,)),
    ]
    assert client.framebuffer is not before
    assert client.framebuffer.shape == (400, 720)
    assert np.array_equal(client.framebuffer, img)
    assert client.pending_output() == struct.pack(">BBHHHH", 3, 0, 0, 0, 720, 400)
    # the same size again is no resize
    assert client.feed(srv.update(srv.header(0, 0, 720, 400, msg.DESKTOP_SIZE))) == [
        FramebufferUpdated((), ())
    ]


def test_extended_desktop_size() -> None:
    client = connected(640, 480)
    screen = struct.pack(">IHHHHI", 0, 0, 0, 1024, 768, 0)
    body = struct.pack(">B3x", 1) + screen
    events = client.feed(srv.update(srv.header(0, 0, 1024, 768, msg.EXTENDED_DESKTOP_SIZE) + body))
    assert events[0] == DesktopResized(1024, 768)
    # status (y) != 0: the server refused a client request; the size stays
    events = client.feed(srv.update(srv.header(1, 3, 800, 600, msg.EXTENDED_DESKTOP_SIZE) + body))
    assert events == [FramebufferUpdated((), ())]
    assert client.framebuffer.shape == (768, 1024)


def test_last_rect_ends_an_update() -> None:
    client = connected(8, 8)
    img = srv.image(2, 2)
    events = client.feed(
        struct.pack(">BxH", 0, 0xFFFF)
        + srv.raw_rect(1, 1, img)
        + srv.header(0, 0, 0, 0, msg.LAST_RECT)
        + b"\x02"
    )
    assert events == [FramebufferUpdated((Rect(1, 1, 2, 2),), (msg.RAW,)), Bell()]


def test_raw_update_split_anywhere_decodes_the_same() -> None:
    img = srv.image(33, 17, seed=5)
    stream = srv.update(srv.raw_rect(3, 4, img), srv.raw_rect(0, 0, img[:2, :5]))
    client = connected(40, 30)
    rng = np.random.default_rng(3)
    events = []
    pos = 0
    while pos < len(stream):
        step = int(rng.integers(1, 200))
        events += client.feed(stream[pos : pos + step])
        pos += step
    assert events == [FramebufferUpdated((Rect(3, 4, 33, 17), Rect(0, 0, 5, 2)), (0, 0))]
    expected = np.full((30, 40), 0xFF000000, dtype=np.uint32)
    expected[4:21, 3:36] = img
    expected[:2, :5] = img[:2, :5]
    assert np.array_equal(client.framebuffer, expected)


# -- malformed streams ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x07", "unknown server message type 7"),
        (srv.update(srv.header(60, 0, 8, 8, msg.RAW)), "outside the 64x48 framebuffer"),
        (srv.update(srv.header(0, 0, 8, 8, 5)), "encoding 5, which was not asked for"),
        (struct.pack(">B3xI", 3, 1 << 30), "implausibly long"),
        (srv.update(srv.header(0, 0, 4, 4, msg.TIGHT) + b"\x90"), "JPEG"),
        (srv.update(srv.header(0, 0, 4, 4, msg.TIGHT) + b"\xb0"), "compression type 0xb"),
        (srv.update(srv.header(0, 0, 4, 4, msg.TIGHT) + b"\x40\x07"), "unknown Tight filter 7"),
        (srv.update(srv.header(0, 0, 4, 4, msg.ZRLE) + b"\0\0\0\4junk"), "ZRLE zlib stream"),
    ],
)
def test_malformed_streams_raise_rfb_error(data: bytes, match: str) -> None:
    client = connected()
    with pytest.raises(RfbError, match=match):
        client.feed(data)
    assert client.state is State.FAILED
    with pytest.raises(RfbError, match="already failed"):
        client.feed(b"\x02")
