"""How a console reaches a display (vmgui.core.consoleroute) and the XML it reads and writes."""

from __future__ import annotations

import pytest

from vmgui.core.consoleroute import (
    Offer,
    Route,
    RouteKind,
    SshEndpoint,
    is_loopback,
    route_for,
    ssh_endpoint,
)
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.display import VncEndpoint, listen_on_localhost_xml, vnc_endpoint

LOOPBACK = VncEndpoint("address", "127.0.0.1", 5901)
ANY = VncEndpoint("address", "0.0.0.0", 5902)
ANY6 = VncEndpoint("address", "::", 5903)
PUBLIC = VncEndpoint("address", "192.0.2.7", 5904)
DEFAULT = VncEndpoint("address", "", 5905)  # no listen attribute: qemu's 127.0.0.1
NONE = VncEndpoint("none")
SOCKET = VncEndpoint("socket", socket="/run/vnc.sock")
NO_PORT = VncEndpoint("address", "127.0.0.1", None)

SSH = "qemu+ssh://admin@far.example:2200/system?keyfile=/k/id&no_tty=1"
TCP = "qemu+tcp://far.example/system"


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu+unix:///session", "test:///default"])
@pytest.mark.parametrize("endpoint", [LOOPBACK, NONE, SOCKET, NO_PORT])
def test_local_hosts_use_libvirts_socket_whatever_the_listener(
    uri: str, endpoint: VncEndpoint
) -> None:
    assert route_for(uri, endpoint) == Route(RouteKind.LOCAL)


@pytest.mark.parametrize(
    ("endpoint", "address"),
    [
        (LOOPBACK, "127.0.0.1"),
        (ANY, "127.0.0.1"),
        (ANY6, "::1"),
        (PUBLIC, "192.0.2.7"),
        (DEFAULT, "127.0.0.1"),
    ],
)
@pytest.mark.parametrize("transport", ["ssh", "libssh2", "libssh"])
def test_ssh_hosts_tunnel_to_the_display_as_the_host_sees_it(
    endpoint: VncEndpoint, address: str, transport: str
) -> None:
    uri = f"qemu+{transport}://far.example/system"
    assert route_for(uri, endpoint) == Route(RouteKind.TUNNEL, address, endpoint.port or 0)


def test_tcp_host_loopback_display_says_so_and_offers_the_tunnel() -> None:
    route = route_for(TCP, LOOPBACK)
    assert route.kind is RouteKind.NONE and route.offer is Offer.TUNNEL
    assert route.reason == "the display listens on the host's 127.0.0.1 only"
    assert route_for(TCP, DEFAULT).offer is Offer.TUNNEL
    assert route_for("qemu+tls://far.example/system", LOOPBACK).offer is Offer.TUNNEL


def test_tcp_host_loopback_display_through_the_tunnel_when_chosen() -> None:
    assert route_for(TCP, LOOPBACK, via_ssh=True) == Route(RouteKind.TUNNEL, "127.0.0.1", 5901)


def test_tcp_host_reachable_displays_are_dialled_directly() -> None:
    assert route_for(TCP, ANY) == Route(RouteKind.TCP, "far.example", 5902)
    assert route_for(TCP, PUBLIC) == Route(RouteKind.TCP, "192.0.2.7", 5904)
    assert route_for("qemu+tcp://[2001:db8::1]/system", ANY6) == Route(
        RouteKind.TCP, "2001:db8::1", 5903
    )


def test_tcp_host_on_this_machine_reaches_its_loopback() -> None:
    uri = "qemu+tcp://127.0.0.1:16519/system"
    assert route_for(uri, LOOPBACK) == Route(RouteKind.TCP, "127.0.0.1", 5901)
    assert route_for("qemu+tcp://localhost/system", DEFAULT).kind is RouteKind.TCP


@pytest.mark.parametrize("uri", [SSH, TCP])
def test_display_without_a_port_offers_one_on_localhost(uri: str) -> None:
    for endpoint, words in (
        (NONE, "no network port (listen type 'none')"),
        (SOCKET, "a Unix socket (listen type 'socket')"),
    ):
        route = route_for(uri, endpoint)
        assert route.kind is RouteKind.NONE and route.offer is Offer.LISTEN_LOCALHOST
        assert words in route.reason


