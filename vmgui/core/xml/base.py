"""The one root parser, child helpers, namespaces and the error type of vmgui's XML layer.

Comment policy: every document is parsed keeping its comments and processing instructions,
whether it is only read, edited or cloned, so what libvirt or a user wrote survives any
round trip through vmgui.

ElementTree does not keep namespace prefixes. :func:`serialize` registers the prefixes vmgui
and libvirt commonly use (:func:`register_namespaces`) right before it writes a document, so
they stay readable; any other namespace keeps its URI under a generated prefix.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
VMGUI_NS = "https://vmgui.dev/xmlns/vmgui/1.0"

KNOWN_NAMESPACES = {
    "libosinfo": LIBOSINFO_NS,
    "vmgui": VMGUI_NS,
    "qemu": "http://libvirt.org/schemas/domain/qemu/1.0",
    "lxc": "http://libvirt.org/schemas/domain/lxc/1.0",
    "bhyve": "http://libvirt.org/schemas/domain/bhyve/1.0",
    "xen": "http://libvirt.org/schemas/domain/xen/1.0",
    "boxes": "https://wiki.gnome.org/Apps/Boxes",
}

_register_lock = threading.Lock()
_registered = False


class DomainXMLError(ValueError):
    """An XML document cannot be read (malformed, the wrong root, or lacks a required part)."""


def parse_root(xml: str, tag: str | None = "domain", what: str = "The domain XML") -> ET.Element:
    """Parse ``xml`` keeping comments and processing instructions; return its root element.

    Args:
        xml: the document.
        tag: the root element it must have, or None to accept any.
        what: how error messages name the document.

    Raises:
        DomainXMLError: if the document is malformed or its root is not ``tag``.
    """
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    try:
        root = ET.fromstring(xml, parser=parser)
    except ET.ParseError as exc:
        raise DomainXMLError(f"{what} is malformed: {exc}") from None
    if tag is not None and root.tag != tag:
        raise DomainXMLError(f"The XML is not a {tag}: its root element is <{root.tag}>.")
    return root


def parse_or_none(xml: str, tag: str) -> ET.Element | None:
    """Like :func:`parse_root`, but None for an unreadable document (lenient readers)."""
    try:
        return parse_root(xml, tag)
    except DomainXMLError:
        return None


def register_namespaces() -> None:
    """Give the namespaces of :data:`KNOWN_NAMESPACES` their usual prefixes when written.

    ElementTree's prefix map is process-wide, and ``ET.register_namespace`` briefly removes
    an entry before it sets it again; so this registers once, under a lock that every writer
    (:func:`serialize`, on any worker thread) passes first.
    """
    global _registered
    with _register_lock:
        if not _registered:
            for prefix, uri in KNOWN_NAMESPACES.items():
                ET.register_namespace(prefix, uri)
            _registered = True


def serialize(root: ET.Element) -> str:
    """The document of ``root`` as a string, with readable namespace prefixes."""
    register_namespaces()
    return ET.tostring(root, encoding="unicode")


def text(parent: ET.Element, path: str) -> str:
    """The stripped text at ``path`` below ``parent`` ("" if absent)."""
    return (parent.findtext(path) or "").strip()


def attr(parent: ET.Element, path: str, name: str) -> str:
    """Attribute ``name`` of the element at ``path`` below ``parent`` ("" if absent)."""
    element = parent.find(path)
    return element.get(name, "") if element is not None else ""


def is_element(node: ET.Element) -> bool:
    """Whether ``node`` is an element (not a comment or processing instruction)."""
    return isinstance(node.tag, str)


def _blank(value: str | None) -> bool:
    return bool(value) and not (value or "").strip()


def _child_indent(parent: ET.Element) -> str:
    """The whitespace before each child of ``parent``: "" in a document without layout.

    A parent with children tells by the whitespace before its first one; a parent without
    children, by the whitespace before its end tag (its own indentation) plus two spaces.
    """
    if not _blank(parent.text):
        return ""
    assert parent.text is not None
    return parent.text if len(parent) else parent.text + "  "


def insert_child(parent: ET.Element, index: int, element: ET.Element) -> ET.Element:
    """Insert ``element`` as child ``index`` of ``parent``, following the document's layout.

    The new element (and its own children) get the indentation of their siblings; a document
    written without whitespace stays without.
    """
    indent = _child_indent(parent)
    if len(element) and indent:
        ET.indent(element, space="  ")
        for node in element.iter():
            if _blank(node.text):
                node.text = (node.text or "").replace("\n", indent)
            if node is not element and _blank(node.tail):
                node.tail = (node.tail or "").replace("\n", indent)
    children = list(parent)
    index = max(0, min(index, len(children)))
    if index == 0 and indent:
        element.tail = parent.text
        parent.text = indent
    elif index == 0:
        element.tail = None
    else:
        previous = children[index - 1]
        element.tail = previous.tail
        previous.tail = indent or None
    parent.insert(index, element)
    return element


def ensure_child(parent: ET.Element, tag: str, after: tuple[str, ...]) -> ET.Element:
    """``parent``'s ``tag`` child, created after the last child named in ``after`` if missing.

    With none of ``after`` present the new child comes first.
    """
    element = parent.find(tag)
    if element is not None:
        return element
    index = 0
    for position, child in enumerate(parent):
        if child.tag in after:
            index = position + 1
    return insert_child(parent, index, ET.Element(tag))


def remove_child(parent: ET.Element, element: ET.Element) -> None:
    """Remove ``element`` from ``parent``, keeping the whitespace of the others right."""
    children = list(parent)
    index = children.index(element)
    if index > 0:
        children[index - 1].tail = element.tail
    elif len(children) == 1:
        parent.text = element.tail
    parent.remove(element)


def remove_all(parent: ET.Element, tag: str) -> None:
    """Remove every ``tag`` child of ``parent`` (see :func:`remove_child`)."""
    for element in parent.findall(tag):
        remove_child(parent, element)
