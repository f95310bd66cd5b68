"""Opening a guest's VNC console on any host: libvirt's socket, TCP, or an SSH tunnel.

:class:`VncOpener` decides the way (:func:`~vmgui.core.consoleroute.route_for`) from the host's
URI and where the display listens, connects, and handshakes a
:class:`~vmgui.virt.vnc.VncSession` with the encodings that suit the way: Raw first on a local
socket (cheapest CPU), Tight, ZRLE, then Raw over TCP or a tunnel (fewest bytes). When there
is no way, it raises :class:`NoRouteError` saying why and what would help: the tunnel (a
tcp/tls host whose display listens on its loopback only, when an SSH server answers there) or
a port on the host's 127.0.0.1 for a ``listen type='none'`` display (next boot).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from vmgui.core.consoleroute import Offer, Route, RouteKind, route_for, ssh_endpoint
from vmgui.core.errors import VmguiError
from vmgui.core.rfb import messages as msg
from vmgui.core.xml.display import VncEndpoint, VncListen, is_local_uri
from vmgui.virt.connection import HostConnection
from vmgui.virt.display import fetch_vnc_endpoints
from vmgui.virt.tunnel import SshTunnels, Tunnel, ssh_unavailable
from vmgui.virt.vnc import VncObserver, VncSession, open_vnc_session

#: Seconds a TCP connect to a display may take.
TCP_TIMEOUT = 10.0


class NoRouteError(VmguiError):
    """The console cannot reach the display from here.

    Attributes:
        offer: what would help (:class:`~vmgui.core.consoleroute.Offer`).
    """

    def __init__(self, summary: str, details: str, hint: str = "", *, offer: Offer) -> None:
        super().__init__(summary, details, hint)
        self.offer = offer


class VncOpener:
    """Opens guests' VNC sessions, on local and remote hosts.

    Args:
        tunnels: the process's SSH tunnels (remote ssh hosts, and tcp/tls hosts on request);
            None: no tunnels (a remote display then needs a reachable TCP listener).
    """

    def __init__(self, tunnels: SshTunnels | None) -> None:
        self._tunnels = tunnels

    @property
    def tunnels(self) -> SshTunnels | None:
        """The tunnels the opener uses."""
        return self._tunnels

    async def __call__(
        self, host: HostConnection, uuid: str, observer: VncObserver, *, via_ssh: bool = False
    ) -> VncSession:
        """The guest's VNC session, handshaken.

        Args:
            host: the guest's host.
            uuid: the guest.
            observer: told about frames, resizes and the end.
            via_ssh: tunnel through SSH even on a tcp/tls host (the user took the offer).

        Raises:
            NoRouteError: the display cannot be reached from here (with what would help).
            VmguiError: the guest does not run or has no VNC, or connecting failed.
        """
        if is_local_uri(host.uri):
            return await open_vnc_session(host, uuid, observer)
        name = host.guest_name(uuid)
        endpoints = await fetch_vnc_endpoints(host, uuid)
        if endpoints.live is None:
            # The local path says which display the guest has, or that it does not run.
            raise VmguiError(f"Could not open the console of {name}", f"{name} has no VNC display")
        route = route_for(host.uri, endpoints.live, via_ssh=via_ssh)
        if route.kind is RouteKind.NONE:
            raise await self._no_route(host.uri, name, route, endpoints.next_boot)
        tunnel: Tunnel | None = None
        if route.kind is RouteKind.TUNNEL:
            tunnel = await self._tunnel(host.uri, route, name)
            sock = tunnel.socket
        else:
            sock = await _connect(route.address, route.port, name)
        session = VncSession(
            sock,
            observer,
            encodings=msg.REMOTE_ENCODINGS,
            password=endpoints.live.password,
            name=name,
            on_end=tunnel.release if tunnel is not None else None,
        )
        try:
            await session.start()
        except VmguiError as exc:
            failure = await tunnel.failure() if tunnel is not None else ""
            if failure:
                summary = f"Could not open the console of {name}"
                raise VmguiError(summary, f"the SSH tunnel failed: {failure}") from exc
            raise
        return session

    async def _tunnel(self, uri: str, route: Route, name: str) -> Tunnel:
        endpoint = ssh_endpoint(uri)
        if self._tunnels is None or endpoint is None:
            summary = f"No console for {name} from here"
            raise VmguiError(summary, "vmgui opens no SSH tunnels in this window")
        return await self._tunnels.open(endpoint, route.address, route.port, uri=uri)

    async def _no_route(
        self, uri: str, name: str, route: Route, next_boot: VncEndpoint | None
    ) -> NoRouteError:
        summary = f"No console for {name} from here"
        reason, offer = route.reason, route.offer
        if offer is Offer.TUNNEL:
            endpoint = ssh_endpoint(uri)
            problem = await ssh_unavailable(endpoint) if endpoint is not None else "no host"
            if problem or self._tunnels is None:
                reason = f"{reason}, and no SSH tunnel can reach it: {problem or 'none offered'}"
                offer = Offer.NOTHING
            else:
                reason = f"{reason}; an SSH tunnel to the host can reach it"
        elif offer is Offer.LISTEN_LOCALHOST and _has_port(next_boot):
            reason = (
                f"{reason}. From its next start on (from shut off) it listens on the host's "
                f"{VncListen.LOCALHOST.value}, which this console reaches"
            )
            offer = Offer.NOTHING
        return NoRouteError(summary, reason, offer=offer)


def _has_port(endpoint: VncEndpoint | None) -> bool:
    return endpoint is not None and endpoint.listen_type not in ("none", "socket")


async def _connect(address: str, port: int, name: str) -> socket.socket:
    """A connected non-blocking TCP socket to ``address:port``."""
    loop = asyncio.get_running_loop()
    summary = f"Could not open the console of {name}"
    try:
        infos = await loop.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise VmguiError(summary, f"cannot resolve {address}: {exc}") from None
    family, kind, proto, _name, where = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, where), TCP_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        sock.close()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no answer"
        raise VmguiError(summary, f"cannot reach its display at {address}:{port}: {why}") from None
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
