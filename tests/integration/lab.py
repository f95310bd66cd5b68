"""The integration lab: a storage pool, the tiny base image and tiny guests on the real libvirtd.

Everything here goes through libvirt, the way the product works: the pool is defined and
started through libvirt, overlays are created with ``pool.createXML`` and a ``<backingStore>``,
guests are defined from :func:`~tests.integration.tinyguest.domain.tiny_domain_xml`. The lab
remembers what it created and removes it in :meth:`Lab.close`, also after failures.

The lab's own connection is a plain ``libvirt.open`` (not vmgui's), made on the test thread;
it is reopened by itself after libvirtd restarts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import libvirt

from tests.conftest import wait_until
from tests.integration.tinyguest.domain import tiny_domain_xml
from vmgui.virt.events import ensure_event_loop

URI = "qemu:///system"
POOL_NAME = "vmgui-it-pool"
POOL_DIR = Path("/var/lib/libvirt/images/vmgui-it")
DEFAULT_IMAGE = "/var/tmp/vmgui-tiny-guest/tiny.qcow2"
READY = "VMGUI-TINY-GUEST-READY"
POWEROFF = "VMGUI-TINY-GUEST-POWEROFF"

#: Seconds to allow a guest-driven change (boot, ACPI shutdown, reboot): CI has 2 cores and TCG.
GUEST_TIMEOUT = 60.0

_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)


class LabUnavailableError(RuntimeError):
    """The real daemon or the tiny guest image is missing (the message says which)."""


@dataclass(frozen=True, slots=True)
class TinyGuest:
    """A tiny guest prepared (and usually defined) by the lab.

    Attributes:
        name: the domain name (``vmgui-it-<session>-N``).
        disk: the path of its overlay volume (vda).
        console_log: the serial console log (truncated by QEMU at every start or restore).
        xml: the domain XML it was (or can be) defined from.
        uuid: the domain UUID once defined, else "".
    """

    name: str
    disk: str
    console_log: str
    xml: str
    uuid: str = ""


def disk_xml(path: str, target: str, *, readonly: bool = False) -> str:
    """The XML of an extra qcow2 virtio disk (for guests that reference other volumes)."""
    return (
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2'/>\n"
        f"      <source file={quoteattr(path)}/>\n"
        f"      <target dev={quoteattr(target)} bus='virtio'/>\n"
        + ("      <readonly/>\n" if readonly else "")
        + "    </disk>\n"
    )


class Lab:
    """The session's pool, base image volume and tiny guests on ``qemu:///system``.

    Use :meth:`open` to build it; :meth:`close` removes everything it created.
    """

    def __init__(self, uri: str, image: Path) -> None:
        self.uri = uri
        self.image = image
        self.session = secrets.token_hex(3)
        self.base_path = ""
        self._conn: libvirt.virConnect | None = None
        self._counter = 0
        self._guest_names: list[str] = []
        self._volumes: list[str] = []
        self._files: list[str] = []

    # -- set-up -------------------------------------------------------------------------------

    @classmethod
    def open(cls, uri: str = URI, image: str | None = None) -> Lab:
        """Check the daemon and image, then set up the pool and the base volume.

        Raises:
            LabUnavailableError: libvirtd is unreachable or the image is missing.
        """
        path = Path(image or os.environ.get("VMGUI_TINY_IMAGE") or DEFAULT_IMAGE)
        if not path.is_file():
            raise LabUnavailableError(
                f"the tiny guest image {path} is missing: build it with "
                f"`bash tests/integration/tinyguest/build.sh {path.parent}` "
                "(or set VMGUI_TINY_IMAGE)"
            )
        lab = cls(uri, path)
        try:
            lab.conn()
        except libvirt.libvirtError as exc:
            raise LabUnavailableError(
                f"libvirtd is unreachable at {uri}: {exc.get_error_message()} "
                "(start it with `virtlogd -d; libvirtd -d` as root)"
            ) from exc
        try:
            lab._set_up_pool()
        except BaseException:
            lab.close()
            raise
        return lab

    def conn(self) -> libvirt.virConnect:
        """The lab's own connection, reopened if libvirtd restarted meanwhile."""
        if self._conn is not None:
            alive = False
            with contextlib.suppress(libvirt.libvirtError):
                alive = bool(self._conn.isAlive())
            if alive:
                return self._conn
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None
        ensure_event_loop()  # before the first open of the process (DESIGN.md, fact 4)
        self._conn = libvirt.open(self.uri)
        return self._conn

    def pool(self) -> libvirt.virStoragePool:
        """The lab's storage pool."""
        return self.conn().storagePoolLookupByName(POOL_NAME)

    def _set_up_pool(self) -> None:
        conn = self.conn()
        try:
            pool = conn.storagePoolLookupByName(POOL_NAME)  # another run's, or a killed one's
        except libvirt.libvirtError:
            pool = conn.storagePoolDefineXML(
                "<pool type='dir'>\n"
                f"  <name>{POOL_NAME}</name>\n"
                f"  <target><path>{POOL_DIR}</path>\n"
                "    <permissions><mode>0755</mode></permissions>\n"
                "  </target>\n"
                "</pool>\n",
                0,
            )
        if not pool.isActive():
            pool.build(0)
            pool.create(0)
        # Copy under a temporary name, then rename: the volume never exists half-written.
        name = f"vmgui-it-{self.session}-base.qcow2"
        base = POOL_DIR / name
        partial = POOL_DIR / f".{name}.part"
        self._files += [str(partial), str(base)]
        shutil.copyfile(self.image, partial)
        partial.chmod(0o644)
        partial.rename(base)
        pool.refresh(0)
        self.base_path = str(pool.storageVolLookupByName(name).path())
        self._volumes.append(self.base_path)

    # -- guests ---------------------------------------------------------------------------------

    def new_name(self) -> str:
        """A unique guest name for this session."""
        self._counter += 1
        return f"vmgui-it-{self.session}-{self._counter}"

    def create_overlay(self, name: str) -> str:
        """Create ``name``.qcow2 backed by the base image through libvirt; return its path."""
        pool = self.pool()
        capacity = self.conn().storageVolLookupByPath(self.base_path).info()[1]
        vol = pool.createXML(
            "<volume>\n"
            f"  <name>{name}.qcow2</name>\n"
            f"  <capacity unit='bytes'>{capacity}</capacity>\n"
            "  <target><format type='qcow2'/>\n"
            "    <permissions><mode>0644</mode></permissions>\n"
            "  </target>\n"
            "  <backingStore>\n"
            f"    <path>{self.base_path}</path>\n"
            "    <format type='qcow2'/>\n"
            "  </backingStore>\n"
            "</volume>\n",
            0,
        )
        path = str(vol.path())
        self._volumes.append(path)
        return path

    def prepare_guest(
        self, *, memory_mib: int = 128, disk: str | None = None, extra_disks: str = ""
    ) -> TinyGuest:
        """A new overlay (unless ``disk`` is given) and the XML of a tiny guest, not defined.

        The guest is removed at the end of the session whoever defines it.
        """
        name = self.new_name()
        path = disk if disk is not None else self.create_overlay(name)
        log = str(POOL_DIR / f"{name}.log")
        self._files.append(log)
        self._guest_names.append(name)
        xml = tiny_domain_xml(name, path, log, memory_mib=memory_mib)
        if extra_disks:
            nic = "    <interface type='user'>"
            xml = xml.replace(nic, extra_disks + nic)
        return TinyGuest(name, path, log, xml)

    def define_guest(
        self, *, memory_mib: int = 128, disk: str | None = None, extra_disks: str = ""
    ) -> TinyGuest:
        """Define a tiny guest on its own overlay (or on ``disk``); it is not started."""
        guest = self.prepare_guest(memory_mib=memory_mib, disk=disk, extra_disks=extra_disks)
        dom = self.conn().defineXML(guest.xml)
        return TinyGuest(guest.name, guest.disk, guest.console_log, guest.xml, dom.UUIDString())

    def domain(self, guest: TinyGuest) -> libvirt.virDomain:
        """The guest's domain on the lab's connection."""
        return self.conn().lookupByName(guest.name)

    def console(self, guest: TinyGuest) -> str:
        """What the guest printed on its serial console since its last start ("" if none)."""
        try:
            return Path(guest.console_log).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def marker_count(self, guest: TinyGuest) -> int:
        """How often the guest finished booting since its last start (or restore)."""
        return self.console(guest).count(READY)

    async def wait_ready(
        self, guest: TinyGuest, count: int = 1, timeout: float = GUEST_TIMEOUT
    ) -> None:
        """Await the ``count``-th boot marker on the serial console."""
        try:
            await wait_until(lambda: self.marker_count(guest) >= count, timeout)
        except AssertionError as exc:
            raise AssertionError(
                f"{guest.name} did not print {READY} {count}x within {timeout} s; console:\n"
                + self.console(guest)[-2000:]
            ) from exc

    def volume_exists(self, path: str) -> bool:
        """Whether libvirt knows a volume at ``path`` (after a pool refresh)."""
        with contextlib.suppress(libvirt.libvirtError):
            self.pool().refresh(0)
        try:
            self.conn().storageVolLookupByPath(path)
        except libvirt.libvirtError:
            return False
        return True

    def remove_guest(self, guest: TinyGuest) -> None:
        """Destroy and undefine a guest now (frees a CPU for the tests that follow)."""
        self._remove_domain(guest.name)

    def _remove_domain(self, name: str) -> None:
        try:
            dom = self.conn().lookupByName(name)
        except libvirt.libvirtError:
            return
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        try:
            dom.undefineFlags(_UNDEFINE_FLAGS)
        except libvirt.libvirtError:
            with contextlib.suppress(libvirt.libvirtError):
                dom.managedSaveRemove(0)
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()

    # -- tear-down ------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every guest, volume and file the lab created, then the pool if it is empty."""
        errors: list[str] = []
        for name in reversed(self._guest_names):
            try:
                self._remove_domain(name)
            except libvirt.libvirtError as exc:
                errors.append(f"guest {name}: {exc}")
        for path in reversed(self._volumes):
            # Already deleted by a test, or not a volume: the file pass below.
            with contextlib.suppress(libvirt.libvirtError):
                self.conn().storageVolLookupByPath(path).delete(0)
        for path in self._files + self._volumes:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        try:
            pool = self.pool()
            pool.refresh(0)
            if pool.numOfVolumes() == 0:
                pool.destroy()
                with contextlib.suppress(libvirt.libvirtError):
                    pool.delete(0)
                pool.undefine()
        except libvirt.libvirtError as exc:
            errors.append(f"pool {POOL_NAME}: {exc}")
        if self._conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None
        if errors:
            raise RuntimeError("integration lab clean-up failed: " + "; ".join(errors))
