"""RFB decode cost per full frame: Raw, Tight and ZRLE at 720x400 and 1920x1080.

Frames are synthetic, built like qemu builds them: a text-console screen (black, grey glyph
pixels, a few coloured bars: Tight sends mono-palette rectangles of at most 64 Ki pixels,
ZRLE packed-palette 64x64 tiles; "ZRLE-RLE" sends every tile as palette RLE, the one
subencoding decoded with a loop over runs) and a photo-like screen (smooth colours with
noise: Tight copy filter, ZRLE raw tiles). Each figure is the median of several decodes of one full
FramebufferUpdate through ``RfbClient.feed`` (zlib included), on a fresh client each time. A
per-pixel Python decode of one ZRLE tile shows what the numpy decoders save. Last, the
recorded qemu boots of ``tests/data/rfb`` are decoded whole.

Run: ``python -m tests.benchmarks.bench_rfb [--repeat 7]``
"""

from __future__ import annotations

import argparse
import lzma
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.unit import test_rfb_support as srv
from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.protocol import RfbClient

DATA = Path(__file__).resolve().parents[1] / "data" / "rfb"
SIZES = ((720, 400), (1920, 1080))


def text_screen(width: int, height: int) -> srv.Img:
    """Black with grey 'glyphs' in 16-pixel text rows and three coloured bars."""
    rng = np.random.default_rng(1)
    img = np.full((height, width), 0xFF000000, dtype=np.uint32)
    glyphs = rng.random((height, width)) < 0.18
    glyphs[np.arange(height) % 16 >= 12] = False
    img[glyphs] = 0xFFAAAAAA
    for i, colour in enumerate((0xFF0000AA, 0xFF00AA00, 0xFFAA0000)):
        img[16:32, 100 * i : 100 * i + 60] = colour
    return img


