"""Snapshots on the real daemon: a memory snapshot of a running tiny guest reverts to the state
it held, and every refusal is raised with its reason before anything is done."""

from __future__ import annotations

import json
from pathlib import Path

import libvirt
import pytest

from tests.integration.helpers import OpenHost, Run
from tests.integration.lab import POOL_DIR, POWEROFF, READY
from tests.integration.mobility.conftest import MobGuest, MobLab, wait_for
from vmgui.cli import main
from vmgui.core.errors import VmguiError
from vmgui.virt.snapshots import (
    create_snapshot,
    delete_snapshot,
    list_snapshots,
    revert_snapshot,
)

BOOT_LINE = "tinyguest: modules loaded"


def _boot(mob: MobLab, guest: MobGuest) -> libvirt.virDomain:
    dom = mob.lab.conn().lookupByUUIDString(guest.uuid)
    dom.create()
    wait_for(lambda: READY in guest.console())
    return dom


def test_memory_snapshot_reverts_to_the_running_state_before(
    mob: MobLab, open_host: OpenHost, mrun: Run
) -> None:
    guest = mob.guest()
    dom = _boot(mob, guest)
    host, _rec = open_host()

    made = mrun(create_snapshot(host, guest.uuid, "before", "booted once"))
    assert (made.name, made.has_memory, made.external, made.current) == (
        "before",
        True,
        False,
        True,
    )
    listing = mrun(list_snapshots(host, guest.uuid))
    assert [s.name for s in listing.snapshots] == ["before"]
    assert listing.snapshots[0].description == "booted once"
    assert listing.snapshots[0].revert_refusal == ""

    # Change the state: a reset boots the guest again (the log is kept: two markers).
    dom.reset()
    wait_for(lambda: guest.console().count(READY) == 2)

    mrun(revert_snapshot(host, guest.uuid, "before"))
    assert dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING
    # QEMU restarted from the saved memory: its log starts empty and the guest does not boot;
    # its acpid (started by the first boot) answers the power button at once.
    dom.shutdown()
    wait_for(lambda: POWEROFF in guest.console(), 30)
    console = guest.console()
    assert READY not in console and BOOT_LINE not in console, console
    wait_for(lambda: dom.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF, 30)

    child = mrun(create_snapshot(host, guest.uuid, "after", disk_only=False))
    assert not child.has_memory  # the guest is shut off now: a disk snapshot
    listing = mrun(list_snapshots(host, guest.uuid))
    (root,) = listing.tree
    assert root.snapshot.name == "before" and [c.snapshot.name for c in root.children] == ["after"]
    assert [s.name for s in listing.snapshots if s.current] == ["after"]

    gone = mrun(delete_snapshot(host, guest.uuid, "before", with_children=True))
    assert set(gone) == {"before", "after"}
    assert dom.snapshotNum(0) == 0


def test_refusals_come_before_anything_is_done(mob: MobLab, open_host: OpenHost, mrun: Run) -> None:
    host, _rec = open_host()
    raw = mob.guest(raw_disk=True)
    with pytest.raises(VmguiError) as info:
        mrun(create_snapshot(host, raw.uuid, "nope"))
    assert info.value.details == (
        "Disk vda is raw: internal snapshots need every writable disk in qcow2 format."
    )
    assert mob.lab.conn().lookupByUUIDString(raw.uuid).snapshotNum(0) == 0

    guest = mob.guest()  # qcow2 disk + read-only raw seed: the seed is ignored
    _boot(mob, guest)
    mrun(create_snapshot(host, guest.uuid, "mem"))
    files_before = sorted(POOL_DIR.glob(f"{guest.name}*"))
    disk = mrun(create_snapshot(host, guest.uuid, "ext", disk_only=True))
    assert disk.external and not disk.has_memory
    assert Path(f"{POOL_DIR}/{guest.name}.ext").exists()
    assert len(sorted(POOL_DIR.glob(f"{guest.name}*"))) == len(files_before) + 1

    listing = mrun(list_snapshots(host, guest.uuid))
    ext = listing.find("ext")
    assert ext is not None
    assert ext.revert_refusal == (
        "ext is an external snapshot: libvirt 9.0.0 cannot revert to it (that needs libvirt 9.9)."
    )
    with pytest.raises(VmguiError) as info:
        mrun(revert_snapshot(host, guest.uuid, "ext"))
    assert info.value.details == ext.revert_refusal
    with pytest.raises(VmguiError) as info:
        mrun(delete_snapshot(host, guest.uuid, "ext"))
    assert (
        info.value.details == "ext is external with an internal parent: libvirt cannot delete it."
    )
    with pytest.raises(VmguiError) as info:
        mrun(create_snapshot(host, guest.uuid, "mem"))
    assert info.value.summary == f"{guest.name} already has a snapshot named mem"
    assert mob.lab.conn().lookupByUUIDString(guest.uuid).snapshotNum(0) == 2


def test_running_uefi_guest_refuses_internal_snapshots(
    mob: MobLab, open_host: OpenHost, mrun: Run
) -> None:
    if not Path("/usr/share/OVMF").is_dir():
        pytest.skip("needs Debian's ovmf (UEFI firmware for qemu)")
    guest = mob.guest(seed=False, uefi=True)
    dom = mob.lab.conn().lookupByUUIDString(guest.uuid)
    dom.create()
    host, _rec = open_host()
    listing = mrun(list_snapshots(host, guest.uuid))
    refusal = (
        "libvirt 9.0.0 refuses internal snapshots of a running UEFI guest: shut it down first, "
        "or take a disk-only snapshot."
    )
    assert listing.create_refusal == refusal and listing.disk_only_refusal == ""
    with pytest.raises(VmguiError) as info:
        mrun(create_snapshot(host, guest.uuid, "mem"))
    assert info.value.details == refusal
    # The rule is libvirt's own: asked directly, it refuses too (after starting to work).
    with pytest.raises(libvirt.libvirtError):
        dom.snapshotCreateXML("<domainsnapshot><name>direct</name></domainsnapshot>", 0)
    assert dom.snapshotNum(0) == 0


def test_cli_snapshot_verbs(mob: MobLab, capsys: pytest.CaptureFixture[str]) -> None:
    guest = mob.guest()
    uri = ["--connect", mob.lab.uri]
    assert main(["snapshot", "create", guest.name, "s1", "--description", "cold", *uri]) == 0
    assert f"{guest.name}: snapshot s1 created (internal, disk only)" in capsys.readouterr().out
    assert main(["snapshot", "list", guest.name, "--json", *uri]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["current"], s["kind"], s["description"]) for s in data] == [
        ("s1", True, "internal", "cold")
    ]
    assert main(["snapshot", "revert", guest.name, "s1", *uri]) == 0
    assert main(["snapshot", "revert", guest.name, "nope", *uri]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{guest.name} has no snapshot named nope" in err
    assert main(["snapshot", "delete", guest.name, "s1", *uri]) == 0
    assert "deleted s1" in capsys.readouterr().out
    assert main(["snapshot", "list", guest.name, *uri]) == 0
    assert f"{guest.name} has no snapshots" in capsys.readouterr().out
