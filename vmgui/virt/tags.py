"""Guest tags on the host: add, remove or replace them in vmgui's libvirt metadata.

Tags live in vmgui's metadata element (:mod:`vmgui.core.xml.metadata`) of the persistent
definition and, while the guest runs, of the live one too: each definition is read, changed
and written back on the host's worker in one call (so the template mark and anything else in
the element stay). The host emits a metadata-change event and the guest is refreshed; the
listing reads tags with the guest (:func:`vmgui.virt.inspect.guest_info`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libvirt

from vmgui.core import tags as rules
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo
from vmgui.core.validation import ValidationError
from vmgui.core.xml.base import VMGUI_NS
from vmgui.core.xml.metadata import METADATA_KEY, read_tags, tags_metadata
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection

Change = Callable[[tuple[str, ...]], tuple[str, ...]]
"""Turns a guest's current tags into its new ones (raises ValidationError to refuse)."""


async def add_tag(host: HostConnection, guest: GuestInfo, tag: str) -> tuple[str, ...]:
    """Give ``guest`` the tag ``tag``; returns its tags afterwards.

    Raises:
        VmguiError: the tag is invalid, the guest has it already, is gone, or libvirt refused.
    """
    summary = f"Could not add tag {tag.strip()!r} to {guest.name}"
    _validated(summary, [tag])
    return await _update(host, guest, summary, lambda tags: rules.add_tag(tags, tag))


async def remove_tag(host: HostConnection, guest: GuestInfo, tag: str) -> tuple[str, ...]:
    """Take the tag ``tag`` (any case) from ``guest``; returns its tags afterwards.

    Raises:
        VmguiError: the guest has no such tag, is gone, or libvirt refused.
    """
    summary = f"Could not remove tag {tag.strip()!r} from {guest.name}"
    return await _update(host, guest, summary, lambda tags: rules.remove_tag(tags, tag))


async def set_tags(host: HostConnection, guest: GuestInfo, tags: Sequence[str]) -> tuple[str, ...]:
    """Replace ``guest``'s tags by ``tags`` (empty: remove them all); returns them.

    Raises:
        VmguiError: a tag is invalid or repeated, the guest is gone, or libvirt refused.
    """
    summary = f"Could not change the tags of {guest.name}"
    new = _validated(summary, tags)
    return await _update(host, guest, summary, lambda _old: new)


def _validated(summary: str, tags: Sequence[str]) -> tuple[str, ...]:
    try:
        return rules.validate_tags(tags)
    except ValidationError as exc:
        raise VmguiError(summary, exc.message) from exc


async def _update(
    host: HostConnection, guest: GuestInfo, summary: str, change: Change
) -> tuple[str, ...]:
    try:
        return await host.call(lambda c: _update_blocking(c, guest.uuid, summary, change), summary)
    finally:
        host.request_refresh(guest.uuid)


def _update_blocking(
    conn: libvirt.virConnect, uuid: str, summary: str, change: Change
) -> tuple[str, ...]:
    dom = inspect.lookup(conn, uuid)
    definitions = []
    if dom.isPersistent():
        definitions.append(libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    if dom.isActive():
        definitions.append(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    existing = [inspect.vmgui_metadata(dom, flags) for flags in definitions]
    current = read_tags(existing[0]) if existing else ()
    try:
        new = change(current)
    except ValidationError as exc:
        raise VmguiError(summary, exc.message) from exc
    for flags, element in zip(definitions, existing, strict=True):
        if read_tags(element) == new:
            continue
        xml = tags_metadata(element, new)
        key = METADATA_KEY if xml is not None else None
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, VMGUI_NS, flags)
    return new
