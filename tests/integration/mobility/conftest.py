"""Mobility tests on the real daemons: tiny guests named ``vmgui-mob-<session>-N`` in the lab's
pool, the second host, and a clean-up that removes every guest and volume with that prefix
(snapshot overlays and clones included), on both hosts, also after failures."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from tests.integration.lab import POOL_DIR, POOL_NAME, Lab
from tests.integration.tinyguest.domain import tiny_domain_xml
from tests.services.fixtures import second_host as second_host
from tests.services.secondhost import SecondHost, open_connection
from vmgui.core.cloudinit import CloudInitConfig, build_seed_iso, seed_files

PREFIX = "vmgui-mob-"

_UNDEFINE = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)

__all__ = [
    "PREFIX",
    "Host2",
    "MobGuest",
    "MobLab",
    "console_of",
    "host2",
    "mob",
    "second_host",
    "seed_block",
    "wait_for",
]


@dataclass(frozen=True, slots=True)
class MobGuest:
    """A tiny guest of the mobility tests.

    Attributes:
        name: its name.
        uuid: its UUID.
        disk: its overlay (vda) on the lab's base image.
        log: its serial console log.
        seed: its read-only raw seed (vdb), or "".
    """

    name: str
    uuid: str
    disk: str
    log: str
    seed: str = ""

    def console(self) -> str:
        """What the guest printed since its QEMU started."""
        return console_of(self.log)


def console_of(log: str) -> str:
    """What a guest logging to ``log`` printed since its QEMU started ("" if nothing)."""
    try:
        return Path(log).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def seed_block(console: str) -> str:
    """The seed's meta-data the tiny guest printed (between its SEED markers), or ""."""
    if "VMGUI-SEED-BEGIN" not in console or "VMGUI-SEED-END" not in console:
        return ""
    return console.split("VMGUI-SEED-BEGIN", 1)[1].split("VMGUI-SEED-END", 1)[0]


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` (blocking) until it holds, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.05)


class MobLab:
    """Defines tiny guests with :data:`PREFIX` and removes everything with it afterwards."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.stem = f"{PREFIX}{secrets.token_hex(3)}"
        self._n = 0
        self.extra_conns: list[libvirt.virConnect] = []

    def new_name(self) -> str:
        """A fresh guest name with this run's stem."""
        self._n += 1
        return f"{self.stem}-{self._n}"

    def guest(
        self, *, seed: bool = True, uefi: bool = False, raw_disk: bool = False, memory: int = 96
    ) -> MobGuest:
        """Define (not start) a tiny guest on a new overlay, with a read-only raw seed."""
        name = self.new_name()
        conn = self.lab.conn()
        pool = self.lab.pool()
        if raw_disk:
            vol = pool.createXML(_vol_xml(f"{name}.img", 16 << 20, "raw"), 0)
            disk = str(vol.path())
        else:
            disk = self.lab.create_overlay(name)
        seed_path = ""
        if seed:
            iso = build_seed_iso(seed_files(CloudInitConfig(hostname=name)))
            seed_file = POOL_DIR / f"{name}-seed.iso"
            seed_file.write_bytes(iso)
            seed_file.chmod(0o644)
            pool.refresh(0)
            seed_path = str(seed_file)
        log = str(POOL_DIR / f"{name}.log")
        xml = tiny_domain_xml(name, disk, log, memory_mib=memory, seed_iso=seed_path or None)
        if raw_disk:
            xml = xml.replace("type='qcow2'", "type='raw'", 1)
        if uefi:
            xml = xml.replace("<os>", "<os firmware='efi'>").replace(
                "machine='pc'", "machine='q35'"
            )
        dom = conn.defineXML(xml)
        return MobGuest(name, dom.UUIDString(), disk, log, seed_path)

    def add_cdrom(self, guest: MobGuest) -> str:
        """Give the shut-off ``guest`` an IDE CD-ROM holding a 70 MiB "installer ISO" (sparse,
        1 MiB of data: more than the 64 MiB once refused); returns the ISO's path."""
        iso = POOL_DIR / f"{guest.name}-installer.iso"
        with iso.open("wb") as out:
            out.write(b"CD001" * 200_000)
            out.truncate(70 << 20)
        self.add_disk(guest, iso, "<target dev='hdc' bus='ide'/><readonly/>", "cdrom")
        return str(iso)

    def add_disk(self, guest: MobGuest, path: Path, target: str, device: str = "disk") -> None:
        """Attach the raw file ``path`` (made readable, put in the lab's pool) to the shut-off
        ``guest`` with the ``<target>`` (and flags) XML ``target``."""
        path.chmod(0o644)
        self.lab.pool().refresh(0)
        conn = self.lab.conn()
        xml = conn.lookupByUUIDString(guest.uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        disk = (
            f"<disk type='file' device='{device}'><driver name='qemu' type='raw'/>"
            f"<source file='{path}'/>{target}</disk>"
        )
        conn.defineXML(xml.replace("</devices>", disk + "</devices>", 1))

    def close(self) -> None:
        """Remove every guest and volume with this run's stem on the lab's host."""
        clean_host(self.lab.conn(), self.stem)
        for path in POOL_DIR.glob(f"{self.stem}*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _vol_xml(name: str, capacity: int, fmt: str) -> str:
    return (
        f"<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity>"
        f"<target><format type='{fmt}'/><permissions><mode>0644</mode></permissions></target>"
        "</volume>"
    )


def clean_host(conn: libvirt.virConnect, stem: str) -> None:
    """Destroy and undefine every guest, and delete every volume and pool, named ``stem*``."""
    for dom in conn.listAllDomains(0):
        if not dom.name().startswith(stem):
            continue
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        try:
            dom.undefineFlags(_UNDEFINE)
        except libvirt.libvirtError:
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
    for pool in conn.listAllStoragePools(0):
        with contextlib.suppress(libvirt.libvirtError):
            if pool.isActive():
                pool.refresh(0)
                for vol in pool.listAllVolumes(0):
                    if vol.name().startswith(stem) or (
                        vol.name().startswith(PREFIX) and pool.name().startswith(stem)
                    ):
                        with contextlib.suppress(libvirt.libvirtError):
                            vol.delete(0)
        if pool.name().startswith(stem) and pool.name() != POOL_NAME:
            with contextlib.suppress(libvirt.libvirtError):
                if pool.isActive():
                    pool.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                pool.undefine()


@pytest.fixture(scope="module")
def mob(lab: Lab) -> Iterator[MobLab]:
    """This module's tiny guests (all removed at the end)."""
    the_lab = MobLab(lab)
    try:
        yield the_lab
    finally:
        the_lab.close()


@dataclass
class Host2:
    """The second host as the mobility tests use it: its URI, a plain connection, the way
    from its paths to this machine's, and the stem whose objects are removed at the end."""

    uri: str
    conn: libvirt.virConnect
    outside: Callable[[str], Path]
    stem: str


@pytest.fixture(scope="module")
def host2(second_host: SecondHost, mob: MobLab) -> Iterator[Host2]:
    """The second host; everything named with this module's stem is removed from it after."""
    conn = open_connection(second_host.uri_tcp)
    try:
        yield Host2(second_host.uri_tcp, conn, second_host.outside, mob.stem)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            clean_host(conn, mob.stem)
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
