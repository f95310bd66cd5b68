"""Moving a guest between hosts: what both sides must offer, checked before anything starts.

libvirt fails late and cryptically when a destination lacks what a guest uses (a network: "no
network with matching name 'default'"; a read-only disk it does not copy: "Cannot access
storage file …-seed.iso"; a disk folder without a pool: "no storage pool with matching target
path"). :func:`migration_refusals` lists each such gap in one line that names it, from facts
read on both hosts, so that a move is refused before it starts. :func:`migration_uri` is the
address libvirt is given for the migration stream (``VIR_MIGRATE_PARAM_URI``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from vmgui.core.provisioning import USER_NETWORK, StepTiming
from vmgui.core.validation import parse_uri


@dataclass(frozen=True, slots=True)
class MoveDisk:
    """A disk of the guest being moved.

    Attributes:
        target: the device ("vda").
        path: its file on the source.
        capacity: its virtual size.
        size: bytes in its file (read-only disks: what is carried).
        readonly: read-only (a seed or ISO: libvirt does not copy it).
        backing: the backing file ("" for none; never deleted after a move).
        cdrom: a CD-ROM drive (detaching it ejects its medium; the drive stays).
        in_pool: a volume in a storage pool of the source (what vmgui can stream).
    """

    target: str
    path: str
    capacity: int
    size: int
    readonly: bool
    backing: str = ""
    cdrom: bool = False
    in_pool: bool = True

    @property
    def folder(self) -> str:
        """The disk's folder."""
        return posixpath.dirname(self.path)


@dataclass(frozen=True, slots=True)
class SourceSide:
    """What the source says about the guest.

    Attributes:
        name: the guest's name.
        uuid: its UUID.
        active: running or paused.
        domain_type: "kvm", "qemu", ...
        cpu_mode: "host-passthrough", "host-model", "custom" or "".
        networks: the libvirt networks its interfaces use.
        disks: its disks with storage.
        cpu_model: the source host's CPU model ("" if unknown).
    """

    name: str
    uuid: str
    active: bool
    domain_type: str
    cpu_mode: str
    networks: tuple[str, ...]
    disks: tuple[MoveDisk, ...]
    cpu_model: str = ""


@dataclass(frozen=True, slots=True)
class DestinationSide:
    """What the destination offers.

    Attributes:
        display_name: the host's name for messages.
        pools: active pools' target folders -> pool name.
        existing: paths of volumes that already exist in those pools.
        networks: its networks' names.
        virt_types: the domain types it runs ("kvm", "qemu").
        name_taken: a guest of that name exists there.
        uuid_taken: a guest with that UUID exists there.
        cpu_model: its CPU model ("" if unknown).
    """

    display_name: str
    pools: Mapping[str, str]
    existing: frozenset[str]
    networks: frozenset[str]
    virt_types: tuple[str, ...]
    name_taken: bool
    uuid_taken: bool
    cpu_model: str = ""


def migration_refusals(
    src: SourceSide,
    dst: DestinationSide,
    *,
    network_map: Mapping[str, str],
    detach_readonly: bool = False,
    fallback_pool: str = "",
) -> tuple[str, ...]:
    """Every reason the move cannot start (empty when it can), one line each.

    Args:
        src: the guest on the source.
        dst: the destination.
        network_map: source network -> destination network (or "user").
        detach_readonly: read-only disks are dropped (CD-ROMs ejected) rather than carried.
        fallback_pool: an offline move's pool for disks whose folder has none there ("" for
            a live move: libvirt makes each disk at its own path).
    """
    where = dst.display_name
    out: list[str] = []
    if dst.name_taken or dst.uuid_taken:
        out.append(f"{where} already has a guest named {src.name} (or with its UUID)")
    for network in src.networks:
        mapped = network_map.get(network, network)
        if mapped != USER_NETWORK and mapped not in dst.networks:
            out.append(
                f"{where} has no network {mapped!r}"
                + (f" (the guest's {network!r} is mapped to it)" if mapped != network else "")
                + f": map it with --network-map {network}=NETWORK or {network}={USER_NETWORK}"
            )
    if src.domain_type and dst.virt_types and src.domain_type not in dst.virt_types:
        out.append(f"{where} cannot run {src.domain_type} guests ({', '.join(dst.virt_types)})")
    if (
        src.active
        and src.cpu_mode == "host-passthrough"
        and src.cpu_model
        and dst.cpu_model
        and src.cpu_model != dst.cpu_model
    ):
        out.append(
            f"the guest passes the host CPU through ({src.cpu_model}); {where} has {dst.cpu_model}"
        )
    for disk in src.disks:
        if disk.readonly and detach_readonly:
            continue
        if reuses_medium(disk, dst):
            continue
        if disk.folder not in dst.pools and fallback_pool not in dst.pools.values():
            out.append(
                f"{where} has no active storage pool at {disk.folder} (for {disk.target}): "
                "create one there"
            )
        elif disk.path in dst.existing and not fallback_pool:
            out.append(f"{where} already has a file at {disk.path} (for {disk.target})")
        if not disk.in_pool and (disk.readonly or fallback_pool):
            out.append(
                f"{disk.target} ({disk.path}) is not a volume in a storage pool of the source, "
                "so it cannot be streamed: "
                + ("detach it (--detach-readonly) or " if disk.readonly else "")
                + "put it in a pool"
            )
    return tuple(out)


def reuses_medium(disk: MoveDisk, dst: DestinationSide) -> bool:
    """A CD-ROM medium the destination already has at the same path (a shared installer ISO):
    used there as it is, not carried."""
    return disk.cdrom and disk.path in dst.existing


def migration_uri(destination_uri: str, local_address: str) -> str:
    """The address the source's QEMU sends the guest to: ``tcp://HOST``.

    The destination URI's host, or, for a URI without one (``qemu:///system``: this machine),
    ``local_address``: the address of this machine as the source reaches it.
    """
    host = parse_uri(destination_uri).host or local_address
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}"


@dataclass(frozen=True, slots=True)
class MoveResult:
    """A guest moved to another host.

    Attributes:
        name: the guest.
        uuid: its UUID (the same on both hosts).
        source_uri: where it was.
        destination_uri: where it is.
        live: moved running (live migration) rather than shut off.
        timings: per step.
        removed: what was deleted on the source afterwards (its definition, disk paths).
        warnings: things worth telling.
    """

    name: str
    uuid: str
    source_uri: str
    destination_uri: str
    live: bool
    timings: tuple[StepTiming, ...]
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def total_seconds(self) -> float:
        """The whole move's wall time."""
        return sum(t.seconds for t in self.timings)
