"""A guest's graphical display: which VNC display a host's guests get, and SPICE → VNC.

vmgui's console speaks VNC (its own RFB client). On a **local** host it reaches qemu's VNC
server through libvirt's socket (``virDomainOpenGraphicsFD``), so the display needs no TCP
port at all (``<listen type='none'/>``); on a **remote** host the console tunnels to a port,
so the display listens on the host's 127.0.0.1 (autoport). :func:`vnc_listen_for` decides from
the host's URI; :func:`vnc_graphics` writes the element; :func:`switch_to_vnc_xml` rewrites a
SPICE guest's definition to use it (takes effect at the guest's next boot).
:func:`vnc_endpoint` reads where a running guest's VNC display listens (what a remote console
connects to) and :func:`listen_on_localhost_xml` gives a display without a port (``listen
type='none'``) the host's 127.0.0.1, so that a tunnel reaches it.
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vmgui.core.validation import ValidationError, parse_uri
from vmgui.core.xml.base import (
    DomainXMLError,
    insert_child,
    is_element,
    parse_root,
    remove_child,
    serialize,
)

#: Transports that reach another machine (a URI with one is remote even without a host part).
NETWORK_TRANSPORTS = frozenset({"ssh", "libssh", "libssh2", "tcp", "tls"})
#: Character-device types that only work with a SPICE display.
SPICE_CHARDEVS = frozenset({"spicevmc", "spiceport"})


class VncListen(enum.Enum):
    """Where a VNC display listens."""

    #: No TCP port: only libvirt's socket reaches it (local hosts).
    NONE = "none"
    #: The host's loopback address, port chosen by libvirt (remote hosts: a tunnel reaches it).
    LOCALHOST = "127.0.0.1"


def is_local_uri(uri: str) -> bool:
    """Whether ``uri`` names this machine's libvirt: no host part and no network transport.

    ``qemu:///system``, ``qemu+unix:///session`` and ``test:///default`` are local;
    ``qemu+ssh://host/system``, ``qemu+tcp://127.0.0.1/system`` and ``qemu+ssh:///system``
    (ssh to this machine) are not. A URI that does not parse is not local.
    """
    try:
        parsed = parse_uri(uri)
    except ValidationError:
        return False
    return not parsed.host and parsed.transport not in NETWORK_TRANSPORTS


def vnc_listen_for(uri: str) -> VncListen:
    """The VNC display a guest on host ``uri`` gets (see :class:`VncListen`)."""
    return VncListen.NONE if is_local_uri(uri) else VncListen.LOCALHOST


def vnc_graphics(listen: VncListen) -> ET.Element:
    """A ``<graphics type='vnc'>`` element listening as ``listen`` says."""
    if listen is VncListen.NONE:
        graphics = ET.Element("graphics", type="vnc")
        ET.SubElement(graphics, "listen", type="none")
        return graphics
    return ET.Element("graphics", type="vnc", port="-1", autoport="yes", listen=listen.value)


def switch_to_vnc_xml(xml: str, listen: VncListen) -> str:
    """The domain ``xml`` with its SPICE display replaced by VNC.

    Every ``<graphics type='spice'>`` goes; one VNC display (:func:`vnc_graphics`) takes the
    first one's place unless the domain already has one. What only works with SPICE goes too:
    every ``spicevmc``/``spiceport`` device (the vdagent channel, a smartcard, ...), every
    ``<redirdev>`` (USB redirection) and the ``<redirfilter>``; ``<audio type='spice'>``
    becomes ``type='none'`` (the sound card stays, silent). The video card (qxl) stays: it
    works with VNC. Everything else (comments included) is kept as it was.

    Raises:
        DomainXMLError: the XML is malformed or has no SPICE display.
    """
    root = parse_root(xml)
    devices = root.find("devices")
    spice = devices.findall("graphics[@type='spice']") if devices is not None else []
    if devices is None or not spice:
        raise DomainXMLError("The domain has no SPICE display.")
    if devices.find("graphics[@type='vnc']") is None:
        insert_child(devices, list(devices).index(spice[0]), vnc_graphics(listen))
    for element in list(devices):
        if not is_element(element):
            continue
        if (
            element in spice
            or element.tag in ("redirdev", "redirfilter")
            or element.get("type") in SPICE_CHARDEVS
        ):
            remove_child(devices, element)
    for audio in devices.findall("audio[@type='spice']"):
        audio.set("type", "none")
    return serialize(root)


@dataclass(frozen=True, slots=True)
class VncEndpoint:
    """Where a guest's VNC display listens (read from its live XML).

    Attributes:
        listen_type: ``address``, ``network``, ``socket`` or ``none``.
        address: the address it listens on ("" when none is given: qemu's default,
            127.0.0.1 unless ``vnc_listen`` in the host's qemu.conf says otherwise).
        port: the TCP port, or None while it has none (shut off, or no TCP listener).
        socket: the Unix socket path (``listen_type`` ``socket``), else "".
        password: the display's VNC password (only in XML read with the secure flag), or None.
    """

    listen_type: str
    address: str = ""
    port: int | None = None
    socket: str = ""
    password: str | None = None


def vnc_endpoint(xml: str) -> VncEndpoint | None:
    """The first VNC display of domain ``xml``, or None when it has none.

    Raises:
        DomainXMLError: the XML is malformed.
    """
    root = parse_root(xml)
    graphics = root.find("devices/graphics[@type='vnc']")
    if graphics is None:
        return None
    listen = graphics.find("listen")
    listen_type = listen.get("type", "address") if listen is not None else "address"
    address = (listen.get("address", "") if listen is not None else "") or graphics.get(
        "listen", ""
    )
    socket = (listen.get("socket", "") if listen is not None else "") or graphics.get("socket", "")
    if socket and listen is None:
        listen_type = "socket"
    port_text = graphics.get("port", "")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    if listen_type in ("none", "socket"):
        port = None
    return VncEndpoint(listen_type, address, port, socket, graphics.get("passwd"))


def listen_on_localhost_xml(xml: str) -> str:
    """The domain ``xml`` with its first VNC display listening on 127.0.0.1 (autoport).

    What a guest's display needs for a console on a remote host (through an SSH tunnel): a
    ``listen type='none'`` or socket display gets a TCP port on the host's loopback address
    only. Its other attributes (password, keymap, ...) are kept.

    Raises:
        DomainXMLError: the XML is malformed or has no VNC display.
    """
    root = parse_root(xml)
    graphics = root.find("devices/graphics[@type='vnc']")
    if graphics is None:
        raise DomainXMLError("The domain has no VNC display.")
    for listen in graphics.findall("listen"):
        remove_child(graphics, listen)
    graphics.attrib.pop("socket", None)
    graphics.set("port", "-1")
    graphics.set("autoport", "yes")
    graphics.set("listen", VncListen.LOCALHOST.value)
    return serialize(root)
