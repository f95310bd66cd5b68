"""HostConnection and the guest services against libvirt's test driver (real libvirt code)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import libvirt
import pytest

from tests.conftest import fixture_uri, wait_until
from tests.testdriver.helpers import Droppable, Recorder
from vmgui.core.errors import VmguiError
from vmgui.core.model import (
    ConnectionState,
    GuestAction,
    GuestInfo,
    GuestState,
    StorageItem,
)
from vmgui.virt import guests as svc
from vmgui.virt.connection import HostConnection
from vmgui.virt.opening import open_connection

Run = Callable[..., Any]


def _guest(host: HostConnection, name: str) -> GuestInfo:
    return next(g for g in host.guests.values() if g.name == name)


def _first(host: HostConnection, state: GuestState, persistent: bool = True) -> GuestInfo:
    return next(
        g
        for g in sorted(host.guests.values(), key=lambda g: g.name)
        if g.state is state and g.persistent == persistent
    )


@pytest.fixture
def connected(node50_uri: str, arun: Run) -> tuple[HostConnection, Recorder, Run]:
    rec = Recorder()
    host = HostConnection(node50_uri, rec)
    arun(host.connect())
    return host, rec, arun


def test_connect_lists_guests_and_host(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, rec, run = connected
    assert host.state is ConnectionState.CONNECTED
    assert [s.state for s in rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
    ]
    assert len(rec.listed) == 1 and len(rec.listed[0]) == 60
    states = {s: sum(1 for g in rec.listed[0] if g.state is s) for s in GuestState}
    assert states[GuestState.RUNNING] == 30
    assert states[GuestState.PAUSED] == 6
    assert states[GuestState.SAVED] == 4
    assert states[GuestState.SHUTOFF] == 16
    assert states[GuestState.CRASHED] == 2
    assert states[GuestState.SUSPENDED] == 2
    info = rec.infos[0]
    assert (info.cpus, info.memory_kib, info.hypervisor) == (16, 64 * 1024 * 1024, "TEST")
    run(wait_until(lambda: host.host_info is not None and host.host_info.capabilities_known))
    assert host.host_info is not None and host.host_info.cpu_model
    # Observers are only ever called on the loop's thread.
    assert rec.threads == {threading.current_thread().name}
    run(host.close())


def test_calls_run_on_the_host_worker(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, _rec, run = connected
    name = run(host.call(lambda _c: threading.current_thread().name, "thread"))
    assert name == f"virt:{host.uri}"  # the name of the host's worker thread
    assert name != threading.current_thread().name
    run(host.close())


def test_lifecycle_actions_update_states(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, rec, run = connected
    off = _first(host, GuestState.SHUTOFF)
    steps = [
        (GuestAction.START, GuestState.RUNNING),
        (GuestAction.PAUSE, GuestState.PAUSED),
        (GuestAction.RESUME, GuestState.RUNNING),
        (GuestAction.REBOOT, GuestState.RUNNING),
        (GuestAction.SAVE, GuestState.SAVED),
        (GuestAction.START, GuestState.RUNNING),
        (GuestAction.FORCE_OFF, GuestState.SHUTOFF),
    ]
    for action, expected in steps:
        guest = host.guests[off.uuid]
        before = run(host.call(partial(_state_and_reason, off.uuid), "state"))
        run(svc.run_action(host, guest, action))
        run(wait_until(partial(_state_is, host, off.uuid, expected), 2.0))
        assert rec.last_state(off.uuid) is expected
        if action is GuestAction.REBOOT:
            # The guest was running before and after: what shows the reboot happened is the
            # reason libvirt gives for "running", from "unpaused" to "booted" (the test driver
            # sends no event for a reboot).
            after = run(host.call(partial(_state_and_reason, off.uuid), "state"))
            assert before == (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_UNPAUSED)
            assert after == (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED)
    run(host.close())


def _state_and_reason(uuid: str, conn: libvirt.virConnect) -> tuple[int, int]:
    state, reason = conn.lookupByUUIDString(uuid).state()
    return int(state), int(reason)


def test_shutdown_of_running_guest(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, _rec, run = connected
    guest = _first(host, GuestState.RUNNING)
    run(svc.run_action(host, guest, GuestAction.SHUTDOWN))
    run(wait_until(lambda: host.guests[guest.uuid].state is GuestState.SHUTOFF, 2.0))
    run(host.close())


def test_events_from_outside_reach_the_observer(
    connected: tuple[HostConnection, Recorder, Run],
) -> None:
    """A change made directly on the connection (not via vmgui's services) arrives by event."""
    host, rec, run = connected
    guest = _first(host, GuestState.RUNNING)
    before = len(rec.changed)
    run(host.call(lambda c: c.lookupByUUIDString(guest.uuid).suspend(), "raw suspend"))
    run(wait_until(lambda: host.guests[guest.uuid].state is GuestState.PAUSED, 2.0))
    assert len(rec.changed) > before
    run(host.close())


def test_guest_deleted_behind_our_back(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, rec, run = connected
    guest = _first(host, GuestState.SHUTOFF)
    run(host.call(lambda c: c.lookupByUUIDString(guest.uuid).undefine(), "raw undefine"))
    run(wait_until(lambda: guest.uuid in rec.removed, 2.0))
    assert guest.uuid not in host.guests
    with pytest.raises(VmguiError) as info:
        run(svc.run_action(host, guest, GuestAction.START))
    assert guest.name in info.value.summary
    assert info.value.not_found
    run(host.close())


def test_refused_action_names_guest_and_cause(
    connected: tuple[HostConnection, Recorder, Run],
) -> None:
    host, _rec, run = connected
    guest = _first(host, GuestState.RUNNING)
    with pytest.raises(VmguiError) as info:
        run(svc.run_action(host, guest, GuestAction.RESUME))  # not paused
    assert guest.name in info.value.summary
    assert host.display_name in info.value.summary
    assert info.value.details
    run(host.close())


def test_edits_are_validated_and_persist(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, _rec, run = connected
    guest = _first(host, GuestState.SHUTOFF)
    run(svc.set_vcpus(host, guest, 3))
    run(svc.set_memory(host, guest, 1536))
    run(svc.set_title(host, guest, "Edited by the tests"))
    run(svc.set_autostart(host, guest, True))
    overview = run(svc.fetch_overview(host, guest.uuid))
    assert overview.details.vcpus == 3
    assert overview.details.memory_kib == 1536 * 1024
    assert overview.details.title == "Edited by the tests"
    assert overview.autostart is True
    run(wait_until(lambda: host.guests[guest.uuid].vcpus == 3, 2.0))
    for bad in (0, 17):  # the host has 16 CPUs
        with pytest.raises(VmguiError, match="vCPUs"):
            run(svc.set_vcpus(host, guest, bad))
    with pytest.raises(VmguiError, match=r"[Mm]emory"):
        run(svc.set_memory(host, guest, 8))
    with pytest.raises(VmguiError, match=r"[Mm]emory"):
        run(svc.set_memory(host, guest, 128 * 1024))  # 128 GiB on a 64 GiB host
    with pytest.raises(VmguiError, match="single line"):
        run(svc.set_title(host, guest, "two\nlines"))
    overview = run(svc.fetch_overview(host, guest.uuid))
    assert overview.details.vcpus == 3  # nothing lost
    run(host.close())


def test_delete_plan_protects_shared_and_base_images(arun: Run) -> None:
    """Each rule of the delete plan, on guests that share storage (tests/fixtures/sharing.xml)."""
    host = HostConnection(fixture_uri("sharing.xml"), Recorder())
    arun(host.connect())
    images = "/var/lib/libvirt/images"
    plans = {g.name: arun(svc.fetch_delete_plan(host, g)) for g in host.guests.values()}
    storage = {name: list(plan.storage) for name, plan in plans.items()}
    assert storage == {
        # The shareable cluster disk is never offered; the data disk borrower boots from stays.
        "owner": [
            StorageItem(f"{images}/owner.qcow2", "vda", True),
            StorageItem(f"{images}/owner-data.qcow2", "vdb", False, "used by another guest"),
        ],
        "borrower": [
            StorageItem(f"{images}/owner-data.qcow2", "vda", False, "used by another guest")
        ],
        # golden's own disk is the base image: an overlay in the pool is backed by it.
        "golden": [
            StorageItem(f"{images}/debian-12-base.qcow2", "vda", False, "backs another image")
        ],
    }
    owner = _guest(host, "owner")
    result = arun(svc.delete_guest(host, owner, [s.path for s in plans["owner"].storage]))
    assert result.removed == (f"{images}/owner.qcow2",)
    assert [k.path for k in result.kept] == [f"{images}/owner-data.qcow2"]
    arun(wait_until(lambda: owner.uuid not in host.guests, 2.0))
    exists = {
        name: arun(host.call(partial(_volume_exists_at, f"{images}/{name}"), "lookup"))
        for name in ("owner.qcow2", "owner-data.qcow2", "cluster.img", "debian-12-base.qcow2")
    }
    assert exists == {
        "owner.qcow2": False,
        "owner-data.qcow2": True,
        "cluster.img": True,
        "debian-12-base.qcow2": True,
    }
    arun(host.close())


def test_delete_removes_what_the_plan_offers(
    connected: tuple[HostConnection, Recorder, Run],
) -> None:
    host, _rec, run = connected
    victim = _first(host, GuestState.SHUTOFF)
    plan = run(svc.fetch_delete_plan(host, victim))
    removable = [s.path for s in plan.storage if s.removable]
    assert removable, plan
    result = run(svc.delete_guest(host, victim, removable))
    assert set(result.removed) == set(removable)
    run(wait_until(lambda: victim.uuid not in host.guests, 2.0))
    for path in removable:
        exists = run(host.call(partial(_volume_exists_at, path), "lookup"))
        assert not exists
    run(host.close())


def _state_is(host: HostConnection, uuid: str, state: GuestState) -> bool:
    return host.guests[uuid].state is state


def _volume_exists_at(path: str, conn: libvirt.virConnect) -> bool:
    return _volume_exists(conn, path)


def _volume_exists(conn: libvirt.virConnect, path: str) -> bool:
    try:
        conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return False
    return True


def test_delete_refuses_running_guest(connected: tuple[HostConnection, Recorder, Run]) -> None:
    host, _rec, run = connected
    guest = _first(host, GuestState.RUNNING)
    with pytest.raises(VmguiError, match="Shut the guest down"):
        run(svc.delete_guest(host, guest))
    assert guest.uuid in host.guests
    run(host.close())


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("test:///no/such/node.xml", "no/such/node.xml"),
        ("qemu+tcp://nohost.invalid/system", "nohost.invalid"),
        ("frobnicate:///x", "frobnicate"),
    ],
)
def test_unreachable_or_malformed_host_fails_clearly(uri: str, fragment: str, arun: Run) -> None:
    rec = Recorder()
    host = HostConnection(uri, rec)
    with pytest.raises(VmguiError) as info:
        arun(host.connect())
    assert "Could not connect" in info.value.summary
    assert fragment in str(info.value)
    assert host.state is ConnectionState.FAILED
    assert rec.statuses[-1].reason
    arun(host.close())


def test_slow_host_never_stalls_another(node50_uri: str, arun: Run) -> None:
    """A host whose open blocks does not delay a second host's listing."""
    release = threading.Event()

    def slow_open(uri: str) -> libvirt.virConnect:
        release.wait(30)
        return open_connection(uri)

    slow = HostConnection(node50_uri, Recorder(), opener=slow_open)
    fast = HostConnection(node50_uri, Recorder())

    async def scenario() -> tuple[ConnectionState, int]:
        import asyncio

        slow_task = asyncio.ensure_future(slow.connect())
        await fast.connect()
        observed = (slow.state, len(fast.guests))
        release.set()
        await slow_task
        return observed

    state, count = arun(scenario())
    assert state is ConnectionState.CONNECTING
    assert count == 60
    assert slow.state is ConnectionState.CONNECTED
    arun(slow.close())
    arun(fast.close())


def test_disconnect_clears_guests_and_refuses_calls(
    connected: tuple[HostConnection, Recorder, Run],
) -> None:
    host, rec, run = connected
    run(host.disconnect())
    assert host.state is ConnectionState.DISCONNECTED
    assert rec.listed[-1] == []
    with pytest.raises(VmguiError, match="not connected"):
        run(host.call(lambda c: c.getHostname(), "Could not read the host name"))
    run(host.connect())
    assert len(host.guests) == 60
    run(host.close())


def test_reconnect_with_backoff_after_a_drop(node50_uri: str, arun: Run) -> None:
    """When a host drops, it is retried with backoff until it answers again."""
    failures = {"left": 2}
    opened: list[Droppable] = []

    def flaky_open(uri: str) -> libvirt.virConnect:
        if failures["left"] > 0 and attempts["n"] > 0:
            failures["left"] -= 1
            attempts["n"] += 1
            raise libvirt.libvirtError("Failed to connect socket: Connection refused")
        attempts["n"] += 1
        opened.append(Droppable(open_connection(uri)))
        return opened[-1]

    attempts = {"n": 0}
    rec = Recorder()
    host = HostConnection(node50_uri, rec, opener=flaky_open, backoff=(0.01, 0.02))
    arun(host.connect())

    async def drop_and_wait() -> None:
        opened[0].drop(libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE)
        await wait_until(lambda: host.state is not ConnectionState.CONNECTED, 5.0)
        await wait_until(
            lambda: host.state is ConnectionState.CONNECTED and len(host.guests) == 60, 5.0
        )

    arun(drop_and_wait())
    assert attempts["n"] == 4  # first connect, two refused retries, one success
    disconnected = [s for s in rec.statuses if s.state is ConnectionState.DISCONNECTED]
    assert disconnected and disconnected[0].reason == "the host stopped answering keepalives"
    assert any(s.retry_in is not None for s in disconnected)
    assert len(host.guests) == 60
    arun(host.close())


def test_a_call_failing_on_a_dead_connection_drops_and_reconnects(
    node50_uri: str, arun: Run
) -> None:
    """No close callback came, but a call failed and the connection is not alive."""
    opened: list[Droppable] = []

    def open_droppable(uri: str) -> libvirt.virConnect:
        opened.append(Droppable(open_connection(uri)))
        return opened[-1]

    rec = Recorder()
    host = HostConnection(node50_uri, rec, opener=open_droppable, backoff=(0.01,))
    arun(host.connect())
    opened[0].dead = True
    with pytest.raises(VmguiError, match="Domain not found"):
        arun(host.call(lambda c: c.lookupByName("no-such-guest"), "Could not find it"))
    arun(wait_until(lambda: len(opened) == 2 and host.state is ConnectionState.CONNECTED))
    lost = [s for s in rec.statuses if s.state is ConnectionState.DISCONNECTED]
    assert lost and lost[0].reason == "Domain not found"
    opened[1].dead = False
    with pytest.raises(VmguiError, match="Domain not found"):  # alive: an ordinary error
        arun(host.call(lambda c: c.lookupByName("no-such-guest"), "Could not find it"))
    assert host.state is ConnectionState.CONNECTED and len(opened) == 2
    arun(host.close())


def test_overview_of_running_guest_shows_next_boot_config(
    connected: tuple[HostConnection, Recorder, Run],
) -> None:
    """Edits to a running guest land in its persistent config, which the overview carries."""
    host, _rec, run = connected
    guest = _first(host, GuestState.RUNNING)
    before = run(svc.fetch_overview(host, guest.uuid))
    assert before.config is not None
    new_vcpus = 1 if before.details.vcpus != 1 else 2
    run(svc.set_vcpus(host, guest, new_vcpus))
    after = run(svc.fetch_overview(host, guest.uuid))
    assert after.editable.vcpus == new_vcpus
    assert after.details.vcpus == before.details.vcpus  # the live guest is unchanged
    run(host.close())


class _SlowCapabilities:
    """A connection whose capabilities call blocks until released (a /dev/kvm 0600 host)."""

    def __init__(self, conn: libvirt.virConnect, release: threading.Event) -> None:
        self._conn = conn
        self._release = release

    def getCapabilities(self) -> str:
        self._release.wait(30)
        return str(self._conn.getCapabilities())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_slow_capabilities_never_delay_other_calls(node50_uri: str, arun: Run) -> None:
    """Listing, reads and actions go on while the host's capabilities call hangs."""
    release = threading.Event()
    host = HostConnection(
        node50_uri,
        Recorder(),
        opener=lambda uri: _SlowCapabilities(open_connection(uri), release),
    )

    async def scenario() -> None:
        await host.connect()  # returns once listed; capabilities still pending
        assert host.host_info is not None
        assert not host.host_info.capabilities_known
        name = await host.call(lambda c: c.getHostname(), "hostname")
        assert name
        guest = _first(host, GuestState.SHUTOFF)
        await svc.run_action(host, guest, GuestAction.START)
        await wait_until(partial(_state_is, host, guest.uuid, GuestState.RUNNING), 2.0)
        assert not host.host_info.capabilities_known  # all of that happened meanwhile
        release.set()
        await wait_until(lambda: host.host_info is not None and host.host_info.capabilities_known)

    arun(scenario())
    arun(host.close())


class _WatchedClose(_SlowCapabilities):
    """Also records when close() runs, and whether getCapabilities was still inside libvirt."""

    def __init__(self, conn: libvirt.virConnect, release: threading.Event) -> None:
        super().__init__(conn, release)
        self.in_capabilities = threading.Event()
        self.closed_during_call: list[bool] = []
        self.closed = threading.Event()

    def getCapabilities(self) -> str:
        self.in_capabilities.set()
        try:
            return super().getCapabilities()
        finally:
            self.in_capabilities.clear()

    def close(self) -> int:
        self.closed_during_call.append(self.in_capabilities.is_set())
        self.closed.set()
        return int(self._conn.close())


def test_disconnect_closes_only_after_a_hanging_slow_call(node50_uri: str, arun: Run) -> None:
    """A drop while the slow worker is inside getCapabilities must not close the connection
    under it (libvirt frees it mid-call: the suite once segfaulted there)."""
    release = threading.Event()
    opened: list[_WatchedClose] = []

    def opener(uri: str) -> Any:
        conn = _WatchedClose(open_connection(uri), release)
        opened.append(conn)
        return conn

    host = HostConnection(node50_uri, Recorder(), opener=opener)

    async def scenario() -> None:
        await host.connect()
        conn = opened[0]
        await wait_until(conn.in_capabilities.is_set, 2.0)
        await host.disconnect()
        await asyncio.sleep(0.2)
        assert not conn.closed.is_set(), "closed while getCapabilities was running"
        release.set()
        await wait_until(conn.closed.is_set, 5.0)
        assert conn.closed_during_call == [False]

    arun(scenario())
    arun(host.close())
