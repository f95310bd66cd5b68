"""Virtual networks on a host: list, leases, create NAT/isolated, start/stop/autostart/delete,
and attach or detach a guest's NIC.

Each public function runs its checks and its action in one :meth:`HostConnection.call`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.networks import (
    AttachedNic,
    DhcpLease,
    NetworkPlan,
    VirtualNetwork,
    plan_network,
    validate_mode,
)
from vmgui.core.validation import ValidationError, validate_guest_name
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.core.xml.network import (
    interface_xml_by_mac,
    network_interface_xml,
    network_xml,
    read_network_description,
)
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection


@dataclass(frozen=True, slots=True)
class CreatedNetwork:
    """What :func:`create_network` made.

    Attributes:
        network: the new network (running).
        plan: its addresses; ``plan.picked`` says vmgui chose the subnet.
    """

    network: VirtualNetwork
    plan: NetworkPlan


async def fetch_networks(host: HostConnection) -> list[VirtualNetwork]:
    """Every network of the host, inactive ones too, with the guests attached."""
    return await host.call(
        list_networks_blocking, f"Could not list the networks of {host.display_name}"
    )


async def fetch_leases(host: HostConnection, name: str) -> list[DhcpLease]:
    """The DHCP leases of a running network."""
    return await host.call(
        lambda c: leases_blocking(c, name), f"Could not read the DHCP leases of {name}"
    )


async def create_network(
    host: HostConnection, name: str, mode: str, subnet: str | None = None
) -> CreatedNetwork:
    """Define and start a NAT or isolated network (on a free /24 when ``subnet`` is None).

    Raises:
        VmguiError: a bad name, mode or subnet, an overlap (naming the network), or libvirt
            refused (the definition is removed again).
    """
    return await host.call(
        lambda c: create_network_blocking(c, name, mode, subnet), f"Could not create network {name}"
    )


async def start_network(host: HostConnection, name: str) -> VirtualNetwork:
    """Start an inactive network."""
    return await host.call(lambda c: _act(c, name, "start"), f"Could not start network {name}")


async def stop_network(host: HostConnection, name: str) -> VirtualNetwork:
    """Stop a network (refused while running guests are attached)."""
    return await host.call(lambda c: _act(c, name, "stop"), f"Could not stop network {name}")


async def set_network_autostart(host: HostConnection, name: str, on: bool) -> VirtualNetwork:
    """Start the network with the daemon, or not."""
    return await host.call(
        lambda c: _act(c, name, "autostart" if on else "no-autostart"),
        f"Could not change the autostart of network {name}",
    )


async def delete_network(host: HostConnection, name: str) -> None:
    """Stop and undefine a network (refused while any guest has a NIC on it)."""
    await host.call(lambda c: _act(c, name, "delete"), f"Could not delete network {name}")


async def attach_nic(host: HostConnection, uuid: str, network: str) -> str:
    """Give a guest a virtio NIC on ``network``: live when it runs, and in its config.

    Returns:
        The new NIC's MAC address.
    """
    try:
        return await host.call(
            lambda c: attach_nic_blocking(c, uuid, network),
            f"Could not attach {host.guest_name(uuid)} to network {network}",
        )
    finally:
        host.request_refresh(uuid)


async def detach_nic(host: HostConnection, uuid: str, mac: str) -> None:
    """Remove the guest's NIC with ``mac``: live when it runs, and from its config.

    A running guest releases a NIC when it acknowledges the unplug: libvirt may return before
    that, and the NIC then leaves the live definition a moment later.
    """
    try:
        await host.call(
            lambda c: detach_nic_blocking(c, uuid, mac),
            f"Could not detach NIC {mac} of {host.guest_name(uuid)}",
        )
    finally:
        host.request_refresh(uuid)


async def fetch_attached(host: HostConnection, network: str) -> list[AttachedNic]:
    """Every guest NIC on ``network`` (live NICs of running guests, config ones of others)."""
    return await host.call(
        lambda c: attached_nics_blocking(c, network),
        f"Could not list the guests on network {network}",
    )


# -- blocking (worker thread) -------------------------------------------------------------------


def _attached(conn: libvirt.virConnect) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Network name -> guests with a NIC on it; and -> the running ones among them."""
    users: dict[str, set[str]] = {}
    running: dict[str, set[str]] = {}
    for dom in conn.listAllDomains(0):
        try:
            details = parse_domain_xml(dom.XMLDesc(0))
            active = bool(dom.isActive())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                continue
            raise
        for nic in details.nics:
            if nic.type == "network" and nic.source:
                users.setdefault(nic.source, set()).add(details.name)
                if active:
                    running.setdefault(nic.source, set()).add(details.name)
    return users, running


def _snapshot(net: libvirt.virNetwork, guests: set[str]) -> VirtualNetwork:
    desc = read_network_description(net.XMLDesc(0))
    return VirtualNetwork(
        name=net.name(),
        uuid=net.UUIDString(),
        mode=desc.mode,
        active=bool(net.isActive()),
        autostart=bool(net.autostart()),
        persistent=bool(net.isPersistent()),
        bridge=desc.bridge,
        subnets=desc.subnets,
        dhcp_ranges=desc.dhcp_ranges,
        guests=tuple(sorted(guests)),
    )


