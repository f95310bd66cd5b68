"""A tiny guest with a VGA text console, a shell on tty1 and VNC, for the RFB tests.

It reuses the shared tiny guest image (``tinyguest/build.sh``) without changing it: the
kernel and initramfs are copied out of its vfat disk (mtools), and a second cpio archive is
appended to the initramfs (the kernel unpacks both; later files win) that replaces ``/init``
with busybox init and an ``/etc/inittab`` running a shell on tty1. The shell's output is
teed to ttyS0, so what is typed on the VGA console can be read back from the serial log.
The guest boots its kernel directly (no disk), shows std VGA (720x400 text after SeaBIOS's
640x480) and has ``<graphics type='vnc'><listen type='none'/></graphics>``. The cursor is
off (``vt.global_cursor_default=0``) so that screens are deterministic.

``python -m tests.integration.rfbguest record OUTDIR`` records the server-to-client bytes of
a boot for Raw, Tight and ZRLE into ``OUTDIR/{raw,tight,zrle}.bin.xz`` (see
``tests/data/rfb/README.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import lzma
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import libvirt
import numpy as np
import numpy.typing as npt

from vmgui.core.rfb import messages as msg
from vmgui.core.rfb.events import Connected, FramebufferUpdated
from vmgui.core.rfb.protocol import RfbClient

PREFIX = "vmgui-rfb-"
ROOT = Path("/var/lib/libvirt/images")
DEFAULT_IMAGE = "/var/tmp/vmgui-tiny-guest/tiny.qcow2"
PROMPT = "rfb# "
CMDLINE = "console=ttyS0 console=tty0 loglevel=1 vt.global_cursor_default=0"

_INIT = """#!/bin/sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec /bin/busybox init
"""
_INITTAB = """::sysinit:/etc/rfb-banner
tty1::respawn:/etc/rfb-shell
"""
_SHELL = """#!/bin/sh
export PS1='rfb# '
/bin/sh -i 2>&1 | tee /dev/ttyS0
"""
_BANNER = r"""#!/bin/sh
printf '\033[2J\033[H' >/dev/tty1
printf '\033[1;33mvmgui RFB test guest\033[0m\n' >/dev/tty1
printf '\033[44;37m blue \033[0m \033[42;30m green \033[0m \033[41;37m red \033[0m\n' >/dev/tty1
echo VMGUI-RFB-READY >/dev/ttyS0
"""


@dataclass(frozen=True, slots=True)
class RfbGuest:
    """A defined (not started) RFB test guest; :func:`remove` deletes it and its files."""

    name: str
    directory: Path
    console_log: Path
    xml: str

    def console(self) -> str:
        """The serial log since the last start."""
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def cpio(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A newc cpio archive of regular files (path -> (data, mode))."""
    out = io.BytesIO()
    for ino, (path, (data, mode)) in enumerate([*files.items(), ("TRAILER!!!", (b"", 0))], 1):
        name = path.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0]
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + name)
        out.write(b"\0" * (-(110 + len(name)) % 4) + data + b"\0" * (-len(data) % 4))
    return out.getvalue()


def _boot_files(image: Path, directory: Path) -> tuple[Path, Path]:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "disk.img"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
        for name in ("vmlinuz", "initrd.gz"):
            subprocess.run(
                ["mcopy", "-n", "-i", str(raw), f"::/{name}", str(directory / name)], check=True
            )
    initrd = directory / "initrd.gz"
    overlay = cpio(
        {
            "init": (_INIT.encode(), 0o100755),
            "etc/inittab": (_INITTAB.encode(), 0o100644),
            "etc/rfb-banner": (_BANNER.encode(), 0o100755),
            "etc/rfb-shell": (_SHELL.encode(), 0o100755),
        }
    )
    with initrd.open("ab") as f:
        f.write(gzip.compress(overlay))
    for path in (directory / "vmlinuz", initrd):
        path.chmod(0o644)
    return directory / "vmlinuz", initrd


