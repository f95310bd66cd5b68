"""Bad input on the real daemon: the failure names the guest, the host and libvirt's reason."""

from __future__ import annotations

import pytest

from tests.integration.helpers import OpenHost, Run, promptly, reaches
from tests.integration.lab import POOL_DIR, Lab
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState, GuestAction, GuestState
from vmgui.virt import guests as svc

pytestmark = pytest.mark.integration

#: An immediate change must reach vmgui this fast.
PROMPT = 1.0


def test_start_with_a_missing_disk_fails_clearly(lab: Lab, open_host: OpenHost, mrun: Run) -> None:
    host, rec = open_host()
    missing = str(POOL_DIR / f"{lab.new_name()}-missing.qcow2")
    broken = lab.define_guest(disk=missing)
    healthy = lab.define_guest()
    mrun(
        promptly(
            "both guests being listed",
            lambda: {broken.uuid, healthy.uuid} <= set(host.guests),
            PROMPT,
            rec,
            {broken.uuid, healthy.uuid},
        )
    )

    with pytest.raises(VmguiError) as info:
        mrun(svc.run_action(host, host.guests[broken.uuid], GuestAction.START))
    error = info.value
    assert broken.name in error.summary
    assert host.display_name in error.summary
    assert error.summary.startswith("Could not start")
    assert missing in error.details, error.details
    assert "No such file" in error.details or "Cannot access" in error.details, error.details
    assert not error.not_found
    # What to do: check the file, not the (perfectly reachable) host.
    assert "disks" in error.hint and "reachable" not in error.hint, error.hint

    # Nothing else broke: still connected, every guest listed, the broken one still off.
    assert host.state is ConnectionState.CONNECTED
    assert host.status.reason == ""
    assert host.guests[broken.uuid].state is GuestState.SHUTOFF
    assert host.guests[healthy.uuid].state is GuestState.SHUTOFF
    listed = mrun(host.call(lambda c: {d.UUIDString() for d in c.listAllDomains(0)}, "list"))
    assert {broken.uuid, healthy.uuid} <= listed
    # Other programs may define guests on this shared host meanwhile: compare ours only.
    assert {broken.uuid, healthy.uuid} <= set(host.guests)
    assert broken.uuid not in rec.removed

    # And the host still acts: the healthy guest starts.
    before = len(rec.changed)
    mrun(svc.run_action(host, host.guests[healthy.uuid], GuestAction.START))
    mrun(reaches(host, rec, healthy.uuid, GuestState.RUNNING, before, PROMPT))
    lab.remove_guest(healthy)