def list_networks_blocking(conn: libvirt.virConnect) -> list[VirtualNetwork]:
    """Every network, inactive ones too (blocking)."""
    users, _running = _attached(conn)
    nets = [_snapshot(n, users.get(n.name(), set())) for n in conn.listAllNetworks(0)]
    return sorted(nets, key=lambda n: n.name)


def leases_blocking(conn: libvirt.virConnect, name: str) -> list[DhcpLease]:
    """A network's DHCP leases (blocking); none while it is stopped."""
    net = conn.networkLookupByName(name)
    if not net.isActive():
        return []
    leases = [
        DhcpLease(
            mac=str(lease.get("mac", "")),
            ip=str(lease.get("ipaddr", "")),
            prefix=int(lease.get("prefix", 0)),
            hostname=str(lease.get("hostname") or ""),
            expiry=int(lease.get("expirytime", 0)),
        )
        for lease in net.DHCPLeases()
    ]
    return sorted(leases, key=lambda lease: lease.ip)


def create_network_blocking(
    conn: libvirt.virConnect, name: str, mode: str, subnet: str | None
) -> CreatedNetwork:
    """Check, define and start a network; undefine it again if starting fails (blocking)."""
    summary = f"Could not create network {name}"
    existing = list_networks_blocking(conn)
    try:
        name = validate_guest_name(name)
        validate_mode(mode)
        if any(n.name == name for n in existing):
            raise ValidationError("Name", f"A network named {name} exists already.")
        plan = plan_network(subnet, existing)
    except ValidationError as exc:
        raise VmguiError(summary, exc.message) from exc
    net = conn.networkDefineXML(network_xml(name, mode, plan))
    try:
        net.create()
    except libvirt.libvirtError:
        with contextlib.suppress(libvirt.libvirtError):
            net.undefine()
        raise
    return CreatedNetwork(_snapshot(net, set()), plan)


def _act(conn: libvirt.virConnect, name: str, action: str) -> VirtualNetwork:
    net = conn.networkLookupByName(name)
    users, running = _attached(conn)
    blocking = running.get(name, set()) if action == "stop" else users.get(name, set())
    if action in ("stop", "delete") and blocking:
        verb = "stopped" if action == "stop" else "deleted"
        raise VmguiError(
            f"Network {name} cannot be {verb}",
            f"guests are attached to it: {', '.join(sorted(blocking))}",
            "Detach their NICs (or shut the guests down) first.",
        )
    if action == "start":
        net.create()
    elif action == "stop" or (action == "delete" and net.isActive()):
        net.destroy()
    elif action in ("autostart", "no-autostart"):
        net.setAutostart(1 if action == "autostart" else 0)
    if action == "delete":
        with contextlib.suppress(libvirt.libvirtError):
            net.undefine()  # a transient network is gone once stopped
        return VirtualNetwork(name, "", "", False, False, False)
    return _snapshot(net, users.get(name, set()))


def _scope_flags(dom: libvirt.virDomain) -> int:
    flags = 0
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if dom.isPersistent():
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return flags


def attach_nic_blocking(conn: libvirt.virConnect, uuid: str, network: str) -> str:
    """Attach a NIC on ``network`` (blocking); returns its MAC."""
    conn.networkLookupByName(network)  # a clear "no network" error first
    dom = inspect.lookup(conn, uuid)
    before = {n.mac for n in parse_domain_xml(dom.XMLDesc(0)).nics}
    dom.attachDeviceFlags(network_interface_xml(network), _scope_flags(dom))
    after = parse_domain_xml(dom.XMLDesc(0)).nics
    new = [n.mac for n in after if n.mac not in before and n.source == network]
    return new[0] if new else ""


def detach_nic_blocking(conn: libvirt.virConnect, uuid: str, mac: str) -> None:
    """Detach the NIC with ``mac`` (blocking)."""
    dom = inspect.lookup(conn, uuid)
    xml = interface_xml_by_mac(dom.XMLDesc(0), mac)
    if not xml:
        raise VmguiError(f"Could not detach NIC {mac}", f"{dom.name()} has no NIC {mac}")
    dom.detachDeviceFlags(xml, _scope_flags(dom))


def attached_nics_blocking(conn: libvirt.virConnect, network: str) -> list[AttachedNic]:
    """The NICs on ``network``, sorted by guest then MAC (blocking)."""
    found = []
    for dom in conn.listAllDomains(0):
        try:
            details = parse_domain_xml(dom.XMLDesc(0))
            running, persistent = bool(dom.isActive()), bool(dom.isPersistent())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                continue
            raise
        for nic in details.nics:
            if nic.type == "network" and nic.source == network and nic.mac:
                found.append(
                    AttachedNic(
                        details.name,
                        dom.UUIDString(),
                        nic.mac,
                        running,
                        persistent,
                        len(details.nics),
                    )
                )
    return sorted(found, key=lambda n: (n.guest, n.mac))
