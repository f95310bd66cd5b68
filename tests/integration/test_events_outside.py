"""Changes made by another program (a separate libvirt connection) reach vmgui by events.

vmgui issues no action here, so no post-action refresh can explain what the observer sees:
only libvirt's domain events, delivered on the event thread and handed to the loop, can.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import libvirt
import pytest

from tests.integration.helpers import OpenHost, Run, promptly, reaches
from tests.integration.lab import Lab
from vmgui.core.model import GuestState

pytestmark = pytest.mark.integration

#: An outside change must reach the observer this fast.
PROMPT = 1.0


@pytest.fixture
def outside(lab: Lab) -> Iterator[libvirt.virConnect]:
    """A raw connection of another program (like virsh), not vmgui's."""
    conn = libvirt.open(lab.uri)
    yield conn
    conn.close()


def test_outside_changes_reach_the_observer(
    lab: Lab, outside: libvirt.virConnect, open_host: OpenHost, mrun: Run
) -> None:
    host, rec = open_host()
    spec = lab.prepare_guest()
    assert spec.name not in {g.name for g in host.guests.values()}

    # define: a new guest appears through guest_changed
    before = len(rec.changed)
    dom = outside.defineXML(spec.xml)
    uuid = dom.UUIDString()
    mrun(
        promptly(
            "the new guest appearing",
            lambda: any(g.uuid == uuid for g in rec.changed[before:]),
            PROMPT,
            rec,
            {uuid},
        )
    )
    assert host.guests[uuid].name == spec.name
    assert host.guests[uuid].state is GuestState.SHUTOFF

    steps: list[tuple[Callable[[], object], GuestState]] = [
        (dom.create, GuestState.RUNNING),
        (dom.suspend, GuestState.PAUSED),
        (dom.resume, GuestState.RUNNING),
        (dom.destroy, GuestState.SHUTOFF),
        (dom.create, GuestState.RUNNING),
        (dom.destroy, GuestState.SHUTOFF),
    ]
    for change, state in steps:
        before = len(rec.changed)
        change()
        mrun(reaches(host, rec, uuid, state, before, PROMPT))

    # undefine: the guest goes away through guest_removed
    dom.undefine()
    mrun(promptly("the guest going away", lambda: uuid in rec.removed, PROMPT, rec, {uuid}))
    assert uuid not in host.guests
    assert rec.threads == {threading.current_thread().name}, "observers run on the loop's thread"


def test_outside_changes_reach_a_second_connection_too(
    lab: Lab, outside: libvirt.virConnect, open_host: OpenHost, mrun: Run
) -> None:
    """Two vmgui connections to one host each follow the same outside change."""
    guest = lab.define_guest()
    hosts = [open_host(), open_host()]
    dom = outside.lookupByUUIDString(guest.uuid)
    marks = [len(rec.changed) for _host, rec in hosts]
    dom.create()
    for (host, rec), mark in zip(hosts, marks, strict=True):
        mrun(reaches(host, rec, guest.uuid, GuestState.RUNNING, mark, PROMPT))
    marks = [len(rec.changed) for _host, rec in hosts]
    dom.destroy()
    for (host, rec), mark in zip(hosts, marks, strict=True):
        mrun(reaches(host, rec, guest.uuid, GuestState.SHUTOFF, mark, PROMPT))
    lab.remove_guest(guest)
