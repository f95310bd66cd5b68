"""A 1920x1080 variant of the RFB test guest for the console benchmark (RECIPES.md §2).

The Debian cloud kernel has only vgacon (720x400 text). This guest boots Debian's *generic*
kernel of the same ABI instead, whose ``bochs`` DRM driver drives std VGA; ``video=1920x1080``
makes fbcon's console 1920x1080 (240x67 characters) about 7 s after start. The kernel package
(``linux-image-<abi>-amd64``, the one ``linux-image-amd64`` depends on) is fetched once with
``apt-get download``; its kernel and six DRM modules are kept in :data:`CACHE` (~10 MiB) and
appended to the RFB guest's initramfs with an ``/init`` that loads them before busybox init.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import libvirt

from tests.integration import rfbguest

CACHE = Path("/var/tmp/vmgui-bochs-guest")
MODULES = ("drm", "drm_kms_helper", "ttm", "drm_ttm_helper", "drm_vram_helper", "bochs")
SIZE = (1920, 1080)
_INIT = """#!/bin/sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {modules}; do
  insmod /drm-$m.ko 2>/dev/ttyS0 || echo "bochsguest: insmod $m failed" >/dev/ttyS0
done
exec /bin/busybox init
"""


def _kernel_package() -> str:
    """The versioned package behind ``linux-image-amd64`` (e.g. linux-image-6.1.0-57-amd64)."""
    out = subprocess.run(
        ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "Depends:" and parts[1].startswith("linux-image-"):
            return parts[1]
    raise RuntimeError("cannot resolve the package behind linux-image-amd64")


def kernel_files() -> tuple[Path, dict[str, Path]]:
    """The generic kernel and its DRM modules (downloaded once; only these ~15 MiB kept)."""
    kept = CACHE / "kernel"
    if not (kept / "vmlinuz").is_file():
        package = _kernel_package()
        work = CACHE / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            subprocess.run(
                ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package],
                cwd=work,
                check=True,
            )
            (deb,) = sorted(work.glob(f"{package}_*.deb"))
            tree = work / "tree"
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
            partial = CACHE / "kernel.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            for name in MODULES:
                found = sorted((tree / "lib" / "modules").rglob(f"{name}.ko"))
                if not found:
                    raise RuntimeError(f"module {name} is not in {package}")
                shutil.copy(found[0], partial / f"{name}.ko")
            (vmlinuz,) = sorted((tree / "boot").glob("vmlinuz-*"))
            shutil.copy(vmlinuz, partial / "vmlinuz")
            shutil.rmtree(kept, ignore_errors=True)
            partial.rename(kept)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return kept / "vmlinuz", {name: kept / f"{name}.ko" for name in MODULES}


def create(
    conn: libvirt.virConnect, prefix: str, *, listen: str | None = None
) -> rfbguest.RfbGuest:
    """Define (not start) a 1920x1080 RFB guest named ``prefix``…"""
    vmlinuz, modules = kernel_files()
    made = rfbguest.create(conn, prefix=prefix, listen=listen)
    try:
        (made.directory / "vmlinuz").write_bytes(vmlinuz.read_bytes())
        # (at the root: the initramfs unpacker makes no parent folders)
        files = {f"drm-{n}.ko": (p.read_bytes(), 0o100644) for n, p in modules.items()}
        files["init"] = (_INIT.format(modules=" ".join(MODULES)).encode(), 0o100755)
        with (made.directory / "initrd.gz").open("ab") as f:
            f.write(gzip.compress(rfbguest.cpio(files)))
        xml = made.xml.replace(rfbguest.CMDLINE, f"{rfbguest.CMDLINE} video={SIZE[0]}x{SIZE[1]}")
        conn.lookupByName(made.name).undefine()  # (the XML has no UUID: define it anew)
        conn.defineXML(xml)
    except BaseException:
        rfbguest.remove(conn, made)
        raise
    return rfbguest.RfbGuest(made.name, made.directory, made.console_log, xml)
