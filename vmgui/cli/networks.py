"""``vmgui-cli networks`` and ``vmgui-cli network create|delete``: a host's virtual networks."""

from __future__ import annotations

import argparse
import dataclasses

from vmgui.cli.common import Subparsers, add_connect, add_json, on_host, print_json
from vmgui.core.errors import VmguiError
from vmgui.core.networks import DhcpLease
from vmgui.virt.connection import HostConnection
from vmgui.virt.networks import create_network, delete_network, fetch_leases, fetch_networks

HELP_ORDER = 75


def add_parser(sub: Subparsers) -> None:
    """Add ``networks`` and ``network create|delete``."""
    listing = sub.add_parser("networks", help="list a host's virtual networks (inactive too)")
    add_connect(listing)
    add_json(listing)
    listing.set_defaults(run=on_host(run_networks))
    network = sub.add_parser("network", help="create or delete a virtual network")
    verbs = network.add_subparsers(dest="network_command", required=True)
    create = verbs.add_parser("create", help="create and start a NAT or isolated network")
    add_connect(create)
    create.add_argument("name", metavar="NAME")
    mode = create.add_mutually_exclusive_group(required=True)
    mode.add_argument("--nat", action="store_const", const="nat", dest="mode")
    mode.add_argument(
        "--isolated", action="store_const", const="isolated", dest="mode", help="no <forward>"
    )
    create.add_argument(
        "--subnet", metavar="CIDR", help="e.g. 192.168.150.0/24 (default: a free /24)"
    )
    add_json(create)
    create.set_defaults(run=on_host(run_create))
    delete = verbs.add_parser("delete", help="stop and undefine a network no guest uses")
    add_connect(delete)
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(run=on_host(run_delete))


async def run_networks(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli networks``."""
    networks = await fetch_networks(host)
    leases: dict[str, list[DhcpLease] | None] = {}
    for n in networks:
        if n.active:
            try:
                leases[n.name] = await fetch_leases(host, n.name)
            except VmguiError:  # the test driver has no DHCP leases
                leases[n.name] = None
    if args.json:
        data = []
        for n in networks:
            row = dataclasses.asdict(n)
            found = leases.get(n.name, [])
            row["leases"] = None if found is None else [dataclasses.asdict(x) for x in found]
            data.append(row)
        print_json(data)
        return 0
    print(
        f"{'NAME':<24} {'STATE':<8} {'AUTOSTART':<9} {'MODE':<8} {'BRIDGE':<10} "
        f"{'SUBNET':<18} {'LEASES':>6}  GUESTS"
    )
    for n in networks:
        print(
            f"{n.name:<24} {'active' if n.active else 'inactive':<8} "
            f"{'yes' if n.autostart else 'no':<9} {n.mode:<8} {n.bridge:<10} "
            f"{', '.join(n.subnets) or '-':<18} {_count(leases.get(n.name, [])):>6}  "
            f"{', '.join(n.guests)}"
        )
    return 0


def _count(leases: list[DhcpLease] | None) -> str:
    return "-" if leases is None else str(len(leases))


async def run_create(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli network create``."""
    made = await create_network(host, args.name, args.mode, args.subnet)
    if args.json:
        row = dataclasses.asdict(made.network)
        row["subnet_picked"] = made.plan.picked
        print_json(row)
        return 0
    how = "picked a free subnet: " if made.plan.picked else "subnet "
    print(
        f"created {made.network.mode} network {made.network.name} on {made.network.bridge}, "
        f"{how}{made.plan.subnet}, gateway {made.plan.gateway}, "
        f"DHCP {made.plan.dhcp_first}-{made.plan.dhcp_last}"
    )
    return 0


async def run_delete(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli network delete``."""
    await delete_network(host, args.name)
    print(f"deleted network {args.name}")
    return 0
