"""Virtual networks on the test driver: listing, create with overlap checks, delete refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import Recorder, Run
from vmgui.cli import main as cli_main
from vmgui.core.errors import VmguiError
from vmgui.virt.connection import HostConnection
from vmgui.virt.networks import (
    create_network,
    delete_network,
    fetch_networks,
    set_network_autostart,
    stop_network,
)


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    """A connected host on a private copy of the 60-guest node (networks default, isolated)."""
    the_host = HostConnection(fixture_uri("node50.xml"), Recorder(), keepalive=None)
    arun(the_host.connect())
    yield the_host
    arun(the_host.close())


def test_listing_modes_and_guests(host: HostConnection, arun: Run) -> None:
    nets = {n.name: n for n in arun(fetch_networks(host))}
    assert nets["default"].mode == "nat" and nets["default"].subnets == ("192.168.122.0/24",)
    assert nets["isolated"].mode == "isolated"
    assert "guest-04" in nets["isolated"].guests and len(nets["default"].guests) == 60


def test_create_checks_overlap_and_picks(host: HostConnection, arun: Run) -> None:
    with pytest.raises(VmguiError, match="overlaps network 'default'"):
        arun(create_network(host, "clash", "nat", "192.168.122.128/25"))
    with pytest.raises(VmguiError, match="overlaps network 'isolated'"):
        arun(create_network(host, "clash", "isolated", "192.168.100.64/26"))
    made = arun(create_network(host, "lab", "isolated"))
    assert made.plan.picked and str(made.plan.subnet) == "192.168.101.0/24"
    assert made.network.mode == "isolated" and made.network.active
    again = arun(create_network(host, "lab2", "nat"))
    assert str(again.plan.subnet) == "192.168.102.0/24"
    with pytest.raises(VmguiError, match="exists already"):
        arun(create_network(host, "lab", "nat", "10.1.0.0/24"))
    with pytest.raises(VmguiError, match="Mode must be"):
        arun(create_network(host, "x", "bridge", "10.2.0.0/24"))
    names = {n.name for n in arun(fetch_networks(host))}
    assert names == {"default", "isolated", "lab", "lab2"}, "refusals define nothing"
    arun(set_network_autostart(host, "lab", True))
    stopped = arun(stop_network(host, "lab"))
    assert not stopped.active and stopped.autostart
    # An inactive network still counts for the overlap check.
    with pytest.raises(VmguiError, match="overlaps network 'lab'"):
        arun(create_network(host, "clash", "nat", "192.168.101.0/24"))
    arun(delete_network(host, "lab"))
    assert "lab" not in {n.name for n in arun(fetch_networks(host))}


def test_delete_refused_while_guests_are_attached(host: HostConnection, arun: Run) -> None:
    with pytest.raises(VmguiError, match="guests are attached to it: guest-04, guest-05"):
        arun(delete_network(host, "isolated"))
    assert "isolated" in {n.name for n in arun(fetch_networks(host))}


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    uri = fixture_uri("node50.xml")
    assert cli_main(["networks", "--connect", uri, "--json"]) == 0
    data = {n["name"]: n for n in json.loads(capsys.readouterr().out)}
    assert data["isolated"]["mode"] == "isolated" and data["isolated"]["leases"] is None
    assert cli_main(["network", "create", "--connect", uri, "lab", "--isolated"]) == 0
    out = capsys.readouterr().out
    assert "picked a free subnet: 192.168.101.0/24" in out
    status = cli_main(
        ["network", "create", "--connect", uri, "x", "--nat", "--subnet", "10.0.0.1/8"]
    )
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1 and "host bits set" in err
    assert cli_main(["network", "delete", "--connect", uri, "isolated"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "guest-04" in err
