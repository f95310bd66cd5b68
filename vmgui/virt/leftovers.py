"""What interrupted jobs left on a host, found and removed once the host is back
(the book: :mod:`vmgui.core.leftovers`).

:func:`review` checks a host's entries on its worker: a volume still at its path, a guest with
its UUID *and* name. What is gone, and a volume some other guest on the host now uses (not one
of the leftover guests), is struck from the book without a word: it is not vmgui's to remove
any more. :func:`remove_found` removes what the user agreed to (a guest destroyed if it runs,
then undefined; a volume deleted after the same in-use check) and strikes what it removed;
what it could not remove stays in the book, with the reason returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.leftovers import GUEST, VOLUME, Leftover, LeftoverBook
from vmgui.core.model import guest_state_from_libvirt
from vmgui.core.units import format_bytes
from vmgui.core.xml.domain import disk_paths_in_use
from vmgui.virt.connection import HostConnection
from vmgui.virt.guests import disk_ref_path
from vmgui.virt.provhost import remove_domain_blocking
from vmgui.virt.storage import delete_volume_blocking, refresh_pools_blocking, unless_missing


@dataclass(frozen=True, slots=True)
class Found:
    """A leftover that is still there.

    Attributes:
        item: the book's entry.
        detail: what it is now ("12.0 MiB", "running", "shut off").
    """

    item: Leftover
    detail: str

    @property
    def text(self) -> str:
        """One line for lists: "volume /var/…/web1.qcow2 (12.0 MiB)"."""
        return f"{self.item.label} ({self.detail})"


def find_blocking(conn: libvirt.virConnect, items: Sequence[Leftover]) -> list[Found]:
    """Which of ``items`` are still there, as left (worker thread)."""
    found: list[Found] = []
    guests = [i for i in items if i.kind == GUEST]
    for item in guests:
        dom = unless_missing(partial(conn.lookupByUUIDString, item.key), libvirt.VIR_ERR_NO_DOMAIN)
        if dom is not None and str(dom.name()) == item.name:
            found.append(Found(item, guest_state_from_libvirt(dom.state()[0]).label))
    volumes = [i for i in items if i.kind == VOLUME]
    if not volumes:
        return found
    refresh_pools_blocking(conn)
    used = _used_by_others(conn, {f.item.key for f in found})
    for item in volumes:
        vol = unless_missing(
            partial(conn.storageVolLookupByPath, item.key), libvirt.VIR_ERR_NO_STORAGE_VOL
        )
        if vol is not None and item.key not in used:
            found.append(Found(item, format_bytes(int(vol.info()[2]))))
    return found


def remove_blocking(conn: libvirt.virConnect, item: Leftover, leftover_guests: set[str]) -> None:
    """Remove one leftover (worker thread).

    Raises:
        VmguiError: a volume is used by a guest that is not a leftover.
    """
    if item.kind == GUEST:
        remove_domain_blocking(conn, item.key)
        return
    if item.key in _used_by_others(conn, leftover_guests):
        raise VmguiError(f"{item.key} is used by a guest now", hint="It is kept.")
    delete_volume_blocking(conn, item.key)


async def review(host: HostConnection, book: LeftoverBook) -> list[Found]:
    """The book's entries for ``host`` that are still there; the others are struck.

    Raises:
        VmguiError: the book cannot be read, or the host cannot be asked.
    """
    items = await asyncio.to_thread(book.for_host, host.uri)
    if not items:
        return []
    found = await host.call(lambda c: find_blocking(c, items), "Could not look for leftovers")
    there = [f.item for f in found]
    gone = [i for i in items if i not in there]
    await asyncio.to_thread(book.forget, gone)
    return found


async def remove_found(
    host: HostConnection, book: LeftoverBook, found: Sequence[Found]
) -> tuple[list[Leftover], list[str]]:
    """Remove what :func:`review` found (the user agreed), guests first.

    Returns:
        What was removed (struck from the book), and a line per thing that could not be
        (it stays in the book).
    """
    ordered = sorted(found, key=lambda f: f.item.kind != GUEST)
    guests = {f.item.key for f in ordered if f.item.kind == GUEST}
    removed: list[Leftover] = []
    failed: list[str] = []
    for entry in ordered:
        item = entry.item
        try:
            await host.call(partial(_remove, item, guests), f"Could not remove {item.label}")
        except VmguiError as exc:
            failed.append(f"{item.label}: {exc.details or exc.summary}")
            continue
        removed.append(item)
    await asyncio.to_thread(book.forget, removed)
    return removed, failed


def _remove(item: Leftover, guests: set[str], conn: libvirt.virConnect) -> None:
    remove_blocking(conn, item, guests)


def _used_by_others(conn: libvirt.virConnect, leftover_guests: set[str]) -> set[str]:
    """The paths the host's guests use, leaving out the leftover guests."""
    others = [
        str(d.XMLDesc(0)) for d in conn.listAllDomains(0) if d.UUIDString() not in leftover_guests
    ]
    return {disk_ref_path(conn, ref) for ref in disk_paths_in_use(others)}
