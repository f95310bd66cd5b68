"""A SPICE guest's display: switched to VNC for the next boot, or opened in virt-viewer.

vmgui's console speaks VNC only (embedding SPICE through spice-client-glib is not built: it
needs GLib's main context, which vmgui leaves to libvirt's event thread). For a SPICE guest
:func:`switch_to_vnc` rewrites the persistent definition (the running guest keeps SPICE until
it boots again), and :func:`viewer_argv` is the ``virt-viewer --attach`` command, which gets its
display socket from libvirt as vmgui's console does (``virDomainOpenGraphicsFD``), so it
reaches a SPICE display with ``<listen type='none'/>`` too; ``remote-viewer`` needs a
``spice://`` address, which such a guest has not.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.display import (
    VncEndpoint,
    VncListen,
    listen_on_localhost_xml,
    switch_to_vnc_xml,
    vnc_endpoint,
    vnc_listen_for,
)
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection
from vmgui.virt.guests import redefine_guest

#: The program :func:`open_in_viewer` starts (Debian package virt-viewer).
VIEWER = "virt-viewer"
INSTALL_HINT = "install virt-viewer"


@dataclass(frozen=True, slots=True)
class GuestDisplays:
    """A guest's graphics types, e.g. ("spice",).

    Attributes:
        live: what the running guest has (its definition when it is shut off).
        next_boot: what its persistent definition has: the guest's display from its next boot.
    """

    live: tuple[str, ...]
    next_boot: tuple[str, ...]

    @property
    def spice_only(self) -> bool:
        """Whether the guest shows SPICE and no VNC now."""
        return "spice" in self.live and "vnc" not in self.live

    @property
    def vnc_next_boot(self) -> bool:
        """Whether the guest has VNC from its next boot on."""
        return "vnc" in self.next_boot


async def switch_to_vnc(host: HostConnection, uuid: str) -> None:
    """Give the guest a VNC display instead of SPICE, from its next boot on.

    The persistent definition is redefined (``defineXML`` of the inactive XML, secrets
    included) with :func:`~vmgui.core.xml.display.switch_to_vnc_xml`: no TCP port on a local
    host, 127.0.0.1 (autoport) on a remote one.

    Raises:
        VmguiError: the guest has no SPICE display, is gone, or libvirt refused.
    """
    name = host.guest_name(uuid)
    summary = f"Could not switch the display of {name} to VNC"
    listen = vnc_listen_for(host.uri)
    await redefine_guest(host, uuid, summary, lambda xml: switch_to_vnc_xml(xml, listen))


async def fetch_displays(host: HostConnection, uuid: str) -> GuestDisplays:
    """The guest's graphics types now and from its next boot on.

    Raises:
        VmguiError: the guest is gone or libvirt refused.
    """
    name = host.guest_name(uuid)

    def read(conn: libvirt.virConnect) -> GuestDisplays:
        dom = inspect.lookup(conn, uuid)
        live = parse_domain_xml(dom.XMLDesc(0)).graphics
        inactive = parse_domain_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).graphics
        return GuestDisplays(live, inactive)

    return await host.call(read, f"Could not read the display of {name}")


@dataclass(frozen=True, slots=True)
class VncEndpoints:
    """Where a guest's VNC display listens now and from its next boot on (None: no VNC)."""

    live: VncEndpoint | None
    next_boot: VncEndpoint | None


async def fetch_vnc_endpoints(host: HostConnection, uuid: str) -> VncEndpoints:
    """Where the guest's VNC display listens (with its password: the secure XML).

    Raises:
        VmguiError: the guest is gone, its XML is malformed, or libvirt refused.
    """
    name = host.guest_name(uuid)
    summary = f"Could not read the display of {name}"

    def read(conn: libvirt.virConnect) -> VncEndpoints:
        dom = inspect.lookup(conn, uuid)
        secure = libvirt.VIR_DOMAIN_XML_SECURE
        try:
            live = vnc_endpoint(dom.XMLDesc(secure))
            inactive = vnc_endpoint(dom.XMLDesc(secure | libvirt.VIR_DOMAIN_XML_INACTIVE))
        except DomainXMLError as exc:
            raise VmguiError(summary, str(exc)) from None
        return VncEndpoints(live, inactive)

    return await host.call(read, summary)


async def listen_on_localhost(host: HostConnection, uuid: str) -> None:
    """Give the guest's VNC display a port on its host's 127.0.0.1, from its next boot on.

    What a console on another machine needs to reach a ``listen type='none'`` display
    through an SSH tunnel (:func:`~vmgui.core.xml.display.listen_on_localhost_xml`).

    Raises:
        VmguiError: the guest has no VNC display, is gone, or libvirt refused.
    """
    name = host.guest_name(uuid)
    summary = f"Could not give the display of {name} a port on {VncListen.LOCALHOST.value}"

    await redefine_guest(host, uuid, summary, listen_on_localhost_xml)


def viewer_argv(uri: str, uuid: str) -> list[str]:
    """virt-viewer attached to the guest's display through libvirt (an argv, never a shell
    string): it works with ``<listen type='none'/>``, on the host itself only."""
    return [VIEWER, "--attach", "--connect", uri, "--uuid", uuid]


def viewer_installed() -> bool:
    """Whether virt-viewer is on the PATH."""
    return shutil.which(VIEWER) is not None