def photo_screen(width: int, height: int) -> srv.Img:
    """Smooth colour ramps with a little noise (no palette fits)."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:height, 0:width]
    r = (xx * 255 // width + rng.integers(0, 8, (height, width))) % 256
    g = (yy * 255 // height + rng.integers(0, 8, (height, width))) % 256
    b = ((xx + yy) % 256).astype(np.int64)
    pixels: srv.Img = (0xFF000000 | r << 16 | g << 8 | b).astype(np.uint32)
    return pixels


def raw_update(img: srv.Img) -> bytes:
    return srv.update(srv.raw_rect(0, 0, img))


def _tight_rects(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """qemu's split: rectangles of at most 2048 wide and 65536 pixels."""
    rows = max(1, 65536 // min(width, 2048))
    return [
        (x, y, min(2048, width - x), min(rows, height - y))
        for y in range(0, height, rows)
        for x in range(0, width, 2048)
    ]


def tight_update(img: srv.Img) -> bytes:
    stream = zlib.compressobj()
    rects = []
    for x, y, w, h in _tight_rects(img.shape[1], img.shape[0]):
        part = img[y : y + h, x : x + w]
        colours = np.unique(part)
        if len(colours) <= 2:
            indices = (part == colours[-1]).astype(np.uint8)
            raw = np.packbits(indices, axis=1).tobytes()
            head = bytes([0x40, 1, len(colours) - 1]) + b"".join(srv.rgb(int(c)) for c in colours)
        else:
            rgb = np.stack([(part >> 16) & 255, (part >> 8) & 255, part & 255], axis=-1)
            raw = rgb.astype(np.uint8).tobytes()
            head = b"\x00"
        comp = stream.compress(raw) + stream.flush(zlib.Z_SYNC_FLUSH)
        rects.append(srv.header(x, y, w, h, msg.TIGHT) + head + srv.compact(len(comp)) + comp)
    return srv.update(*rects)


def zrle_update(img: srv.Img) -> bytes:
    height, width = img.shape
    tiles = []
    for ty in range(0, height, 64):
        for tx in range(0, width, 64):
            tile = img[ty : ty + 64, tx : tx + 64]
            colours = np.unique(tile)
            if len(colours) == 1:
                tiles.append(srv.zrle_solid(int(colours[0])))
            elif len(colours) <= 16:
                bits = 1 if len(colours) == 2 else 2 if len(colours) <= 4 else 4
                idx = np.searchsorted(colours, tile).astype(np.uint8)
                per = 8 // bits
                pad = -idx.shape[1] % per
                idx = np.pad(idx, ((0, 0), (0, pad))).reshape(idx.shape[0], -1, per)
                packed = np.zeros(idx.shape[:2], dtype=np.uint8)
                for i in range(per):
                    packed |= idx[:, :, i] << (8 - bits * (i + 1))
                tiles.append(
                    bytes([len(colours)])
                    + b"".join(srv.bgr(int(c)) for c in colours)
                    + packed.tobytes()
                )
            else:
                bgr = np.stack([tile & 255, (tile >> 8) & 255, (tile >> 16) & 255], axis=-1)
                tiles.append(b"\x00" + bgr.astype(np.uint8).tobytes())
    return srv.update(srv.ZrleEncoder().rect(0, 0, width, height, tiles))


def zrle_rle_update(img: srv.Img) -> bytes:
    """ZRLE with every tile as palette RLE (the subencoding whose decode loops over runs)."""
    height, width = img.shape
    tiles = [
        srv.zrle_palette_rle(img[ty : ty + 64, tx : tx + 64])
        for ty in range(0, height, 64)
        for tx in range(0, width, 64)
    ]
    return srv.update(srv.ZrleEncoder().rect(0, 0, width, height, tiles))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def decode_ms(encoding: int, update: bytes, size: tuple[int, int], repeat: int) -> float:
    handshake = srv.handshake(*size)
    times = []
    for _ in range(repeat):
        client = RfbClient((encoding,))
        client.feed(handshake)
        start = time.perf_counter()
        client.feed(update)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def python_tile(data: bytes, width: int, height: int) -> list[list[int]]:
    """The per-pixel reference: a 2-colour packed-palette ZRLE tile, one pixel at a time."""
    palette = [data[1 + 3 * i] | data[2 + 3 * i] << 8 | data[3 + 3 * i] << 16 for i in range(2)]
    pos = 7
    rows = []
    row_bytes = (width + 7) // 8
    for y in range(height):
        row = []
        for x in range(width):
            byte = data[pos + y * row_bytes + x // 8]
            row.append(0xFF000000 | palette[(byte >> (7 - x % 8)) & 1])
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"{'screen':<7} {'size':>9} {'encoding':>9} {'bytes':>10} {'decode ms':>10}")
    for width, height in SIZES:
        for label, make in (("text", text_screen), ("photo", photo_screen)):
            img = make(width, height)
            for name, encoding, build in (
                ("Raw", msg.RAW, raw_update),
                ("Tight", msg.TIGHT, tight_update),
                ("ZRLE", msg.ZRLE, zrle_update),
                ("ZRLE-RLE", msg.ZRLE, zrle_rle_update),
            ):
                if label == "photo" and name == "ZRLE-RLE":
                    continue  # no palette fits a photo tile
                update = build(img)
                ms = decode_ms(encoding, update, (width, height), args.repeat)
                size = f"{width}x{height}"
                print(f"{label:<7} {size:>9} {name:>9} {len(update):>10} {ms:>10.2f}")
    tile_img = text_screen(64, 64)
    colours = np.unique(tile_img)[:2]
    tile_img = np.where(tile_img == colours[1], colours[1], colours[0]).astype(np.uint32)
    tile = srv.zrle_packed(tile_img)
    python_us = median_ms(lambda: python_tile(tile, 64, 64), args.repeat) * 1000
    update = srv.update(srv.ZrleEncoder().rect(0, 0, 64, 64, [tile]))
    numpy_us = decode_ms(msg.ZRLE, update, (64, 64), args.repeat) * 1000
    tiles_1080p = 30 * 17
    print(
        f"\none 64x64 2-colour ZRLE tile: per-pixel Python {python_us:.0f} us, numpy {numpy_us:.0f}"
        f" us ({python_us / numpy_us:.0f}x); a 1080p frame of such tiles: "
        f"{python_us * tiles_1080p / 1000:.0f} ms vs {numpy_us * tiles_1080p / 1000:.1f} ms"
    )
    print("\nrecorded qemu boots (whole stream, handshake to prompt):")
    for label, encoding in (("raw", msg.RAW), ("tight", msg.TIGHT), ("zrle", msg.ZRLE)):
        data = lzma.decompress((DATA / f"{label}.bin.xz").read_bytes())

        def run(data: bytes = data, encoding: int = encoding) -> None:
            RfbClient((encoding, msg.EXTENDED_DESKTOP_SIZE, msg.DESKTOP_SIZE)).feed(data)

        print(f"  {label:<6} {len(data):>9} bytes  {median_ms(run, args.repeat):7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
