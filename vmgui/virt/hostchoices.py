"""What a new guest can be given on a host: networks, pools, volumes, domain types, templates.

The new-guest wizard offers these. Every ``fetch_*`` function awaits one
:meth:`~vmgui.virt.connection.HostConnection.call` (the blocking libvirt work runs on the host's
worker) and returns frozen snapshots.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import libvirt

from vmgui.core.model import GuestState, guest_state_from_libvirt
from vmgui.core.xml.base import DomainXMLError
from vmgui.core.xml.domain import is_writable_disk, parse_domain_xml, volume_key
from vmgui.core.xml.host import read_capabilities, read_network, read_pool, read_volume
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection


@dataclass(frozen=True, slots=True)
class NetworkChoice:
    """A libvirt network of the host.

    Attributes:
        name: the network's name.
        active: whether it runs now (an inactive one is started when the guest is defined).
        mode: its forward mode ("nat", "route", "bridge", ..., or "isolated").
    """

    name: str
    active: bool
    mode: str


@dataclass(frozen=True, slots=True)
class VolumeChoice:
    """A storage volume of the host.

    Attributes:
        pool: the pool's name.
        name: the volume's name.
        path: its path on the host.
        capacity: its virtual size in bytes.
        format: "qcow2", "raw", "iso", ... ("" when unknown).
        used_by: the guests whose disks use it (as a disk or a backing file).
    """

    pool: str
    name: str
    path: str
    capacity: int
    format: str
    used_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolChoice:
    """A storage pool of the host.

    Attributes:
        name: the pool's name.
        path: its target path ("" for pools without one).
        active: whether it runs now.
        available: free bytes (0 when inactive).
        volumes: the names of its volumes (empty when inactive).
    """

    name: str
    path: str
    active: bool
    available: int
    volumes: frozenset[str]


@dataclass(frozen=True, slots=True)
class VirtTypes:
    """The domain types the host offers for its own architecture.

    Attributes:
        arch: the host's architecture.
        types: e.g. ("qemu", "kvm"); empty when none is offered.
    """

    arch: str
    types: tuple[str, ...]

    @property
    def kvm(self) -> bool:
        """Whether hardware virtualisation is available."""
        return "kvm" in self.types


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    """A guest marked as a template.

    Attributes:
        uuid: the guest's UUID.
        name: its name.
        state: what the user sees (a clone needs it shut off).
        vcpus: its vCPUs (the clone's).
        memory_kib: its memory (the clone's).
        os_name: the OS it runs, or "".
        disks: how many writable disks a clone gets an overlay of.
    """

    uuid: str
    name: str
    state: GuestState
    vcpus: int
    memory_kib: int
    os_name: str
    disks: int


async def fetch_networks(host: HostConnection) -> tuple[NetworkChoice, ...]:
    """The host's libvirt networks, by name."""
    return await host.call(
        _networks_blocking, f"Could not list the networks of {host.display_name}"
    )


async def fetch_virt_types(host: HostConnection) -> VirtTypes:
    """The domain types (kvm, qemu) the host's capabilities offer (may take seconds)."""
    return await host.call(
        _virt_types_blocking,
        f"Could not read the capabilities of {host.display_name}",
        slow=True,
    )


async def fetch_pools(host: HostConnection) -> tuple[PoolChoice, ...]:
    """The host's storage pools with their free space and volume names."""
    return await host.call(
        _pools_blocking, f"Could not list the storage pools of {host.display_name}"
    )


async def fetch_volumes(host: HostConnection) -> tuple[VolumeChoice, ...]:
    """Every volume of the host's active pools, with the guests that use it."""
    return await host.call(
        _volumes_blocking, f"Could not list the storage volumes of {host.display_name}"
    )


async def fetch_templates(host: HostConnection) -> tuple[TemplateChoice, ...]:
    """The guests marked as templates, by name."""
    return await host.call(
        _templates_blocking, f"Could not list the templates of {host.display_name}"
    )


async def fetch_is_template(host: HostConnection, uuid: str) -> bool:
    """Whether guest ``uuid`` is marked as a template (in its persistent configuration)."""
    return await host.call(lambda c: _is_template_blocking(c, uuid), f"Could not read guest {uuid}")


# -- blocking (worker thread) ---------------------------------------------------------------


def _networks_blocking(conn: libvirt.virConnect) -> tuple[NetworkChoice, ...]:
    result = []
    for net in conn.listAllNetworks(0):
        mode = "isolated"
        with contextlib.suppress(libvirt.libvirtError):
            mode = read_network(net.XMLDesc(0)).forward_mode or "isolated"
        result.append(NetworkChoice(str(net.name()), bool(net.isActive()), mode))
    return tuple(sorted(result, key=lambda n: n.name))


def _virt_types_blocking(conn: libvirt.virConnect) -> VirtTypes:
    caps = read_capabilities(conn.getCapabilities())
    arch = caps.arch or str(conn.getInfo()[0])
    return VirtTypes(arch, caps.virt_types(arch))


def _pools_blocking(conn: libvirt.virConnect) -> tuple[PoolChoice, ...]:
    result = []
    for pool in conn.listAllStoragePools(0):
        path = ""
        with contextlib.suppress(libvirt.libvirtError):
            path = read_pool(pool.XMLDesc(0)).target_path
        active = bool(pool.isActive())
        available = 0
        volumes: frozenset[str] = frozenset()
        if active:
            with contextlib.suppress(libvirt.libvirtError):
                pool.refresh(0)
            with contextlib.suppress(libvirt.libvirtError):
                available = int(pool.info()[3])
                volumes = frozenset(str(v) for v in pool.listVolumes())
        result.append(PoolChoice(str(pool.name()), path, active, available, volumes))
    return tuple(sorted(result, key=lambda p: p.name))


def _volumes_blocking(conn: libvirt.virConnect) -> tuple[VolumeChoice, ...]:
    users: dict[str, list[str]] = {}
    for dom in conn.listAllDomains(0):
        with contextlib.suppress(libvirt.libvirtError, DomainXMLError):
            details = parse_domain_xml(dom.XMLDesc(0))
            for disk in details.disks:
                for key in (disk.source_key, *disk.backing_paths):
                    if key:
                        users.setdefault(key, []).append(details.name)
    result = []
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        pool_name = str(pool.name())
        with contextlib.suppress(libvirt.libvirtError):
            pool.refresh(0)
        for vol in pool.listAllVolumes(0):
            with contextlib.suppress(libvirt.libvirtError):
                path = str(vol.path())
                doc = read_volume(vol.XMLDesc(0))
                name = str(vol.name())
                used = users.get(path, []) + users.get(volume_key(pool_name, name), [])
                used_by = tuple(sorted(set(used)))
                result.append(
                    VolumeChoice(pool_name, name, path, doc.capacity, doc.format, used_by)
                )
    return tuple(sorted(result, key=lambda v: (v.pool, v.name)))


def _templates_blocking(conn: libvirt.virConnect) -> tuple[TemplateChoice, ...]:
    result = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT):
        with contextlib.suppress(libvirt.libvirtError, DomainXMLError):
            details = parse_domain_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            if not details.vmgui_template:
                continue
            state = guest_state_from_libvirt(dom.info()[0], bool(dom.hasManagedSaveImage(0)))
            writable = [d for d in details.disks if is_writable_disk(d)]
            result.append(
                TemplateChoice(
                    uuid=details.uuid,
                    name=details.name,
                    state=state,
                    vcpus=details.vcpus,
                    memory_kib=details.memory_kib,
                    os_name=details.os_name,
                    disks=len(writable),
                )
            )
    return tuple(sorted(result, key=lambda t: t.name))


def _is_template_blocking(conn: libvirt.virConnect, uuid: str) -> bool:
    dom = inspect.lookup(conn, uuid)
    return parse_domain_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).vmgui_template