def domain_xml(
    name: str,
    kernel: Path,
    initrd: Path,
    console_log: Path,
    *,
    vnc: bool = True,
    listen: str | None = None,
    pty: bool = False,
) -> str:
    """std VGA + VNC (no listener: libvirt's socket only) + serial to a file; no disk.

    With ``vnc=False`` the guest has no graphics at all; with ``listen`` (an address) the VNC
    display listens on it, port chosen by libvirt (what a remote console reaches); with
    ``pty`` the serial port is a pty (libvirt's console stream) logged to ``console_log``.
    """
    if pty:  # libvirt's console stream needs a pty; its log still goes to the file
        serial = f"""    <serial type='pty'>
      <log file={quoteattr(str(console_log))} append='off'/>
      <target port='0'/>
    </serial>"""
    else:
        serial = f"""    <serial type='file'>
      <source path={quoteattr(str(console_log))}/>
      <target port='0'/>
    </serial>"""
    if not vnc:
        graphics = ""
    elif listen is None:
        graphics = "    <graphics type='vnc'><listen type='none'/></graphics>\n"
    else:
        graphics = (
            f"    <graphics type='vnc' port='-1' autoport='yes' listen={quoteattr(listen)}/>\n"
        )
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{CMDLINE}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
{serial}
{graphics}    <video><model type='vga'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def create(
    conn: libvirt.virConnect,
    image: str | None = None,
    *,
    vnc: bool = True,
    listen: str | None = None,
    pty: bool = False,
    prefix: str = PREFIX,
    root: Path = ROOT,
    seen_as: Path | None = None,
) -> RfbGuest:
    """Prepare the boot files and define a ``vmgui-rfb-*`` guest (not started).

    Args:
        conn: the host to define it on.
        image: the tiny guest image the kernel and initramfs come from.
        vnc: whether it has a VNC display; ``listen``: its address (None: no TCP port).
        pty: a pty serial port (libvirt's console stream), logged to the console log.
        prefix: the guest's name prefix.
        root: the folder (on this machine) its files go into.
        seen_as: ``root`` as the host sees it (a second host in its own mount namespace).
    """
    name = prefix + secrets.token_hex(3)
    directory = root / name
    directory.mkdir(mode=0o755)
    try:
        source = Path(image or os.environ.get("VMGUI_TINY_IMAGE") or DEFAULT_IMAGE)
        kernel, initrd = _boot_files(source, directory)
        log = directory / "console.log"
        inside = (seen_as or root) / name
        xml = domain_xml(
            name,
            inside / kernel.name,
            inside / initrd.name,
            inside / log.name,
            vnc=vnc,
            listen=listen,
            pty=pty,
        )
        conn.defineXML(xml)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return RfbGuest(name, directory, log, xml)


def remove(conn: libvirt.virConnect, guest: RfbGuest) -> None:
    """Destroy and undefine the guest and delete its files (safe to call twice)."""
    try:
        dom = conn.lookupByName(guest.name)
    except libvirt.libvirtError:
        dom = None
    if dom is not None:
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefine()
    shutil.rmtree(guest.directory, ignore_errors=True)


def wait_for(predicate: object, timeout: float, what: str) -> None:
    """Poll ``predicate()`` every 20 ms (synchronous helper for the recorder)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.02)


def record_boot(conn: libvirt.virConnect, guest: RfbGuest, encodings: tuple[int, ...]) -> bytes:
    """Start the guest paused, connect, resume, and return every byte the server sent
    until the shell prompt showed and the screen stayed still for 3.5 s (qemu's refresh
    timer backs off to 3 s while the screen is idle)."""
    dom = conn.lookupByName(guest.name)
    if dom.isActive():
        dom.destroy()
    with contextlib.suppress(FileNotFoundError):
        guest.console_log.write_bytes(b"")  # the previous boot's prompt must not count
    dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
    sock = socket.socket(fileno=dom.openGraphicsFD(0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH))
    sock.settimeout(0.2)
    client = RfbClient(encodings)
    received = bytearray()
    resumed = False
    last_update = time.monotonic()
    deadline = last_update + 90
    try:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(1 << 18)
            except TimeoutError:
                data = None
            if data == b"":
                raise RuntimeError("the VNC server closed the connection")
            if data:
                received += data
                for event in client.feed(data):
                    if isinstance(event, Connected) and not resumed:
                        dom.resume()
                        resumed = True
                    if isinstance(event, FramebufferUpdated):
                        last_update = time.monotonic()
                        if not client.update_requested:
                            client.request_update(incremental=True)
            sock.sendall(client.pending_output())
            if PROMPT in guest.console() and time.monotonic() - last_update > 3.5:
                return bytes(received)
        raise TimeoutError("the guest did not show its prompt within 90 s")
    finally:
        sock.close()
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()


RECORDINGS = {"raw": (msg.RAW,), "tight": (msg.TIGHT,), "zrle": (msg.ZRLE,)}
_PSEUDO = (msg.EXTENDED_DESKTOP_SIZE, msg.DESKTOP_SIZE)


def final_screen(label: str, data: bytes) -> npt.NDArray[np.uint32]:
    """The framebuffer after decoding a recording made with ``RECORDINGS[label]``."""
    client = RfbClient(RECORDINGS[label] + _PSEUDO)
    client.feed(data)
    return client.framebuffer


def main(argv: list[str] | None = None) -> int:
    """``record OUTDIR``: write raw/tight/zrle.bin.xz from boots of a fresh guest."""
    parser = argparse.ArgumentParser(prog="python -m tests.integration.rfbguest")
    parser.add_argument("command", choices=["record"])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    conn = libvirt.open("qemu:///system")
    guest = create(conn)
    try:
        for _attempt in range(3):
            streams = {
                label: record_boot(conn, guest, encodings + _PSEUDO)
                for label, encodings in RECORDINGS.items()
            }
            screens = {label: final_screen(label, data) for label, data in streams.items()}
            if all(np.array_equal(screens["raw"], screen) for screen in screens.values()):
                break
            print("the final screens differ: recording again", file=sys.stderr)
        else:
            raise RuntimeError("three recordings in a row ended on different screens")
        for label, data in streams.items():
            path = args.outdir / f"{label}.bin.xz"
            path.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
            print(f"{path}: {len(data)} bytes, {path.stat().st_size} compressed")
    finally:
        remove(conn, guest)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
