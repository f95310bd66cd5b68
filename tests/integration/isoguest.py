"""Tiny guests for the isolation tests: one job each (read the disk, spin a CPU, ask for DHCP).

They reuse the shared tiny guest image (``tinyguest/build.sh``) without changing it, the way
``rfbguest.py`` does: the kernel and initramfs are copied out of its vfat disk (mtools) once per
session and a second cpio archive appended to the initramfs replaces ``/init``. The new init
loads the same virtio modules, then does what the kernel command line's ``vmgui.job=`` says:

- ``read``: the tiny guest's disk loop (64 x 64 KiB direct reads of /dev/vda, then 2 s sleep;
  ~1 MiB/s under TCG);
- ``busy``: a shell loop that never sleeps (one vCPU at 100 %);
- ``dhcp``: ``udhcpc`` on eth0 (busybox), printing ``VMGUI-ISO-LEASE <ip>`` to the serial log.

Then it prints ``VMGUI-ISO-READY``. Guests are named ``vmgui-iso-*``; :meth:`IsoGuests.close`
removes every guest and file made, also after failures.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import libvirt
import pytest

from tests.conftest import wait_until
from tests.integration.lab import DEFAULT_IMAGE, Lab

PREFIX = "vmgui-iso-"
ROOT = Path("/var/lib/libvirt/images")
READY = "VMGUI-ISO-READY"
LEASE = "VMGUI-ISO-LEASE"

_INIT = r"""#!/bin/sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/ttyS0 2>&1
while read -r mod; do
    [ -f "/lib/modules/$mod.ko" ] && insmod "/lib/modules/$mod.ko" 2>/dev/null
done </etc/modules.order
i=0
while [ ! -e /dev/vda ] && [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
job=$(sed -n 's/.*vmgui\.job=\([a-z]*\).*/\1/p' /proc/cmdline)
case "$job" in
read)
    (while true; do
        dd if=/dev/vda of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
        sleep 2
    done) &
    ;;
busy)
    (while true; do :; done) &
    ;;
dhcp)
    ip link set lo up
    ip link set eth0 up
    udhcpc -i eth0 -f -q -n -t 20 -T 2 -s /etc/iso-lease &
    ;;
esac
echo VMGUI-ISO-READY job=$job
while true; do
    sleep 3600
done
"""

_LEASE_SCRIPT = r"""#!/bin/sh
[ "$1" = bound ] && echo "VMGUI-ISO-LEASE $ip" >/dev/ttyS0
exit 0
"""


def _cpio(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A newc cpio archive of regular files (path -> (data, mode))."""
    out = io.BytesIO()
    for ino, (path, (data, mode)) in enumerate([*files.items(), ("TRAILER!!!", (b"", 0))], 1):
        name = path.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0]
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + name)
        out.write(b"\0" * (-(110 + len(name)) % 4) + data + b"\0" * (-len(data) % 4))
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class IsoGuest:
    """A defined (not started) isolation test guest.

    Attributes:
        name: the domain name (``vmgui-iso-...``).
        uuid: the domain UUID.
        console_log: the serial log (truncated by QEMU at every start).
        disk: its overlay volume (vda), or "" for a guest without a disk.
    """

    name: str
    uuid: str
    console_log: Path
    disk: str

    def console(self) -> str:
        """The serial log since the last start."""
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class IsoGuests:
    """Makes ``vmgui-iso-*`` guests on the lab's host; :meth:`close` removes them all."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.directory = ROOT / f"{PREFIX}{lab.session}"
        self.directory.mkdir(mode=0o755, exist_ok=True)
        self._names: list[str] = []
        self._kernel, self._initrd = self._boot_files()

    def _boot_files(self) -> tuple[Path, Path]:
        image = Path(os.environ.get("VMGUI_TINY_IMAGE") or DEFAULT_IMAGE)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "disk.img"
            subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
            for name in ("vmlinuz", "initrd.gz"):
                target = self.directory / name
                target.unlink(missing_ok=True)
                subprocess.run(
                    ["mcopy", "-n", "-i", str(raw), f"::/{name}", str(target)], check=True
                )
        initrd = self.directory / "initrd.gz"
        overlay = _cpio(
            {
                "init": (_INIT.encode(), 0o100755),
                "etc/iso-lease": (_LEASE_SCRIPT.encode(), 0o100755),
            }
        )
        with initrd.open("ab") as f:
            f.write(gzip.compress(overlay))
        for path in (self.directory / "vmlinuz", initrd):
            path.chmod(0o644)
        return self.directory / "vmlinuz", initrd

    def define(
        self, job: str, *, vcpus: int = 1, disk: bool = True, nic: str = "<interface type='user'/>"
    ) -> IsoGuest:
        """Define a guest doing ``job`` ("read", "busy", "dhcp", "idle"), not started.

        Args:
            job: what its init does after loading the drivers.
            vcpus: its vCPUs.
            disk: give it a qcow2 overlay of the tiny image as virtio vda.
            nic: its ``<interface>`` element (a user-mode NIC by default).
        """
        name = f"{PREFIX}{self.lab.session}-{job}-{secrets.token_hex(2)}"
        self._names.append(name)
        log = self.directory / f"{name}.log"
        disk_path = self.lab.create_overlay(name) if disk else ""
        disk_xml = (
            "    <disk type='file' device='disk'>\n"
            "      <driver name='qemu' type='qcow2'/>\n"
            f"      <source file={quoteattr(disk_path)}/>\n"
            "      <target dev='vda' bus='virtio'/>\n"
            "    </disk>\n"
            if disk
            else ""
        )
        xml = f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{self._kernel}</kernel>
    <initrd>{self._initrd}</initrd>
    <cmdline>console=ttyS0 loglevel=1 vmgui.job={job}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
{disk_xml}    {nic}
    <serial type='file'>
      <source path={quoteattr(str(log))}/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""
        dom = self.lab.conn().defineXML(xml)
        return IsoGuest(name, dom.UUIDString(), log, disk_path)

    def domain(self, guest: IsoGuest) -> libvirt.virDomain:
        """The guest's domain on the lab's connection."""
        return self.lab.conn().lookupByName(guest.name)

    def remove(self, guest: IsoGuest) -> None:
        """Destroy and undefine one guest now (its overlay goes with the lab)."""
        try:
            dom = self.lab.conn().lookupByName(guest.name)
        except libvirt.libvirtError:
            return
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefine()

    def close(self) -> None:
        """Remove every guest made here and the boot files."""
        for name in self._names:
            try:
                dom = self.lab.conn().lookupByName(name)
            except libvirt.libvirtError:
                continue
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def busy_guest(lab: Lab, mrun: Callable[[Awaitable[object]], object]) -> Iterator[IsoGuest]:
    """A running ``vmgui-iso-*-busy`` guest on the main host spinning its one vCPU (removed
    after the module, also when a test fails). Import it into a test module to use it."""
    made = IsoGuests(lab)
    try:
        guest = made.define("busy", disk=False)
        made.domain(guest).create()
        mrun(wait_until(partial(lambda g: READY in g.console(), guest), 60))
        yield guest
    finally:
        made.close()
