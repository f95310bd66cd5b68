"""Raw, Tight and ZRLE decoders on hand-built rectangles (edge cases and malformed data)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from tests.unit import test_rfb_support as srv
from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.errors import RfbError
from vmgui.core.rfb.events import FramebufferUpdated
from vmgui.core.rfb.pixels import Rect
from vmgui.core.rfb.protocol import RfbClient
from vmgui.core.rfb.tight import gradient_unfilter

W, H = 200, 150


def client_for(*encodings: int) -> RfbClient:
    client = RfbClient(encodings or msg.REMOTE_ENCODINGS)
    client.feed(srv.handshake(W, H))
    return client


def painted(client: RfbClient, x: int, y: int, img: srv.Img) -> None:
    h, w = img.shape
    assert np.array_equal(client.framebuffer[y : y + h, x : x + w], img)


def test_raw_sets_the_x_byte_and_leaves_the_rest() -> None:
    client = client_for()
    img = srv.image(17, 9)
    events = client.feed(srv.update(srv.raw_rect(5, 6, img)))
    assert events == [FramebufferUpdated((Rect(5, 6, 17, 9),), (msg.RAW,))]
    painted(client, 5, 6, img)
    fb = client.framebuffer.view(np.uint8).reshape(H, W, 4)
    assert (fb[..., 3] == 0xFF).all()  # B, G, R, X with X opaque (QImage.Format_RGB32)
    assert (client.framebuffer[:6] == 0xFF000000).all()


# -- Tight ------------------------------------------------------------------------------------


def test_tight_fill() -> None:
    client = client_for()
    enc = srv.TightEncoder()
    client.feed(srv.update(enc.fill(10, 20, 30, 40, 0xFF123456)))
    assert (client.framebuffer[20:60, 10:40] == 0xFF123456).all()
    assert client.framebuffer[19, 10] == 0xFF000000


@pytest.mark.parametrize(("width", "height"), [(13, 7), (64, 3), (1, 1), (2, 2), (9, 30)])
def test_tight_mono_palette_rows_padded(width: int, height: int) -> None:
    client = client_for()
    img = srv.image(width, height, seed=width, colours=2)
    if len(np.unique(img)) < 2:
        img[0, 0] = 0xFF0000FF
    client.feed(srv.update(srv.TightEncoder().palette(3, 4, img)))
    painted(client, 3, 4, img)


def test_tight_palette_and_copy_share_streams_across_rectangles() -> None:
    client = client_for()
    enc = srv.TightEncoder()
    a, b, c = srv.image(40, 30, 1, colours=7), srv.image(50, 20, 2, colours=200), srv.image(31, 9)
    client.feed(srv.update(enc.palette(0, 0, a), enc.copy(60, 0, c, stream=0)))
    client.feed(srv.update(enc.palette(100, 100, b), enc.copy(0, 100, c[::-1], stream=0)))
    painted(client, 0, 0, a)
    painted(client, 100, 100, b)
    painted(client, 60, 0, c)
    painted(client, 0, 100, c[::-1])


def test_tight_stream_reset_bits() -> None:
    client = client_for()
    enc = srv.TightEncoder()
    img = srv.image(20, 20, 4)
    client.feed(srv.update(enc.copy(0, 0, img, stream=3)))
    enc.reset(3)
    client.feed(srv.update(enc.copy(20, 20, img, stream=3, reset=0b1000)))
    painted(client, 20, 20, img)


def test_tight_data_below_12_bytes_is_not_compressed() -> None:
    client = client_for()
    img = srv.image(3, 1, 9)  # 9 bytes of TPIXELs
    rect = srv.TightEncoder().copy(0, 0, img)
    assert len(rect) == 12 + 1 + 9
    client.feed(srv.update(rect))
    painted(client, 0, 0, img)


def test_tight_compact_length_of_three_bytes() -> None:
    assert srv.compact(20000) == bytes([0xA0, 0x9C, 0x01])
    client = client_for()
    img = srv.image(190, 140, 6)  # random: zlib output > 16 KiB
    client.feed(srv.update(srv.TightEncoder().copy(0, 0, img)))
    painted(client, 0, 0, img)


def test_tight_gradient_filter_matches_a_per_pixel_reference() -> None:
    client = client_for()
    yy, xx = np.mgrid[0:37, 0:23]
    smooth = (
        np.uint32(0xFF000000) | (xx * 11 % 256) << 16 | (yy * 7 % 256) << 8 | ((xx + yy) * 3 % 256)
    ).astype(np.uint32)
    noisy = srv.image(23, 37, 8)
    enc = srv.TightEncoder()
    client.feed(srv.update(enc.gradient(0, 0, smooth), enc.gradient(50, 50, noisy)))
    painted(client, 0, 0, smooth)
    painted(client, 50, 50, noisy)


def test_gradient_unfilter_of_one_pixel_and_one_row() -> None:
    assert gradient_unfilter(np.array([[[1, 2, 3]]], dtype=np.uint8)).tolist() == [[[1, 2, 3]]]
    row = np.array([[[10, 0, 250], [5, 1, 10]]], dtype=np.uint8)
    assert gradient_unfilter(row).tolist() == [[[10, 0, 250], [15, 1, 4]]]


def test_tight_palette_index_out_of_range() -> None:
    client = client_for()
    body = bytes([0x40, 1, 2]) + srv.rgb(1) + srv.rgb(2) + srv.rgb(3) + bytes([0, 1, 2, 3])
    with pytest.raises(RfbError, match="palette index out of range"):
        client.feed(srv.update(srv.header(0, 0, 2, 2, msg.TIGHT) + body))


def test_tight_wrong_decompressed_size() -> None:
    client = client_for()
    z = zlib.compressobj()
    comp = z.compress(bytes(20)) + z.flush(2)
    body = b"\x00" + srv.compact(len(comp)) + comp
    with pytest.raises(RfbError, match="expected 48 bytes, got 20"):
        client.feed(srv.update(srv.header(0, 0, 4, 4, msg.TIGHT) + body))


# -- ZRLE ------------------------------------------------------------------------------------


def test_zrle_tiles_cover_partial_edges() -> None:
    """A 130x70 rectangle is 3x2 tiles: 64, 64, 2 wide and 64, 6 high."""
    client = client_for()
    img = srv.image(130, 70, 11)
    tiles = [srv.zrle_raw(img[ty : ty + 64, tx : tx + 64]) for ty in (0, 64) for tx in (0, 64, 128)]
    client.feed(srv.update(srv.ZrleEncoder().rect(7, 3, 130, 70, tiles)))
    painted(client, 7, 3, img)


@pytest.mark.parametrize(("colours", "width"), [(2, 13), (3, 7), (4, 64), (5, 3), (16, 61)])
def test_zrle_packed_palette(colours: int, width: int) -> None:
    client = client_for()
    img = srv.image(width, 9, seed=colours, colours=colours)
    client.feed(srv.update(srv.ZrleEncoder().rect(0, 0, width, 9, [srv.zrle_packed(img)])))
    painted(client, 0, 0, img)


def test_zrle_solid_and_rle_tiles() -> None:
    client = client_for()
    enc = srv.ZrleEncoder()
    stripes = np.repeat(srv.image(1, 64 * 64 // 300 + 1, 3, colours=5).ravel(), 300)[: 64 * 64]
    stripes = stripes.reshape(64, 64)  # runs of 300: run lengths with a 255 continuation byte
    few = srv.image(64, 64, 4, colours=3)
    tiles = [srv.zrle_solid(0xFFABCDEF), srv.zrle_plain_rle(stripes), srv.zrle_palette_rle(few)]
    client.feed(srv.update(enc.rect(0, 0, 192, 64, tiles)))
    assert (client.framebuffer[:64, :64] == 0xFFABCDEF).all()
    painted(client, 64, 0, stripes)
    painted(client, 128, 0, few)
    # the zlib stream lasts across rectangles
    client.feed(srv.update(enc.rect(0, 64, 64, 64, [srv.zrle_plain_rle(few)])))
    painted(client, 0, 64, few)


def test_zrle_run_length_encoding_examples() -> None:
    assert srv.run_length(1) == b"\x00"
    assert srv.run_length(255) == b"\xfe"
    assert srv.run_length(256) == b"\xff\x00"
    assert srv.run_length(511) == b"\xff\xff\x00"


def _zrle_error(tile: bytes, width: int = 4, height: int = 4) -> None:
    client = client_for()
    client.feed(srv.update(srv.ZrleEncoder().rect(0, 0, width, height, [tile])))


@pytest.mark.parametrize(
    ("tile", "match"),
    [
        (b"\x11", "unknown ZRLE subencoding 17"),
        (b"\x81", "unknown ZRLE subencoding 129"),
        (b"\x00" + bytes(10), "truncated"),
        (b"\x80" + srv.bgr(1) + srv.run_length(17), "past the end of its tile"),
        (b"\x82" + srv.bgr(1) + srv.bgr(2) + b"\x05" * 16, "index out of range"),
        (b"\x02" + srv.bgr(1) + srv.bgr(2) + b"\xff" * 4 + b"extra", "bytes after its tiles"),
        (b"\x82" + srv.bgr(1) + srv.bgr(2) + b"\x81", "truncated"),
    ],
)
def test_malformed_zrle(tile: bytes, match: str) -> None:
    with pytest.raises(RfbError, match=match):
        _zrle_error(tile)


def test_zrle_rectangle_length_is_honoured_across_feeds() -> None:
    client = client_for()
    img = srv.image(64, 64, 2, colours=4)
    data = srv.update(srv.ZrleEncoder().rect(0, 0, 64, 64, [srv.zrle_packed(img)]))
    assert client.feed(data[:20]) == []
    (length,) = struct.unpack(">I", data[16:20])
    assert client.feed(data[20:-1]) == []
    assert client.feed(data[-1:]) == [FramebufferUpdated((Rect(0, 0, 64, 64),), (msg.ZRLE,))]
    assert length == len(data) - 20
    painted(client, 0, 0, img)


@pytest.mark.parametrize("seed", range(6))
def test_zrle_palette_rle_random_tiles(seed: int) -> None:
    """Runs of every length (incl. 255-continued ones) and palettes up to 127 colours, so
    run-length bytes of every value (< 128, 128..254, 255) follow each other."""
    rng = np.random.default_rng(seed)
    colours = int(rng.integers(2, 128))
    palette = srv.image(colours, 1, seed=seed).ravel()
    lengths = rng.choice([1, 2, 3, 129, 200, 255, 256, 300, 511, 600], size=200)
    pixels = np.repeat(palette[rng.integers(0, colours, lengths.size)], lengths)
    width, height = 61, 37
    tiles_img = pixels[: width * height].reshape(height, width)
    tiles_img[0, 0] = palette[-1]  # the highest index (up to 127) is used
    client = client_for()
    tile = srv.zrle_palette_rle(tiles_img)
    client.feed(srv.update(srv.ZrleEncoder().rect(2, 3, width, height, [tile])))
    painted(client, 2, 3, tiles_img)
