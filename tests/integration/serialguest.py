"""Tiny guests with a shell on a pty serial console, for the serial console tests.

The shared tiny guest (``tinyguest/``) does not fit as it is: its serial port writes to a
file (``openConsole`` needs a pty) and its ``/init`` prints the ready marker and sleeps, with
no shell on ttyS0. Rather than change the shared files, this module boots the same kernel and
initramfs directly (no disk, no NIC: ready in ~1.5 s under TCG): it copies ``vmlinuz`` and
``initrd.gz`` out of the tiny image (``qemu-img`` + mtools, which the image's build needs
anyway) and appends a small cpio archive to the initramfs that replaces ``/init`` with busybox
init and an ``/etc/inittab`` running a shell on ttyS0 (RECIPES.md §2: init + inittab, not
``cttyhack``). The shell prints :data:`SERIAL_READY` just before it starts.

Guest names start with ``vmgui-serial-``; :meth:`SerialGuests.close` removes every guest and
file made here, also after failures.
"""

from __future__ import annotations

import contextlib
import gzip
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import libvirt

#: Printed on ttyS0 right before the shell starts.
SERIAL_READY = "VMGUI-SERIAL-READY"

_IMAGES = Path("/var/lib/libvirt/images")

_INIT = b"""#!/bin/sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec /sbin/init
"""

_INITTAB = f"ttyS0::respawn:/bin/sh -c 'echo {SERIAL_READY}; exec /bin/sh'\n".encode()

_PTY_SERIAL = (
    "    <serial type='pty'>\n"
    "      <target port='0'/>\n"
    "    </serial>\n"
    "    <console type='pty'>\n"
    "      <target type='serial' port='0'/>\n"
    "    </console>\n"
)


def newc_archive(files: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the "newc" format the kernel unpacks: (path, st_mode, content)."""
    out = bytearray()
    for inode, (path, mode, data) in enumerate([*files, ("TRAILER!!!", 0, b"")], start=1):
        name = path.encode() + b"\0"
        # ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
        # rdevminor, namesize, check
        fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
        out += b"070701" + b"".join(b"%08X" % value for value in fields) + name
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


class SerialGuests:
    """The kernel, initramfs and guests of one test module on ``conn``'s host.

    Args:
        conn: gives the lab's connection (reopened after a libvirtd restart: other programs
            share the daemon).
        image: the tiny guest image (qcow2) to take the kernel and initramfs from.
    """

    def __init__(self, conn: Callable[[], libvirt.virConnect], image: Path) -> None:
        self._conn = conn
        self.prefix = f"vmgui-serial-{secrets.token_hex(3)}"
        self.dir = _IMAGES / self.prefix
        self._names: list[str] = []
        self._counter = 0
        self.dir.mkdir(mode=0o755)
        self.dir.chmod(0o755)  # libvirt-qemu reads the kernel and initramfs
        try:
            self._extract(image)
        except BaseException:
            self.close()
            raise

    def _extract(self, image: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "disk.raw"
            subprocess.run(
                ["qemu-img", "convert", "-q", "-O", "raw", str(image), str(raw)], check=True
            )
            subprocess.run(
                ["mcopy", "-n", "-i", str(raw), "::vmlinuz", "::initrd.gz", tmp], check=True
            )
            shutil.copyfile(Path(tmp) / "vmlinuz", self.kernel)
            overlay = newc_archive(
                [
                    ("init", stat.S_IFREG | 0o755, _INIT),
                    ("etc/inittab", stat.S_IFREG | 0o644, _INITTAB),
                ]
            )
            # Concatenated archives: the kernel unpacks them in order, later files win.
            self.initrd.write_bytes((Path(tmp) / "initrd.gz").read_bytes() + gzip.compress(overlay))
        for path in (self.kernel, self.initrd):
            path.chmod(0o644)

    @property
    def kernel(self) -> Path:
        """The guest kernel."""
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        """The initramfs with the shell on ttyS0."""
        return self.dir / "initrd.gz"

    def domain_xml(self, name: str, serial: str) -> str:
        """The XML of a guest whose serial port is ``serial``: "pty", "file" or "none"."""
        devices = {
            "pty": _PTY_SERIAL,
            "file": (
                "    <serial type='file'>\n"
                f"      <source path={quoteattr(str(self.dir / (name + '.log')))}/>\n"
                "      <target port='0'/>\n"
                "    </serial>\n"
            ),
            "none": "",
        }[serial]
        return (
            "<domain type='qemu'>\n"
            f"  <name>{escape(name)}</name>\n"
            "  <memory unit='MiB'>128</memory>\n"
            "  <vcpu>1</vcpu>\n"
            "  <os>\n"
            "    <type arch='x86_64' machine='pc'>hvm</type>\n"
            f"    <kernel>{escape(str(self.kernel))}</kernel>\n"
            f"    <initrd>{escape(str(self.initrd))}</initrd>\n"
            "    <cmdline>console=ttyS0 quiet</cmdline>\n"
            "  </os>\n"
            "  <on_poweroff>destroy</on_poweroff>\n"
            "  <on_reboot>restart</on_reboot>\n"
            "  <on_crash>destroy</on_crash>\n"
            "  <devices>\n"
            f"{devices}"
            "    <memballoon model='none'/>\n"
            "  </devices>\n"
            "</domain>\n"
        )

    def define(self, serial: str = "pty") -> libvirt.virDomain:
        """Define (not start) a new guest with the given serial port (see domain_xml)."""
        self._counter += 1
        name = f"{self.prefix}-{self._counter}"
        self._names.append(name)
        return self._conn().defineXML(self.domain_xml(name, serial))

    def close(self) -> None:
        """Destroy and undefine every guest made here, then remove the files.

        Raises:
            RuntimeError: a guest could not be removed (after trying all of them).
        """
        errors = []
        for name in reversed(self._names):
            try:
                dom = self._conn().lookupByName(name)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    errors.append(f"{name}: {exc}")
                continue
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            try:
                dom.undefine()
            except libvirt.libvirtError as exc:
                errors.append(f"{name}: {exc}")
        shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise RuntimeError("serial guests left behind: " + "; ".join(errors))
