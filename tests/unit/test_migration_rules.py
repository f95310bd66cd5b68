"""The checks a move passes before it starts, and the migration address."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

from vmgui.core.migration import (
    DestinationSide,
    MoveDisk,
    SourceSide,
    migration_refusals,
    migration_uri,
)

DISK = MoveDisk("vda", "/img/g/g.qcow2", 1 << 30, 1 << 20, False, "/img/base.qcow2")
SEED = MoveDisk("vdb", "/img/g/g-seed.iso", 1 << 19, 1 << 19, True)
SRC = SourceSide("g", "u1", True, "qemu", "", ("default",), (DISK, SEED))


BASE = DestinationSide(
    display_name="host2",
    pools={"/img/g": "lab"},
    existing=frozenset(),
    networks=frozenset({"default"}),
    virt_types=("qemu",),
    name_taken=False,
    uuid_taken=False,
)


def _dst(**changes: Any) -> DestinationSide:
    return dataclasses.replace(BASE, **changes)


def test_a_destination_with_everything_passes() -> None:
    assert migration_refusals(SRC, _dst(), network_map={}) == ()


def test_each_gap_is_one_line_naming_it() -> None:
    got = migration_refusals(
        SRC,
        _dst(
            pools={},
            networks=frozenset(),
            virt_types=("kvm",),
            name_taken=True,
        ),
        network_map={},
    )
    assert got == (
        "host2 already has a guest named g (or with its UUID)",
        "host2 has no network 'default': map it with --network-map default=NETWORK or default=user",
        "host2 cannot run qemu guests (kvm)",
        "host2 has no active storage pool at /img/g (for vda): create one there",
        "host2 has no active storage pool at /img/g (for vdb): create one there",
    )


def test_mapping_detaching_and_offline_pools() -> None:
    dst = _dst(networks=frozenset({"lan"}), pools={"/other": "default"})
    assert (
        migration_refusals(SRC, dst, network_map={"default": "user"}, fallback_pool="default") == ()
    )
    assert "mapped to it" in migration_refusals(SRC, dst, network_map={"default": "wan"})[0]
    lab = _dst(existing=frozenset({DISK.path}))
    assert migration_refusals(SRC, lab, network_map={}) == (
        "host2 already has a file at /img/g/g.qcow2 (for vda)",
    )
    iso = MoveDisk("sda", "/img/g/x.iso", 9 << 30, 9 << 30, True, cdrom=True)
    big = SourceSide("g", "u1", True, "qemu", "", (), (DISK, iso))
    assert migration_refusals(big, _dst(), network_map={}) == ()  # streamed, whatever its size
    # a shared installer ISO the destination has at the same path is used there, not refused
    assert migration_refusals(big, _dst(existing=frozenset({iso.path})), network_map={}) == ()
    loose = SourceSide("g", "u1", True, "qemu", "", (), (DISK, replace(iso, in_pool=False)))
    assert migration_refusals(loose, _dst(), network_map={}) == (
        "sda (/img/g/x.iso) is not a volume in a storage pool of the source, so it cannot be "
        "streamed: detach it (--detach-readonly) or put it in a pool",
    )
    assert migration_refusals(loose, _dst(), network_map={}, detach_readonly=True) == ()


def test_cpu_passthrough_between_different_cpus() -> None:
    src = SourceSide("g", "u", True, "kvm", "host-passthrough", (), (), "Intel Skylake")
    got = migration_refusals(src, _dst(virt_types=("kvm",), cpu_model="AMD EPYC"), network_map={})
    assert got == ("the guest passes the host CPU through (Intel Skylake); host2 has AMD EPYC",)


def test_migration_uri_takes_the_destination_host_or_the_local_address() -> None:
    assert migration_uri("qemu+tcp://127.0.0.1:16519/system", "10.0.0.5") == "tcp://127.0.0.1"
    assert migration_uri("qemu:///system", "127.0.0.1") == "tcp://127.0.0.1"
    assert migration_uri("qemu+ssh://root@[fd00::2]/system", "x") == "tcp://[fd00::2]"
    assert migration_uri("qemu:///system", "fd00::1") == "tcp://[fd00::1]"