def test_display_with_no_port_yet_offers_nothing() -> None:
    route = route_for(SSH, NO_PORT)
    assert (route.kind, route.offer) == (RouteKind.NONE, Offer.NOTHING)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.1", False),
        ("far.example", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_ssh_endpoint_from_an_ssh_uri_is_what_libvirts_ssh_uses() -> None:
    uri = "qemu+ssh://admin@far.example:2200/system?keyfile=/k/my%20id&no_tty=1&command=/opt/ssh"
    assert ssh_endpoint(uri) == SshEndpoint(
        "admin", "far.example", 2200, keyfile="/k/my id", batch=True, command="/opt/ssh"
    )
    assert ssh_endpoint("qemu+ssh://far.example/system?no_verify=1") == SshEndpoint(
        "", "far.example", no_verify=True
    )


def test_ssh_endpoint_known_hosts_only_for_libssh2() -> None:
    libssh2 = "qemu+libssh2://u@[2001:db8::2]/system?known_hosts=/kh&sshauth=privkey"
    assert ssh_endpoint(libssh2) == SshEndpoint("u", "2001:db8::2", known_hosts="/kh")
    assert ssh_endpoint("qemu+ssh://u@h/system?known_hosts=/kh") == SshEndpoint("u", "h")


def test_ssh_endpoint_of_a_tcp_uri_keeps_user_and_host_only() -> None:
    assert ssh_endpoint("qemu+tcp://root@far.example:16509/system") == SshEndpoint(
        "root", "far.example"
    )
    assert ssh_endpoint("qemu:///system") is None
    assert ssh_endpoint("not a uri") is None


def test_endpoint_label() -> None:
    assert SshEndpoint("u", "h", 22).label == "u@h:22"
    assert SshEndpoint("", "h").label == "h"


# -- the XML ---------------------------------------------------------------------------------


def _domain(graphics: str) -> str:
    return f"<domain><name>g</name><devices>{graphics}<video/></devices></domain>"


def test_vnc_endpoint_of_live_xml() -> None:
    live = _domain(
        "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1' passwd='s3'>"
        "<listen type='address' address='127.0.0.1'/></graphics>"
    )
    assert vnc_endpoint(live) == VncEndpoint("address", "127.0.0.1", 5901, password="s3")
    network = "<graphics type='vnc' port='5900'><listen type='network' address='10.0.0.2' "
    assert vnc_endpoint(_domain(network + "network='lan'/></graphics>")) == VncEndpoint(
        "network", "10.0.0.2", 5900
    )


def test_vnc_endpoint_without_port_or_vnc() -> None:
    assert vnc_endpoint(_domain("<graphics type='vnc'><listen type='none'/></graphics>")) == NONE
    shut_off = _domain("<graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'/>")
    assert vnc_endpoint(shut_off) == VncEndpoint("address", "0.0.0.0", None)
    sock = _domain("<graphics type='vnc' socket='/run/v.sock'/>")
    assert vnc_endpoint(sock) == VncEndpoint("socket", socket="/run/v.sock")
    assert vnc_endpoint(_domain("<graphics type='spice' port='5900'/>")) is None


def test_listen_on_localhost_gives_the_display_a_loopback_port() -> None:
    xml = _domain("<graphics type='vnc' passwd='s3' keymap='de'><listen type='none'/></graphics>")
    new = listen_on_localhost_xml(xml)
    endpoint = vnc_endpoint(new)
    assert endpoint == VncEndpoint("address", "127.0.0.1", None, password="s3")
    assert "keymap='de'" in new.replace('"', "'") and "type='none'" not in new.replace('"', "'")
    assert "autoport" in new


def test_listen_on_localhost_refuses_a_guest_without_vnc() -> None:
    with pytest.raises(DomainXMLError, match="no VNC display"):
        listen_on_localhost_xml(_domain("<graphics type='spice'/>"))
