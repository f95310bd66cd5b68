"""The host side of provisioning: blocking checks and changes (worker thread) and helpers.

Every ``*_blocking`` function takes a ``virConnect`` and runs on the host's worker
(:meth:`~vmgui.virt.connection.HostConnection.call`).
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass

import libvirt

from vmgui.core.catalog import ImageFormat
from vmgui.core.provisioning import (
    USER_NETWORK,
    ExistingVolume,
    ProvisionPlan,
    VirtType,
)
from vmgui.core.xml.host import read_capabilities, read_pool, read_volume
from vmgui.virt.storage import unless_missing

KNOWN_ARCHES = frozenset(
    {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"}
)


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What a plan is checked against (read in one worker call)."""

    cpus: int
    memory_kib: int
    arch: str
    virt_types: tuple[str, ...]
    name_taken: bool
    network_active: bool | None  # None: no such network
    pool_path: str | None  # None: no such pool
    taken_volumes: tuple[str, ...]
    import_path: str
    import_format: str


def base_volume_name(stem: str, digest: str, fmt: ImageFormat) -> str:
    """The name of a cached base image volume: identifies the image by its checksum."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:40] or "image"
    ext = {ImageFormat.QCOW2: "qcow2", ImageFormat.RAW: "img", ImageFormat.ISO: "iso"}[fmt]
    return f"vmgui-base-{clean}-{digest[:16]}.{ext}"


def host_facts_blocking(
    conn: libvirt.virConnect, plan: ProvisionPlan, volume_names: tuple[str, ...]
) -> HostFacts:
    try:
        conn.lookupByName(plan.name)
        name_taken = True
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
        name_taken = False
    model, memory_mib, cpus = conn.getInfo()[:3]
    arch = str(model)
    memory_kib = int(memory_mib) * 1024
    with contextlib.suppress(libvirt.libvirtError, KeyError):
        memory_kib = int(conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)["total"])
    types: tuple[str, ...] = ()
    # getInfo's "model" is the architecture on QEMU hosts; only ask for the (possibly slow)
    # capabilities when it is not one, or when the domain type must be chosen or checked.
    if plan.virt_type is not VirtType.QEMU or arch not in KNOWN_ARCHES:
        caps = read_capabilities(conn.getCapabilities())
        arch = arch if arch in KNOWN_ARCHES else caps.arch or arch
        types = caps.virt_types(arch)
    network_active: bool | None = None
    if plan.network != USER_NETWORK:
        with contextlib.suppress(libvirt.libvirtError):
            network_active = bool(conn.networkLookupByName(plan.network).isActive())
    pool_path: str | None = None
    taken: list[str] = []
    with contextlib.suppress(libvirt.libvirtError):
        pool = conn.storagePoolLookupByName(plan.pool)
        pool_path = read_pool(pool.XMLDesc(0)).target_path
        if pool.isActive():
            pool.refresh(0)
            names = set(pool.listVolumes())
            taken = [n for n in volume_names if n in names]
    import_path = import_format = ""
    if isinstance(plan.source, ExistingVolume):
        vol = conn.storagePoolLookupByName(plan.source.pool).storageVolLookupByName(
            plan.source.volume
        )
        import_path = str(vol.path())
        fmt = read_volume(vol.XMLDesc(0)).format
        import_format = fmt if fmt in ("qcow2", "raw") else "raw"
    return HostFacts(
        cpus=int(cpus),
        memory_kib=memory_kib,
        arch=str(arch),
        virt_types=types,
        name_taken=name_taken,
        network_active=network_active,
        pool_path=pool_path,
        taken_volumes=tuple(taken),
        import_path=import_path,
        import_format=import_format,
    )


def define_blocking(conn: libvirt.virConnect, xml: str, network: str) -> str:
    if network:
        net = conn.networkLookupByName(network)
        if not net.isActive():
            net.create()
    return str(conn.defineXML(xml).UUIDString())


def start_blocking(conn: libvirt.virConnect, uuid: str) -> float:
    """Start a defined guest; returns the seconds libvirt's own start took."""
    dom = conn.lookupByUUIDString(uuid)
    started = time.perf_counter()
    dom.create()
    return time.perf_counter() - started


def remove_domain_blocking(conn: libvirt.virConnect, uuid: str) -> None:
    """Destroy (if running) and undefine a guest; no error if it is gone."""
    dom = unless_missing(lambda: conn.lookupByUUIDString(uuid), libvirt.VIR_ERR_NO_DOMAIN)
    if dom is None:
        return
    if dom.isActive():
        dom.destroy()
    flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    try:
        dom.undefineFlags(flags)
    except libvirt.libvirtError:
        dom.undefine()
