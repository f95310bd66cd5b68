"""Removing a booted guest's cloud-init seed: the disk leaves the config, the volume goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libvirt
import pytest

from tests.conftest import wait_until
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestState
from vmgui.core.xml.edit import without_seed_disks
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.seed import remove_seed

Run = Callable[..., Any]

_DOMAIN = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/{name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{seed}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
  </devices>
</domain>"""


def _define_seeded(conn: libvirt.virConnect, name: str) -> str:
    pool = conn.storagePoolLookupByName("default-pool")
    vol = pool.createXML(
        f"<volume><name>{name}-seed.iso</name><capacity unit='KiB'>366</capacity>"
        "<target><format type='raw'/></target></volume>",
        0,
    )
    seed = str(vol.path())
    conn.defineXML(_DOMAIN.format(name=name, seed=seed))
    return seed


def _exists(conn: libvirt.virConnect, path: str) -> bool:
    try:
        conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return False
    return True


def test_remove_seed_detaches_disk_and_deletes_volume(node50_uri: str, arun: Run) -> None:
    host = HostConnection(node50_uri, NullObserver())
    arun(host.connect())
    seed = arun(host.call(lambda c: _define_seeded(c, "seeded"), "define"))
    arun(wait_until(lambda: any(g.name == "seeded" for g in host.guests.values())))
    guest = next(g for g in host.guests.values() if g.name == "seeded")
    assert guest.state is GuestState.SHUTOFF

    removed = arun(remove_seed(host, guest))

    assert removed == [seed]
    xml = arun(host.call(lambda c: c.lookupByName("seeded").XMLDesc(0), "xml"))
    assert without_seed_disks(xml)[1] == ()
    assert "seeded.qcow2" in xml  # the guest's own disk stays
    assert not arun(host.call(lambda c: _exists(c, seed), "lookup"))
    with pytest.raises(VmguiError, match="no cloud-init seed"):
        arun(remove_seed(host, guest))
    arun(host.close())


def test_remove_seed_refuses_a_running_guest(node50_uri: str, arun: Run) -> None:
    host = HostConnection(node50_uri, NullObserver())
    arun(host.connect())
    running = next(g for g in host.guests.values() if g.state is GuestState.RUNNING)
    with pytest.raises(VmguiError, match="Shut it down first"):
        arun(remove_seed(host, running))
    arun(host.close())


def test_seed_disks_only_match_readonly_seed_volumes() -> None:
    xml = _DOMAIN.format(name="x", seed="/p/x-seed.iso")
    stripped, paths = without_seed_disks(xml)
    assert paths == ("/p/x-seed.iso",)
    assert "x-seed.iso" not in stripped
    assert "x.qcow2" in stripped
    assert without_seed_disks(xml.replace("<readonly/>", ""))[1] == ()
    assert without_seed_disks(_DOMAIN.format(name="x", seed="/p/data.iso"))[1] == ()
