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
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import OpenHost, Run
from tests.integration.isoguest import LEASE, READY, IsoGuests
from tests.integration.lab import Lab
from tests.ui.helpers import FakeDialogs
from vmgui.core.errors import VmguiError
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.ui.networks.window import NetworksWindow
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


@pytest.fixture
def isolated_net(lab: Lab) -> Iterator[str]:
    """An ``isolation-*`` network name for the UI test; removed afterwards, also on failure."""
    name = f"isolation-{lab.session}-detach"
    yield name
    with contextlib.suppress(libvirt.libvirtError):
        net = lab.conn().networkLookupByName(name)
        with contextlib.suppress(libvirt.libvirtError):
            net.destroy()
        net.undefine()


def test_networks_window_detaches_a_guest_nic(
    lab: Lab, iso: IsoGuests, qtbot: QtBot, qloop: Run, isolated_net: str
) -> None:
    """Networks window → Attached guests → Detach NIC…: confirmed, the NIC leaves the running
    guest and its saved config; the guest's last NIC on it then asks with the only-NIC
    warning (cancelled here: nothing changes)."""
    nic = (
        f"<interface type='network'><source network='{isolated_net}'/>"
        "<model type='virtio'/></interface>"
    )
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.show()
    controller.add_host(lab.uri, save=False)
    try:
        qloop(controller.connect_host(lab.uri))
        host = controller.host(lab.uri)
        qloop(create_network(host, isolated_net, "isolated"))
        guest = iso.define("idle", disk=False, nic=nic + nic)
        dom = iso.domain(guest)
        dom.create()
        qloop(wait_until(lambda: READY in guest.console(), 60))
        first, second = (n.mac for n in parse_domain_xml(dom.XMLDesc(0)).nics)
        win.window_actions.networks.trigger()
        view = win.findChild(NetworksWindow, "networksWindow")
        assert isinstance(view, NetworksWindow)
        qloop(wait_until(lambda: isolated_net in [n.name for n in view.networks.rows], 10))
        view.network_view.selectRow([n.name for n in view.networks.rows].index(isolated_net))
        qloop(wait_until(lambda: len(view.attached.rows) == 2, 10))
        assert [(n.guest, n.mac, n.running, n.nics) for n in view.attached.rows] == sorted(
            [(guest.name, first, True, 2), (guest.name, second, True, 2)]
        )
        macs = [n.mac for n in view.attached.rows]
        view.attached_view.selectRow(macs.index(second))
        view.detach_button.click()
        qloop(wait_until(lambda: len(dialogs.confirms) == 1, 5))
        assert "from the running guest now and from its saved config" in dialogs.confirms[0]

        def gone() -> bool:
            live = [n.mac for n in parse_domain_xml(dom.XMLDesc(0)).nics]
            inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            saved = [n.mac for n in parse_domain_xml(inactive).nics]
            return live == [first] and saved == [first]

        qloop(wait_until(gone, 30))
        view.refresh()
        qloop(wait_until(lambda: [n.mac for n in view.attached.rows] == [first], 10))
        assert not dialogs.errors
        dialogs.confirm_answer = False
        view.attached_view.selectRow(0)
        view.detach_button.click()
        qloop(wait_until(lambda: len(dialogs.confirms) == 2, 5))
        assert f"It is {guest.name}'s only network interface" in dialogs.confirms[1]
        assert [n.mac for n in parse_domain_xml(dom.XMLDesc(0)).nics] == [first]
        view.close()
    finally:
        qloop(controller.close_all())
