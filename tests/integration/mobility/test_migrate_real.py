"""Moves between the main host and the second host (real daemons): live with storage there and
back, offline through streams, refusals before anything starts, and a cancelled live
migration that leaves the guest running on the source and nothing on the destination."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.helpers import Run, connect
from tests.integration.lab import POOL_DIR, POWEROFF, READY
from tests.integration.mobility.conftest import Host2, MobGuest, MobLab, console_of, wait_for
from vmgui.cli import main
from vmgui.core.provisioning import Progress, ProvisionError, Step
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt.connection import HostConnection
from vmgui.virt.migrate import move_guest


@pytest.fixture(scope="module")
def lab_pool_on_host2(host2: Host2) -> Iterator[str]:
    """A dir pool on the second host at the lab pool's folder (where live moves put disks)."""
    name = f"{host2.stem}-pool"
    pool = host2.conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{POOL_DIR}</path>"
        "<permissions><mode>0755</mode></permissions></target></pool>",
        0,
    )
    pool.build(0)
    pool.create(0)
    try:
        yield name
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            pool.refresh(0)
            for vol in pool.listAllVolumes(0):
                if vol.name().startswith(host2.stem):
                    vol.delete(0)
            pool.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            pool.undefine()


@pytest.fixture
def hosts(mob: MobLab, host2: Host2, mrun: Run) -> Iterator[tuple[HostConnection, HostConnection]]:
    main_host, _ = connect(mrun, mob.lab.uri)
    second, _ = connect(mrun, host2.uri)
    try:
        yield main_host, second
    finally:
        mrun(main_host.close())
        mrun(second.close())


def _booted(mob: MobLab) -> tuple[MobGuest, libvirt.virDomain]:
    guest = mob.guest()
    dom = mob.lab.conn().lookupByUUIDString(guest.uuid)
    dom.create()
    wait_for(lambda: READY in guest.console())
    return guest, dom


def _exists(conn: libvirt.virConnect, path: str) -> bool:
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        pool.refresh(0)
    try:
        conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return False
    return True


