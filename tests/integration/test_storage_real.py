"""Pools and volumes on the real daemon: a ``vmgui-iso-*`` dir pool, its volumes, streams.

The pool and everything in it are removed at the end, also after failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.helpers import OpenHost, Run
from tests.integration.lab import Lab
from vmgui.core.errors import VmguiError
from vmgui.virt.pools import (
    create_dir_pool,
    create_volume,
    delete_pool,
    delete_volume,
    fetch_pools,
    fetch_volumes,
    refresh_pool,
    resize_volume,
    start_pool,
    stop_pool,
    upload_volume,
)
from vmgui.virt.storage import download_volume

pytestmark = pytest.mark.integration

MIB = 1 << 20


@pytest.fixture
def pool_name(lab: Lab) -> Iterator[str]:
    """A fresh ``vmgui-iso-*`` pool name; the pool, its directory and guests go afterwards."""
    name = f"vmgui-iso-{lab.session}-pool"
    directory = Path(f"/var/lib/libvirt/images/{name}")
    yield name
    conn = lab.conn()
    for dom in conn.listAllDomains(0):
        if dom.name().startswith(f"vmgui-iso-{lab.session}-user"):
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
    with contextlib.suppress(libvirt.libvirtError):
        pool = conn.storagePoolLookupByName(name)
        with contextlib.suppress(libvirt.libvirtError):
            pool.destroy()
        pool.undefine()
    shutil.rmtree(directory, ignore_errors=True)


def _user_xml(name: str, disk: str) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def test_pool_and_volume_lifecycle(
    lab: Lab, open_host: OpenHost, mrun: Run, pool_name: str, tmp_path: Path
) -> None:
    """Create a dir pool, a qcow2 and a raw volume, grow one, refuse to delete a volume a
    guest uses (naming it) and the pool holding it, stream a file up and back (equal bytes,
    progress reported), cancel an upload (no volume left), stop/start/refresh, delete all."""
    host, _rec = open_host()
    directory = f"/var/lib/libvirt/images/{pool_name}"
    user = f"vmgui-iso-{lab.session}-user"

    async def scenario() -> None:
        pool = await create_dir_pool(host, pool_name, directory)
        assert pool.active and pool.autostart and pool.path == directory
        assert pool.capacity > 0 and pool.available > 0
        listed = {p.name: p for p in await fetch_pools(host)}
        assert listed[pool_name].state == "running"

        disk = await create_volume(host, pool_name, "disk.qcow2", 16 * MIB, "qcow2")
        assert disk.format == "qcow2" and disk.capacity == 16 * MIB
        assert disk.allocation < 16 * MIB, "qcow2 is not preallocated"
        raw = await create_volume(host, pool_name, "data.img", 8 * MIB, "raw")
        assert raw.format == "raw"
        grown = await resize_volume(host, pool_name, "disk.qcow2", 32 * MIB)
        assert grown.capacity == 32 * MIB
        with pytest.raises(VmguiError, match="only grows"):
            await resize_volume(host, pool_name, "disk.qcow2", 8 * MIB)

        lab.conn().defineXML(_user_xml(user, disk.path))
        volumes = {v.name: v for v in await fetch_volumes(host, pool_name)}
        assert volumes["disk.qcow2"].used_by == (user,)
        with pytest.raises(VmguiError, match=f"is used by {user}"):
            await delete_volume(host, pool_name, "disk.qcow2")
        with pytest.raises(VmguiError, match=f"used by {user}"):
            await delete_pool(host, pool_name)
        with pytest.raises(VmguiError, match=f"cannot be stopped: its volumes are used by {user}"):
            await stop_pool(host, pool_name)
        assert "disk.qcow2" in {v.name for v in await fetch_volumes(host, pool_name)}
        lab.conn().lookupByName(user).undefine()

        # Streams: up, back, equal; progress seen.
        source = tmp_path / "payload.bin"
        source.write_bytes(os.urandom(9 * MIB + 123))
        ups: list[tuple[int, int]] = []
        uploaded = await upload_volume(
            host, pool_name, "payload.img", source, lambda d, t: ups.append((d, t))
        )
        assert uploaded.capacity >= source.stat().st_size
        assert ups and ups[-1] == (source.stat().st_size, source.stat().st_size)
        downs: list[tuple[int, int]] = []
        back = tmp_path / "back.bin"
        got = await download_volume(host, uploaded.path, back, lambda d, t: downs.append((d, t)))
        assert got == source.stat().st_size and len(downs) >= 2
        digest = hashlib.sha256
        assert digest(back.read_bytes()).digest() == digest(source.read_bytes()).digest()

        # Cancel an upload after its first chunk: the volume is gone again.
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(24 * MIB))
        first = asyncio.Event()
        task = asyncio.ensure_future(
            upload_volume(host, pool_name, "cancelled.img", big, lambda d, t: first.set())
        )
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await refresh_pool(host, pool_name)
        assert "cancelled.img" not in {v.name for v in await fetch_volumes(host, pool_name)}

        stopped = await stop_pool(host, pool_name)
        assert not stopped.active and stopped.state == "inactive"
        assert pool_name in {p.name for p in await fetch_pools(host)}, "inactive pools listed"
        with pytest.raises(VmguiError, match="not running"):
            await fetch_volumes(host, pool_name)
        await start_pool(host, pool_name)
        for name in ("disk.qcow2", "data.img", "payload.img"):
            await delete_volume(host, pool_name, name)
        assert await fetch_volumes(host, pool_name) == []
        await delete_pool(host, pool_name)
        assert pool_name not in {p.name for p in await fetch_pools(host)}

    mrun(scenario(), timeout=120)
