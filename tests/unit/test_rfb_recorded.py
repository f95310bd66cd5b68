"""Recorded byte streams from a real qemu decode identically for Raw, Tight and ZRLE.

How the streams were recorded: ``tests/data/rfb/README.md``.
"""

from __future__ import annotations

import lzma
from pathlib import Path

import numpy as np
import pytest

from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.events import Connected, DesktopResized, Event, FramebufferUpdated
from vmgui.core.rfb.pixels import Pixels
from vmgui.core.rfb.protocol import RfbClient

DATA = Path(__file__).resolve().parents[1] / "data" / "rfb"
RECORDINGS = {"raw": msg.RAW, "tight": msg.TIGHT, "zrle": msg.ZRLE}
_PSEUDO = (msg.EXTENDED_DESKTOP_SIZE, msg.DESKTOP_SIZE)


def decode(label: str, chunk: int = 0) -> tuple[RfbClient, list[Event]]:
    data = lzma.decompress((DATA / f"{label}.bin.xz").read_bytes())
    client = RfbClient((RECORDINGS[label], *_PSEUDO))
    step = chunk or len(data)
    events: list[Event] = []
    for pos in range(0, len(data), step):
        events += client.feed(data[pos : pos + step])
    return client, events


@pytest.fixture(scope="module")
def screens() -> dict[str, Pixels]:
    return {label: decode(label)[0].framebuffer for label in RECORDINGS}


def test_the_three_encodings_end_on_the_same_pixels(screens: dict[str, Pixels]) -> None:
    raw = screens["raw"]
    assert raw.shape == (400, 720)
    assert np.array_equal(screens["tight"], raw)
    assert np.array_equal(screens["zrle"], raw)
    # not a trivial screen: the banner's colours and text are there
    assert int((raw != 0xFF000000).sum()) > 5000
    assert len(np.unique(raw)) >= 5


@pytest.mark.parametrize("label", list(RECORDINGS))
def test_each_recording_boots_through_a_resize(label: str) -> None:
    _client, events = decode(label)
    assert events[0] == Connected(640, 480, events[0].name, events[0].server_format)  # type: ignore[union-attr]
    assert DesktopResized(720, 400) in events
    updates = [e for e in events if isinstance(e, FramebufferUpdated)]
    assert len(updates) >= 3
    assert {enc for u in updates for enc in u.encodings} == {RECORDINGS[label]}


@pytest.mark.parametrize("label", ["tight", "zrle"])
def test_any_split_of_the_stream_decodes_the_same(label: str, screens: dict[str, Pixels]) -> None:
    client, _events = decode(label, chunk=97)
    assert np.array_equal(client.framebuffer, screens[label])
