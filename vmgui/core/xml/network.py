"""Virtual network documents: the one vmgui writes, what a network's XML says, and the
``<interface>`` elements that attach a guest to a network.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vmgui.core.networks import NetworkPlan
from vmgui.core.xml.base import parse_or_none, parse_root, serialize


def network_xml(name: str, mode: str, plan: NetworkPlan) -> str:
    """A NAT or isolated (no ``<forward>``) network with DHCP; libvirt names the bridge."""
    root = ET.Element("network")
    ET.SubElement(root, "name").text = name
    if mode == "nat":
        ET.SubElement(root, "forward", mode="nat")
    ET.SubElement(root, "bridge", stp="on", delay="0")
    ip = ET.SubElement(root, "ip", address=str(plan.gateway), netmask=str(plan.subnet.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=str(plan.dhcp_first), end=str(plan.dhcp_last))
    ET.indent(root)
    return serialize(root)


@dataclass(frozen=True, slots=True)
class NetworkDescription:
    """What a network's XML says (``virNetwork.XMLDesc()``).

    Attributes:
        mode: the ``<forward mode>`` ("nat" when absent from ``<forward>``), or "isolated"
            without a ``<forward>``.
        bridge: the bridge device, or "".
        subnets: IPv4 subnets in CIDR notation.
        dhcp_ranges: DHCP (first, last) addresses.
    """

    mode: str = ""
    bridge: str = ""
    subnets: tuple[str, ...] = ()
    dhcp_ranges: tuple[tuple[str, str], ...] = ()


def read_network_description(xml: str) -> NetworkDescription:
    """Read a virtual network document."""
    root = parse_or_none(xml, "network")
    if root is None:
        return NetworkDescription()
    forward = root.find("forward")
    mode = forward.get("mode", "nat") if forward is not None else "isolated"
    bridge = root.find("bridge")
    subnets: list[str] = []
    ranges: list[tuple[str, str]] = []
    for ip in root.iterfind("ip"):
        if ip.get("family", "ipv4") != "ipv4" or not ip.get("address"):
            continue
        mask = ip.get("netmask") or ip.get("prefix") or "24"
        try:
            subnets.append(str(ipaddress.ip_interface(f"{ip.get('address')}/{mask}").network))
        except ValueError:
            continue
        for r in ip.iterfind("dhcp/range"):
            ranges.append((r.get("start", ""), r.get("end", "")))
    return NetworkDescription(
        mode=mode,
        bridge=bridge.get("name", "") if bridge is not None else "",
        subnets=tuple(subnets),
        dhcp_ranges=tuple(ranges),
    )


def network_interface_xml(network: str, model: str = "virtio") -> str:
    """An ``<interface type='network'>`` on ``network`` (libvirt picks the MAC)."""
    root = ET.Element("interface", type="network")
    ET.SubElement(root, "source", network=network)
    ET.SubElement(root, "model", type=model)
    return serialize(root)


def interface_xml_by_mac(domain_xml: str, mac: str) -> str:
    """The ``<interface>`` element of ``domain_xml`` with MAC ``mac`` (for a detach), or ""."""
    root = parse_root(domain_xml)
    for nic in root.iterfind("devices/interface"):
        found = nic.find("mac")
        if found is not None and found.get("address", "").lower() == mac.lower():
            nic.tail = None
            return serialize(nic)
    return ""
