"""New networks' subnet rules and the network documents, without a host."""

from __future__ import annotations

import ipaddress

import pytest

from vmgui.core.networks import VirtualNetwork, parse_subnet, plan_network
from vmgui.core.validation import ValidationError
from vmgui.core.xml.network import (
    interface_xml_by_mac,
    network_interface_xml,
    network_xml,
    read_network_description,
)


def _net(name: str, *subnets: str, active: bool = True) -> VirtualNetwork:
    return VirtualNetwork(name, "", "nat", active, False, True, subnets=subnets)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("192.168.1.0", "needs a prefix length"),
        ("192.168.1.1/24", "has host bits set"),
        ("fd00::/64", "not IPv4"),
        ("10.0.0.0/30", "too small"),
        ("127.0.0.0/8", "reserved (loopback)"),
        ("banana/24", "is not valid"),
    ],
)
def test_bad_subnets(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_subnet(text)


def test_overlap_with_any_defined_network_active_or_not() -> None:
    nets = [_net("default", "192.168.122.0/24"), _net("lab", "10.10.0.0/16", active=False)]
    with pytest.raises(ValidationError, match=r"overlaps network 'lab' \(10\.10\.0\.0/16\)"):
        plan_network("10.10.5.0/24", nets)
    with pytest.raises(ValidationError, match="overlaps network 'default'"):
        plan_network("192.168.0.0/16", nets)
    plan = plan_network("192.168.150.0/24", nets)
    assert (str(plan.gateway), str(plan.dhcp_first), str(plan.dhcp_last)) == (
        "192.168.150.1",
        "192.168.150.2",
        "192.168.150.254",
    )
    assert not plan.picked


def test_pick_the_first_free_slash_24() -> None:
    nets = [_net("a", "192.168.100.0/24"), _net("b", "192.168.101.0/25", active=False)]
    plan = plan_network(None, nets)
    assert plan.picked and plan.subnet == ipaddress.IPv4Network("192.168.102.0/24")
    full = [_net("all", "192.168.0.0/16")]
    with pytest.raises(ValidationError, match="is taken"):
        plan_network(None, full)


def test_documents_round_trip() -> None:
    plan = plan_network("10.20.30.0/24", [])
    isolated = read_network_description(network_xml("iso", "isolated", plan))
    assert isolated.mode == "isolated"
    assert isolated.subnets == ("10.20.30.0/24",)
    assert isolated.dhcp_ranges == (("10.20.30.2", "10.20.30.254"),)
    nat = network_xml("n", "nat", plan)
    assert '<forward mode="nat"' in nat and read_network_description(nat).mode == "nat"
    assert "<forward" not in network_xml("iso", "isolated", plan)
    nic = network_interface_xml("iso")
    assert 'type="network"' in nic and 'network="iso"' in nic
    domain = (
        "<domain><name>d</name><devices><interface type='network'>"
        "<mac address='52:54:00:00:00:01'/><source network='iso'/></interface>"
        "<interface type='user'><mac address='52:54:00:00:00:02'/></interface>"
        "</devices></domain>"
    )
    found = interface_xml_by_mac(domain, "52:54:00:00:00:01")
    assert 'network="iso"' in found and "00:02" not in found
    assert interface_xml_by_mac(domain, "52:54:00:00:00:99") == ""
