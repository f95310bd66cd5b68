"""Every lifecycle action and deletion through the service layer, on real tiny guests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from tests.integration.helpers import OpenHost, Recorder, Run, connect, promptly, reaches
from tests.integration.lab import GUEST_TIMEOUT, POWEROFF, Lab, TinyGuest, disk_xml
from vmgui.core.model import GuestAction, GuestInfo, GuestState, StorageItem
from vmgui.virt import guests as svc
from vmgui.virt.connection import HostConnection
from vmgui.virt.opening import open_connection

pytestmark = pytest.mark.integration

#: Actions whose effect is immediate must reach the observer this fast after they return.
PROMPT = 1.0


@pytest.fixture(scope="module")
def system(lab: Lab, mrun: Run) -> Iterator[tuple[HostConnection, Recorder]]:
    host, rec = connect(mrun, lab.uri)
    yield host, rec
    mrun(host.close())


def _listed(run: Run, host: HostConnection, rec: Recorder, guest: TinyGuest) -> GuestInfo:
    """The guest as vmgui lists it, once its define event arrived."""
    run(
        promptly(
            "the guest being listed", lambda: guest.uuid in host.guests, PROMPT, rec, {guest.uuid}
        )
    )
    return host.guests[guest.uuid]


def _act(
    run: Run,
    host: HostConnection,
    rec: Recorder,
    guest: TinyGuest,
    action: GuestAction,
    expected: GuestState,
    timeout: float = PROMPT,
) -> None:
    before = len(rec.changed)
    run(svc.run_action(host, host.guests[guest.uuid], action))
    run(reaches(host, rec, guest.uuid, expected, before, timeout))


def test_every_lifecycle_action(
    lab: Lab, system: tuple[HostConnection, Recorder], mrun: Run
) -> None:
    host, rec = system
    guest = lab.define_guest(memory_mib=256)  # reboots are slow at 128 MiB
    assert _listed(mrun, host, rec, guest).state is GuestState.SHUTOFF

    _act(mrun, host, rec, guest, GuestAction.START, GuestState.RUNNING)
    mrun(lab.wait_ready(guest, 1))
    domain_id = host.guests[guest.uuid].domain_id
    assert domain_id > 0

    # Reboot (ACPI): the same QEMU process boots the guest again; the log keeps both boots.
    before = len(rec.changed)
    mrun(svc.run_action(host, host.guests[guest.uuid], GuestAction.REBOOT))
    mrun(lab.wait_ready(guest, 2))
    assert POWEROFF in lab.console(guest)
    mrun(reaches(host, rec, guest.uuid, GuestState.RUNNING, before, PROMPT))
    assert host.guests[guest.uuid].domain_id == domain_id

    _act(mrun, host, rec, guest, GuestAction.PAUSE, GuestState.PAUSED)
    _act(mrun, host, rec, guest, GuestAction.RESUME, GuestState.RUNNING)

    _act(mrun, host, rec, guest, GuestAction.SAVE, GuestState.SAVED)
    assert lab.domain(guest).hasManagedSaveImage(0)
    _act(mrun, host, rec, guest, GuestAction.START, GuestState.RUNNING)
    assert not lab.domain(guest).hasManagedSaveImage(0), "start did not restore the saved image"

    _act(mrun, host, rec, guest, GuestAction.SHUTDOWN, GuestState.SHUTOFF, GUEST_TIMEOUT)
    assert POWEROFF in lab.console(guest)

    _act(mrun, host, rec, guest, GuestAction.START, GuestState.RUNNING)
    _act(mrun, host, rec, guest, GuestAction.FORCE_OFF, GuestState.SHUTOFF)
    assert not lab.domain(guest).isActive()
    lab.remove_guest(guest)


def _plan(
    run: Run, host: HostConnection, rec: Recorder, guest: TinyGuest
) -> dict[str, StorageItem]:
    plan = run(svc.fetch_delete_plan(host, _listed(run, host, rec, guest)))
    assert plan.guest.uuid == guest.uuid
    return {item.path: item for item in plan.storage}


def _delete_all(run: Run, host: HostConnection, rec: Recorder, guest: TinyGuest) -> list[str]:
    """Delete the guest, asking to remove every disk the plan lists; return what was removed."""
    plan = _plan(run, host, rec, guest)
    result = run(svc.delete_guest(host, host.guests[guest.uuid], list(plan)))
    run(
        promptly(
            "the guest going away",
            lambda: guest.uuid in rec.removed and guest.uuid not in host.guests,
            PROMPT,
            rec,
            {guest.uuid},
        )
    )
    return list(result.removed)


def test_delete_removes_the_overlay_and_keeps_the_base_image(
    lab: Lab, system: tuple[HostConnection, Recorder], mrun: Run
) -> None:
    host, rec = system
    # The guest writes to its overlay and (directly) to the base image behind every overlay.
    guest = lab.define_guest(extra_disks=disk_xml(lab.base_path, "vdb"))
    plan = _plan(mrun, host, rec, guest)
    assert set(plan) == {guest.disk, lab.base_path}
    assert plan[guest.disk].removable
    assert plan[guest.disk].target == "vda"
    assert not plan[lab.base_path].removable
    assert plan[lab.base_path].reason == "backs another image"

    removed = _delete_all(mrun, host, rec, guest)
    assert removed == [guest.disk]
    assert not lab.volume_exists(guest.disk)
    assert lab.volume_exists(lab.base_path)


def test_a_disk_another_guest_uses_is_kept(
    lab: Lab, system: tuple[HostConnection, Recorder], mrun: Run
) -> None:
    host, rec = system
    owner = lab.define_guest()
    reader = lab.define_guest(extra_disks=disk_xml(owner.disk, "vdb", readonly=True))
    writer = lab.define_guest(extra_disks=disk_xml(owner.disk, "vdb"))

    plan = _plan(mrun, host, rec, owner)
    assert plan[owner.disk] == StorageItem(owner.disk, "vda", False, "used by another guest")
    plan = _plan(mrun, host, rec, reader)
    assert set(plan) == {reader.disk}, "a read-only disk is never offered for removal"
    assert plan[reader.disk].removable
    plan = _plan(mrun, host, rec, writer)
    assert plan[owner.disk] == StorageItem(owner.disk, "vdb", False, "used by another guest")
    assert plan[writer.disk].removable

    assert _delete_all(mrun, host, rec, writer) == [writer.disk]
    assert lab.volume_exists(owner.disk)
    assert _delete_all(mrun, host, rec, reader) == [reader.disk]
    assert lab.volume_exists(owner.disk)
    # Nobody else uses it now: it is the owner's to remove.
    assert _plan(mrun, host, rec, owner)[owner.disk].removable
    assert _delete_all(mrun, host, rec, owner) == [owner.disk]
    assert not lab.volume_exists(owner.disk)
    assert lab.volume_exists(lab.base_path)


class _VanishingGuestConnection:
    """A real connection on which another program undefines a guest right after a listing."""

    def __init__(self, conn: libvirt.virConnect, lab: Lab) -> None:
        self._conn = conn
        self._lab = lab
        self._victim: TinyGuest | None = None
        self.vanished: list[str] = []

    def undefine_after_next_listing(self, victim: TinyGuest) -> None:
        self._victim = victim

    def listAllDomains(self, flags: int = 0) -> list[libvirt.virDomain]:
        domains: list[libvirt.virDomain] = self._conn.listAllDomains(flags)
        victim, self._victim = self._victim, None
        if victim is not None:
            self._lab.remove_guest(victim)  # through the lab's own connection
            self.vanished.append(victim.uuid)
        return domains

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_delete_plan_survives_another_guest_vanishing(
    lab: Lab, open_host: OpenHost, mrun: Run
) -> None:
    """On a shared host, a guest undefined while the plan reads the others is skipped."""
    victim = lab.define_guest()
    target = lab.define_guest()
    connections: list[_VanishingGuestConnection] = []

    def opener(uri: str) -> libvirt.virConnect:
        connections.append(_VanishingGuestConnection(open_connection(uri), lab))
        return connections[-1]

    host, rec = open_host(opener=opener)
    connections[-1].undefine_after_next_listing(victim)
    plan = mrun(svc.fetch_delete_plan(host, _listed(mrun, host, rec, target)))
    assert connections[-1].vanished == [victim.uuid], "the race did not happen"
    assert plan.storage == (StorageItem(target.disk, "vda", True),)
