"""A guest's screen as an image file's bytes: ``virDomainScreenshot`` through a stream.

The UI decodes the bytes (qemu sends PNG, older ones PPM) for the details pane's thumbnail.
The whole transfer runs on the host's worker thread.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection

#: Bytes read from the stream per call.
_CHUNK = 1 << 20
#: Refuse a screenshot larger than this (a 4K PPM is 25 MiB).
MAX_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Screenshot:
    """One screenshot.

    Attributes:
        data: the image file (PNG or PPM).
        mime_type: what libvirt says the data is ("image/png", "image/x-portable-pixmap").
    """

    data: bytes
    mime_type: str


def _take(conn: libvirt.virConnect, uuid: str, summary: str) -> Screenshot:
    dom = inspect.lookup(conn, uuid)
    stream = conn.newStream(0)
    try:
        mime_type = dom.screenshot(stream, 0, 0) or ""
        chunks: list[bytes] = []
        size = 0
        while True:
            data = stream.recv(_CHUNK)
            if not isinstance(data, bytes) or not data:
                break  # -2 (would block) cannot happen on a blocking stream
            size += len(data)
            if size > MAX_BYTES:
                raise VmguiError(summary, f"the screenshot is larger than {MAX_BYTES} bytes")
            chunks.append(data)
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    return Screenshot(b"".join(chunks), mime_type)


async def fetch_screenshot(host: HostConnection, uuid: str, name: str = "") -> Screenshot:
    """The guest's current screen (its first display), read on the host's worker.

    Raises:
        VmguiError: the guest is not running, has no display, or the driver cannot take
            screenshots.
    """
    summary = f"Could not take a screenshot of {name or uuid}"
    return await host.call(lambda conn: _take(conn, uuid, summary), summary)
