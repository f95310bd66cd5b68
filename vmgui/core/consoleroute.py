"""How a console reaches a guest's VNC display: libvirt's socket, TCP, an SSH tunnel, or not.

Pure decisions, from the host's URI and where the display listens
(:class:`~vmgui.core.xml.display.VncEndpoint`):

* a **local** host: libvirt's socket (``virDomainOpenGraphicsFD``), whatever the listener;
* an **ssh** host (``qemu+ssh``, ``qemu+libssh2``, ``qemu+libssh``): ``ssh -W ADDRESS:PORT``
  to the display as the host itself sees it (a wildcard listener is reached on its loopback);
* a **tcp/tls** host: straight to the display's address, unless it listens on the host's
  loopback only (then the console says so and offers the tunnel);
* a display with no network port (``listen type='none'`` or a Unix socket) on a remote host:
  no route, with the offer to give it one on 127.0.0.1 (next boot).

:func:`ssh_endpoint` reads what libvirt's own ssh would use from the URI (user, host, port,
``keyfile``, ``known_hosts``, ``no_verify``, ``no_tty``, ``command``), so the tunnel logs in
the way the connection does.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qsl

from vmgui.core.validation import ValidationError, parse_uri
from vmgui.core.xml.display import VncEndpoint, is_local_uri

#: Transports that log in with SSH: the console tunnels through OpenSSH to their hosts.
SSH_TRANSPORTS = frozenset({"ssh", "libssh", "libssh2"})
LOOPBACK_ONLY = "the display listens on the host's {address} only"


class RouteKind(enum.Enum):
    """How the console connects."""

    #: libvirt's socket to qemu's VNC server (local hosts).
    LOCAL = "local"
    #: A TCP connection to the display's address and port.
    TCP = "tcp"
    #: ``ssh -W address:port`` to the host: the display's port as the host sees it.
    TUNNEL = "tunnel"
    #: No way to the display (:attr:`Route.reason` says why).
    NONE = "none"


class Offer(enum.Enum):
    """What the console can offer when there is no route."""

    NOTHING = "nothing"
    #: Connect through an SSH tunnel to the host instead.
    TUNNEL = "tunnel"
    #: Give the display a port on the host's 127.0.0.1 (from the guest's next boot).
    LISTEN_LOCALHOST = "listen-localhost"


@dataclass(frozen=True, slots=True)
class Route:
    """The way to a display.

    Attributes:
        kind: how to connect.
        address: the address to reach (TCP: from here; TUNNEL: from the host).
        port: the TCP port (0 for LOCAL and NONE).
        reason: why there is no route (NONE), else "".
        offer: what helps when there is none.
    """

    kind: RouteKind
    address: str = ""
    port: int = 0
    reason: str = ""
    offer: Offer = Offer.NOTHING


@dataclass(frozen=True, slots=True)
class SshEndpoint:
    """How to log in to a host with OpenSSH, as libvirt's ssh transport does.

    Attributes:
        user: the login name ("" = ssh's default, the local user or ssh_config's).
        host: host name or address (IPv6 without brackets).
        port: the SSH port, or None for ssh's default.
        keyfile: the URI's ``keyfile`` ("" = ssh's own choice).
        known_hosts: the URI's ``known_hosts`` (libssh/libssh2 URIs; "" = ssh's default).
        no_verify: the URI's ``no_verify=1`` (accept any host key: never vmgui's default).
        batch: the URI's ``no_tty=1`` (BatchMode: no questions at all).
        command: the ssh program (the URI's ``command``, else ``ssh``).
    """

    user: str
    host: str
    port: int | None = None
    keyfile: str = ""
    known_hosts: str = ""
    no_verify: bool = False
    batch: bool = False
    command: str = "ssh"

    @property
    def label(self) -> str:
        """``user@host:port`` as far as known, for messages."""
        text = f"{self.user}@{self.host}" if self.user else self.host
        return f"{text}:{self.port}" if self.port is not None else text


def uri_transport(uri: str) -> str:
    """The URI's transport ("" for none or a malformed URI)."""
    try:
        return parse_uri(uri).transport
    except ValidationError:
        return ""


def ssh_endpoint(uri: str) -> SshEndpoint | None:
    """How to ssh to the host of ``uri``, or None for a local or malformed URI.

    For an ssh URI everything comes from it; for a tcp/tls URI only the user and host do (its
    port is libvirt's, not SSH's).
    """
    try:
        parts = parse_uri(uri)
    except ValidationError:
        return None
    if not parts.host:
        return None
    host = parts.host.strip("[]")
    if parts.transport not in SSH_TRANSPORTS:
        return SshEndpoint(parts.user, host)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    return SshEndpoint(
        parts.user,
        host,
        parts.port,
        keyfile=params.get("keyfile", ""),
        known_hosts=params.get("known_hosts", "") if parts.transport != "ssh" else "",
        no_verify=params.get("no_verify", "0") == "1",
        batch=params.get("no_tty", "0") == "1",
        command=params.get("command", "") or "ssh",
    )


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback address or ``localhost`` ("" counts: qemu's default
    listener is 127.0.0.1)."""
    name = address.strip("[]").lower()
    if name in ("", "localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_wildcard(address: str) -> bool:
    return address.strip("[]") in ("0.0.0.0", "::")


def route_for(uri: str, endpoint: VncEndpoint, *, via_ssh: bool = False) -> Route:
    """How a console on this machine reaches ``endpoint``, a display on host ``uri``.

    Args:
        uri: the host's libvirt URI.
        endpoint: where the display listens (its live XML).
        via_ssh: tunnel through SSH even on a tcp/tls host (the user took the offer).
    """
    if is_local_uri(uri):
        return Route(RouteKind.LOCAL)
    if endpoint.listen_type in ("none", "socket"):
        what = "a Unix socket" if endpoint.listen_type == "socket" else "no network port"
        reason = (
            f"its display has {what} (listen type '{endpoint.listen_type}'), so only the "
            "host itself reaches it"
        )
        return Route(RouteKind.NONE, reason=reason, offer=Offer.LISTEN_LOCALHOST)
    if endpoint.port is None:
        return Route(RouteKind.NONE, reason="its display has no TCP port (yet)")
    address = endpoint.address.strip("[]")
    # What the host itself dials: a wildcard listener answers on its loopback.
    on_host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    if via_ssh or uri_transport(uri) in SSH_TRANSPORTS:
        return Route(RouteKind.TUNNEL, on_host, endpoint.port)
    host = parse_uri(uri).host.strip("[]")
    if _is_wildcard(address):
        return Route(RouteKind.TCP, host, endpoint.port)
    if is_loopback(on_host) and not is_loopback(host):
        reason = LOOPBACK_ONLY.format(address=on_host)
        return Route(RouteKind.NONE, reason=reason, offer=Offer.TUNNEL)
    # (a loopback display of a host on this machine: its loopback is ours)
    return Route(RouteKind.TCP, on_host, endpoint.port)
