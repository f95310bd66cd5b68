"""Virtual networks on the real daemon: an isolated ``vmgui-iso-*`` network, a tiny guest
that asks it for DHCP, live NIC attach/detach, and the refusals.

The guest's init runs busybox ``udhcpc`` on eth0 (``isoguest.py``, job ``dhcp``) and prints
the address it was given; the lease must also be what libvirt's ``DHCPLeases()`` reports for
the guest's MAC (dnsmasq from Debian's ``dnsmasq-base`` serves it).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import libvirt
import pytest

from tests.conftest import wait_until
from tests.integration.helpers import OpenHost, Run
from tests.integration.isoguest import LEASE, IsoGuests
from tests.integration.lab import Lab
from vmgui.core.errors import VmguiError
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt.networks import (
    attach_nic,
    create_network,
    delete_network,
    detach_nic,
    fetch_leases,
    fetch_networks,
    stop_network,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def net_name(lab: Lab) -> Iterator[str]:
    """A ``vmgui-iso-*`` network name; the network is removed afterwards."""
    name = f"vmgui-iso-{lab.session}-net"
    yield name
    with contextlib.suppress(libvirt.libvirtError):
        net = lab.conn().networkLookupByName(name)
        with contextlib.suppress(libvirt.libvirtError):
            net.destroy()
        net.undefine()


@pytest.fixture
def iso(lab: Lab) -> Iterator[IsoGuests]:
    """The test's guest maker (its guests are removed afterwards)."""
    made = IsoGuests(lab)
    try:
        yield made
    finally:
        made.close()


def test_isolated_network_gives_a_guest_dhcp(
    lab: Lab, iso: IsoGuests, open_host: OpenHost, mrun: Run, net_name: str
) -> None:
    """No <forward>; the guest's udhcpc gets an address in the picked /24 and DHCPLeases()
    lists it for the guest's MAC; a NIC attaches and detaches live; while the guest is
    attached, stopping and deleting the network are refused, naming it."""
    host, _rec = open_host()

    async def scenario() -> None:
        made = await create_network(host, net_name, "isolated")
        assert made.plan.picked and made.network.active and made.network.mode == "isolated"
        assert "<forward" not in lab.conn().networkLookupByName(net_name).XMLDesc(0)
        guest = iso.define(
            "dhcp",
            disk=False,
            nic=f"<interface type='network'><source network='{net_name}'/>"
            "<model type='virtio'/></interface>",
        )
        dom = iso.domain(guest)
        mac = parse_domain_xml(dom.XMLDesc(0)).nics[0].mac
        dom.create()
        await wait_until(lambda: LEASE in guest.console(), 90)
        match = re.search(rf"{LEASE} (\S+)", guest.console())
        assert match is not None
        ip = match.group(1)
        assert ip.startswith(str(made.plan.subnet.network_address).rsplit(".", 1)[0] + ".")
        leases = await fetch_leases(host, net_name)
        assert [(lease.mac, lease.ip) for lease in leases] == [(mac, ip)]
        nets = {n.name: n for n in await fetch_networks(host)}
        assert nets[net_name].guests == (guest.name,)

        with pytest.raises(VmguiError, match=f"attached to it: {guest.name}"):
            await stop_network(host, net_name)
        with pytest.raises(VmguiError, match=f"attached to it: {guest.name}"):
            await delete_network(host, net_name)

        await host.refresh_guest(guest.uuid)
        second = await attach_nic(host, guest.uuid, net_name)
        assert second and second != mac
        live = [n.mac for n in parse_domain_xml(dom.XMLDesc(0)).nics]
        saved = parse_domain_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).nics
        assert second in live and second in [n.mac for n in saved]
        await detach_nic(host, guest.uuid, second)
        await wait_until(
            lambda: second not in [n.mac for n in parse_domain_xml(dom.XMLDesc(0)).nics], 30
        )
        iso.remove(guest)
        await delete_network(host, net_name)
        assert net_name not in {n.name for n in await fetch_networks(host)}

    mrun(scenario(), timeout=180)