def test_refused_before_anything_starts(
    mob: MobLab, host2: Host2, hosts: tuple[HostConnection, HostConnection], mrun: Run
) -> None:
    main_host, second = hosts
    guest, _dom = _booted(mob)
    with pytest.raises(ProvisionError) as info:
        mrun(move_guest(main_host, second, guest.uuid))
    assert info.value.step is Step.VALIDATE
    assert f"has no active storage pool at {POOL_DIR} (for vda)" in str(info.value)
    assert not _exists(host2.conn, guest.disk)

    cold = mob.guest(seed=False)
    conn = mob.lab.conn()
    xml = conn.lookupByUUIDString(cold.uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    conn.defineXML(
        xml.replace(
            "<interface type='user'>", "<interface type='network'><source network='default'/>"
        )
    )
    with pytest.raises(ProvisionError) as info:
        mrun(move_guest(main_host, second, cold.uuid))
    assert "has no network 'default'" in str(info.value) and "--network-map default=" in str(
        info.value
    )
    assert cold.name not in {d.name() for d in host2.conn.listAllDomains(0)}


def test_live_to_the_second_host_and_back(
    mob: MobLab,
    host2: Host2,
    lab_pool_on_host2: str,
    hosts: tuple[HostConnection, HostConnection],
    mrun: Run,
) -> None:
    main_host, second = hosts
    guest, _dom = _booted(mob)
    reports: list[Progress] = []
    there = mrun(move_guest(main_host, second, guest.uuid, progress=reports.append), timeout=180)
    assert there.live and [t.step for t in there.timings] == [
        Step.VALIDATE,
        Step.UPLOAD,
        Step.MIGRATE,
        Step.VERIFY,
        Step.CLEANUP,
    ]
    moved = host2.conn.lookupByUUIDString(guest.uuid)
    assert moved.isActive() and moved.isPersistent()
    assert guest.name not in {d.name() for d in mob.lab.conn().listAllDomains(0)}
    assert set(there.removed) == {f"guest {guest.name}", guest.disk, guest.seed}
    assert not Path(guest.disk).exists() and Path(mob.lab.base_path).exists()
    assert _exists(host2.conn, guest.seed)  # carried: libvirt does not copy read-only disks

    back = mrun(move_guest(second, main_host, guest.uuid), timeout=180)
    assert back.live
    home = mob.lab.conn().lookupByUUIDString(guest.uuid)
    assert home.isActive() and home.isPersistent()
    assert guest.uuid not in {d.UUIDString() for d in host2.conn.listAllDomains(0)}
    assert not _exists(host2.conn, guest.disk) and not _exists(host2.conn, guest.seed)
    # The same guest, not a reboot: its acpid (from the first boot) still answers at once.
    home.shutdown()
    wait_for(lambda: POWEROFF in guest.console(), 30)
    assert READY not in guest.console()


def test_cancel_mid_migration_keeps_the_guest_on_the_source(
    mob: MobLab,
    host2: Host2,
    lab_pool_on_host2: str,
    hosts: tuple[HostConnection, HostConnection],
    mrun: Run,
) -> None:
    main_host, second = hosts
    guest, dom = _booted(mob)

    async def cancel_mid_way() -> None:
        moving = asyncio.Event()

        def seen(p: Progress) -> None:
            if p.step is Step.MIGRATE and p.done_bytes:
                moving.set()

        task = asyncio.ensure_future(
            move_guest(main_host, second, guest.uuid, bandwidth_mib=1, progress=seen)
        )
        await asyncio.wait_for(moving.wait(), 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    mrun(cancel_mid_way())
    assert dom.isActive() and dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert guest.uuid not in {d.UUIDString() for d in host2.conn.listAllDomains(0)}
    assert not _exists(host2.conn, guest.disk) and not _exists(host2.conn, guest.seed)
    assert not host2.outside(guest.disk).exists()


def test_offline_move_through_streams_boots_there(
    mob: MobLab,
    host2: Host2,
    lab_pool_on_host2: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    guest = mob.guest()
    argv = ["migrate", guest.name, "--connect", mob.lab.uri, "--to", host2.uri, "--offline"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "moved offline" in out and guest.disk in out
    dom = host2.conn.lookupByUUIDString(guest.uuid)
    assert not dom.isActive() and Path(mob.lab.base_path).exists()
    assert "backing" not in host2.conn.storageVolLookupByPath(guest.disk).XMLDesc(0)
    dom.create()
    log = host2.outside(guest.log)
    wait_for(lambda: READY in console_of(str(log)), 90)
    assert f'"local-hostname": "{guest.name}"' in console_of(str(log))
    dom.destroy()


def _media(dom: libvirt.virDomain) -> dict[str, str]:
    return {d.target: d.path for d in parse_domain_xml(dom.XMLDesc(0)).disks}


def test_cdrom_is_carried_then_left_behind_with_detach_readonly(
    mob: MobLab,
    host2: Host2,
    lab_pool_on_host2: str,
    hosts: tuple[HostConnection, HostConnection],
    mrun: Run,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main_host, second = hosts
    guest = mob.guest()
    iso = mob.add_cdrom(guest)
    dom = mob.lab.conn().lookupByUUIDString(guest.uuid)
    dom.create()
    wait_for(lambda: READY in guest.console())

    there = mrun(move_guest(main_host, second, guest.uuid), timeout=180)
    moved = host2.conn.lookupByUUIDString(guest.uuid)
    assert moved.isActive() and _media(moved)["hdc"] == iso
    assert hashlib.sha256(host2.outside(iso).read_bytes()).hexdigest() == _sha256(Path(iso))
    assert Path(iso).exists() and iso not in there.removed  # an ISO is never the guest's own

    argv = ["migrate", guest.name, "--connect", host2.uri, "--to", mob.lab.uri]
    assert main([*argv, "--detach-readonly"]) == 0
    out = capsys.readouterr().out
    assert f"warning: hdc ({iso}) stays behind: its medium ejected" in out
    assert f"warning: vdb ({guest.seed}) stays behind: detached" in out
    home = mob.lab.conn().lookupByUUIDString(guest.uuid)
    media = _media(home)
    assert home.isActive() and media["hdc"] == "" and "vdb" not in media
    assert media["vda"] == guest.disk and Path(iso).exists()
    assert guest.uuid not in {d.UUIDString() for d in host2.conn.listAllDomains(0)}
    home.destroy()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
