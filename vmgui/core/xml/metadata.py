"""vmgui's own element in a domain's ``<metadata>``: the template mark and the tags.

libvirt keeps one element per namespace in a domain's metadata. vmgui's is stored with
``virDomain.setMetadata(ELEMENT, xml, "vmgui", VMGUI_NS)`` and returned by
``virDomain.metadata(ELEMENT, VMGUI_NS)`` without namespaces::

    <vmgui><template/><tags><tag>web</tag><tag>db</tag></tags></vmgui>

In the domain XML it reads ``<vmgui:vmgui><vmgui:tags><vmgui:tag>web</vmgui:tag>…``, so any
client sees it (``virsh metadata NAME https://vmgui.dev/xmlns/vmgui/1.0``). Every writer here
changes only its own child and keeps the others.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from vmgui.core.tags import tag_key
from vmgui.core.xml.base import DomainXMLError, is_element, parse_root, serialize

METADATA_KEY = "vmgui"
"""The prefix libvirt writes vmgui's namespace with (``setMetadata``'s key)."""


def open_vmgui_metadata(existing: str | None) -> ET.Element:
    """vmgui's metadata element to edit: ``existing`` without namespaces, or a new one.

    Args:
        existing: the current element (``virDomain.metadata``), or None.

    Raises:
        DomainXMLError: if ``existing`` is malformed.
    """
    if existing:
        parsed = parse_root(existing, None, "vmgui's metadata")
        for element in parsed.iter():
            if is_element(element):
                element.tag = element.tag.rsplit("}", 1)[-1]
        if parsed.tag == "vmgui":
            return parsed
    return ET.Element("vmgui")


def close_vmgui_metadata(root: ET.Element) -> str | None:
    """The element to store after an edit, or None to remove it (it has no child left)."""
    if not any(is_element(child) for child in root):
        return None
    for element in root.iter():
        if is_element(element) and element.text:
            element.text = element.text.strip()
        element.tail = None
    return serialize(root)


def read_tags(existing: str | None) -> tuple[str, ...]:
    """The tags in vmgui's metadata element (lenient: an unreadable element has none).

    Tags another client wrote are shown as they are (stripped), each once
    (case-insensitively), in document order.
    """
    if not existing or "tag" not in existing:
        return ()  # (listing reads every guest's element: skip parsing when it has no tags)
    try:
        root = parse_root(existing, None, "vmgui's metadata")
    except DomainXMLError:
        return ()
    if root.tag.rsplit("}", 1)[-1] != "vmgui":
        return ()
    seen: set[str] = set()
    tags: list[str] = []
    for element in root.iterfind("{*}tags/{*}tag"):
        value = (element.text or "").strip()
        if value and tag_key(value) not in seen:
            seen.add(tag_key(value))
            tags.append(value)
    return tuple(tags)


def tags_metadata(existing: str | None, tags: Sequence[str]) -> str | None:
    """vmgui's metadata element with its tags replaced by ``tags`` (callers validate them).

    Args:
        existing: the current element (``virDomain.metadata``), or None.
        tags: the new tags, in order; empty removes the ``<tags>`` child.

    Returns:
        The element to store, or None to remove vmgui's metadata (nothing else was in it).
        Other children (the template mark) are kept.

    Raises:
        DomainXMLError: if ``existing`` is malformed.
    """
    root = open_vmgui_metadata(existing)
    for old in root.findall("tags"):
        root.remove(old)
    if tags:
        holder = ET.SubElement(root, "tags")
        for tag in tags:
            ET.SubElement(holder, "tag").text = tag
    return close_vmgui_metadata(root)
