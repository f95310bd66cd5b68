"""Virtual networks as the Networks view and ``vmgui-cli networks`` show them, and the rules
for a new one: a valid IPv4 subnet that overlaps no network the host defines (active or not),
or a free /24 picked in 192.168.100-254.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from vmgui.core.validation import ValidationError

#: The modes a new network may have: NAT to the host's uplink, or isolated (no ``<forward>``).
NEW_MODES = ("nat", "isolated")
#: Where a subnet is picked when none is given: 192.168.N.0/24 for N in this range.
PICK_RANGE = range(100, 255)
#: The largest prefix that still leaves room for a gateway and a DHCP range.
MAX_PREFIX = 29


@dataclass(frozen=True, slots=True)
class VirtualNetwork:
    """One virtual network.

    Attributes:
        name: its name.
        uuid: its UUID.
        mode: "nat", "route", "isolated" (no ``<forward>``), "bridge", "open", ...
        active: whether it runs.
        autostart: whether libvirt starts it with the daemon.
        persistent: whether it is defined (not only started).
        bridge: the host bridge, e.g. "virbr0", or "".
        subnets: its IPv4 subnets in CIDR notation, e.g. ("192.168.122.0/24",).
        dhcp_ranges: its DHCP ranges as (first, last) addresses.
        guests: the guests with a NIC on it, sorted.
    """

    name: str
    uuid: str
    mode: str
    active: bool
    autostart: bool
    persistent: bool
    bridge: str = ""
    subnets: tuple[str, ...] = ()
    dhcp_ranges: tuple[tuple[str, str], ...] = ()
    guests: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DhcpLease:
    """One DHCP lease a network's dnsmasq handed out (``virNetwork.DHCPLeases()``).

    Attributes:
        mac: the guest NIC's MAC address.
        ip: the leased address.
        prefix: the subnet's prefix length.
        hostname: what the guest called itself, or "".
        expiry: when the lease ends (seconds since the epoch).
    """

    mac: str
    ip: str
    prefix: int
    hostname: str
    expiry: int


@dataclass(frozen=True, slots=True)
class AttachedNic:
    """A guest's NIC on a network (what the Networks view lists as attached, and detaches).

    Attributes:
        guest: the guest's name.
        uuid: its UUID.
        mac: the NIC's MAC address.
        running: whether the guest runs (the NIC is then detached live too).
        persistent: whether the guest has a saved config (the NIC leaves it too).
        nics: how many NICs the guest has in all (1: this is its only one).
    """

    guest: str
    uuid: str
    mac: str
    running: bool
    persistent: bool = True
    nics: int = 1


def detach_question(nic: AttachedNic, network: str) -> str:
    """What Detach asks: which NIC, from where (live, config), and a warning for the only NIC."""
    where = [
        part
        for flag, part in (
            (nic.running, "the running guest now"),
            (nic.persistent, "its saved config"),
        )
        if flag
    ]
    text = (
        f"Detach NIC {nic.mac} of {nic.guest} from network {network}? "
        f"It is removed from {' and from '.join(where)}."
    )
    if nic.nics <= 1:
        text += f" It is {nic.guest}'s only network interface: {nic.guest} will have no network."
    return text


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """The addresses of a new network.

    Attributes:
        subnet: the subnet.
        gateway: the host's address on it (the first host address).
        dhcp_first: the first address DHCP hands out.
        dhcp_last: the last one.
        picked: True when vmgui chose the subnet (none was given).
    """

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    dhcp_first: ipaddress.IPv4Address
    dhcp_last: ipaddress.IPv4Address
    picked: bool = False


def validate_mode(mode: str) -> str:
    """Check a new network's mode (:data:`NEW_MODES`)."""
    if mode not in NEW_MODES:
        raise ValidationError("Mode", f"Mode must be nat or isolated (got {mode!r}).")
    return mode


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """An IPv4 subnet in CIDR notation ("192.168.150.0/24"); host bits must be zero.

    Raises:
        ValidationError: not IPv4 CIDR, host bits set, or too small for a gateway and DHCP.
    """
    stripped = text.strip()
    if "/" not in stripped:
        raise ValidationError(
            "Subnet", f"Subnet {stripped!r} needs a prefix length, e.g. 192.168.150.0/24."
        )
    try:
        subnet = ipaddress.ip_network(stripped, strict=True)
    except ValueError as exc:
        raise ValidationError("Subnet", f"Subnet {stripped!r} is not valid: {exc}.") from None
    if not isinstance(subnet, ipaddress.IPv4Network):
        raise ValidationError("Subnet", f"Subnet {stripped!r} is not IPv4 (vmgui makes IPv4 ones).")
    if subnet.prefixlen > MAX_PREFIX:
        raise ValidationError(
            "Subnet", f"Subnet {stripped} is too small: at most /{MAX_PREFIX} leaves room for DHCP."
        )
    if subnet.is_loopback or subnet.is_multicast or subnet.is_link_local:
        raise ValidationError("Subnet", f"Subnet {stripped} is reserved ({_kind(subnet)}).")
    return subnet


def _kind(subnet: ipaddress.IPv4Network) -> str:
    if subnet.is_loopback:
        return "loopback"
    if subnet.is_multicast:
        return "multicast"
    return "link-local"


def overlapping(
    subnet: ipaddress.IPv4Network, networks: Iterable[VirtualNetwork]
) -> tuple[str, str] | None:
    """The first (network name, its subnet) that overlaps ``subnet``, or None."""
    for network in networks:
        for other in network.subnets:
            try:
                theirs = ipaddress.ip_network(other, strict=False)
            except ValueError:
                continue
            if isinstance(theirs, ipaddress.IPv4Network) and subnet.overlaps(theirs):
                return network.name, other
    return None


def plan_network(subnet_text: str | None, networks: Iterable[VirtualNetwork]) -> NetworkPlan:
    """The addresses of a new network on ``subnet_text``, or on a free /24 when None.

    ``networks`` are every network the host defines, active or not.

    Raises:
        ValidationError: a bad subnet, one that overlaps a defined network (named), or no
            free /24 left in 192.168.100-254.
    """
    known = list(networks)
    if subnet_text is None or not subnet_text.strip():
        for n in PICK_RANGE:
            candidate = ipaddress.IPv4Network(f"192.168.{n}.0/24")
            if overlapping(candidate, known) is None:
                return _plan(candidate, picked=True)
        raise ValidationError(
            "Subnet", "Every /24 in 192.168.100-254 is taken: give one with --subnet."
        )
    subnet = parse_subnet(subnet_text)
    clash = overlapping(subnet, known)
    if clash is not None:
        raise ValidationError(
            "Subnet", f"Subnet {subnet} overlaps network {clash[0]!r} ({clash[1]})."
        )
    return _plan(subnet)


def _plan(subnet: ipaddress.IPv4Network, picked: bool = False) -> NetworkPlan:
    hosts = list(subnet.hosts()) if subnet.num_addresses <= 1 << 16 else None
    if hosts is not None:
        return NetworkPlan(subnet, hosts[0], hosts[1], hosts[-1], picked)
    first = subnet.network_address
    return NetworkPlan(subnet, first + 1, first + 2, subnet.broadcast_address - 1, picked)
