"""The stats engine on libvirt's test driver: a 1000-guest node, 500 of them running."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import pytest

from tests.conftest import wait_until
from tests.fixtures.genfixture import node_xml
from vmgui.core.model import GuestInfo
from vmgui.core.xml.domain import balloon_needs_period, device_names
from vmgui.virt.connection import HostConnection
from vmgui.virt.stats import StatsPoller

T = TypeVar("T")
Run = Callable[[Awaitable[Any]], Any]


class _Observer:
    def host_status_changed(self, status: object) -> None: ...
    def host_info_changed(self, info: object) -> None: ...
    def guests_listed(self, uri: str, guests: list[GuestInfo]) -> None: ...
    def guest_changed(self, guest: object) -> None: ...
    def guest_removed(self, uri: str, uuid: str) -> None: ...


class CountingConn:
    """A virConnect stand-in that counts bulk stats calls (and can refuse flags)."""

    def __init__(self, conn: libvirt.virConnect, owner: CountingHost) -> None:
        self._conn = conn
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def _check(self, flags: int) -> None:
        owner = self._owner
        owner.bulk_calls += 1
        owner.bulk_threads.add(threading.current_thread().name)
        if owner.refuse_bulk:
            raise _error(libvirt.VIR_ERR_NO_SUPPORT, "this function is not supported")
        if owner.refuse_nowait and flags & libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT:
            raise _error(libvirt.VIR_ERR_INVALID_ARG, "unsupported flags (0x80000000)")

    def getAllDomainStats(self, stats: int, flags: int) -> Any:
        self._check(flags)
        return self._conn.getAllDomainStats(stats, flags)

    def domainListGetStats(self, doms: list[Any], stats: int, flags: int) -> Any:
        self._check(flags)
        return self._conn.domainListGetStats(doms, stats, flags)


def _error(code: int, message: str) -> libvirt.libvirtError:
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 0, "", "", "", 0, 0)
    return err


class CountingHost:
    """A StatsHost in front of a real HostConnection: counts calls, can hold them back."""

    def __init__(self, host: HostConnection) -> None:
        self.host = host
        self.calls = 0
        self.bulk_calls = 0
        self.bulk_threads: set[str] = set()
        self.refuse_bulk = False
        self.refuse_nowait = False
        self.gate: threading.Event | None = None

    @property
    def uri(self) -> str:
        return self.host.uri

    async def call(self, fn: Callable[[Any], T], summary: str) -> T:
        self.calls += 1
        gate = self.gate

        def wrapped(conn: libvirt.virConnect) -> T:
            if gate is not None:
                assert gate.wait(30), "the test never opened the gate"
            return fn(CountingConn(conn, self))

        return await self.host.call(wrapped, summary)


@pytest.fixture(scope="module")
def node_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("stats") / "node1000.xml"
    path.write_text(node_xml(1000, running=500), encoding="utf-8")
    return f"test://{path}"


@pytest.fixture
def host(node_uri: str, arun: Run) -> Iterator[HostConnection]:
    connection = HostConnection(node_uri, _Observer())
    arun(connection.connect())
    assert len(connection.guests) == 1000
    yield connection
    arun(connection.close())


def _active(host: HostConnection, arun: Run) -> set[str]:
    """What libvirt counts as active (running, paused, pmsuspended and crashed guests)."""
    flag = libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
    uuids: set[str] = arun(
        host.call(lambda c: {d.UUIDString() for d in c.listAllDomains(flag)}, "list")
    )
    return uuids


def test_one_bulk_call_per_tick_on_the_worker(host: HostConnection, arun: Run) -> None:
    counting = CountingHost(host)
    poller = StatsPoller(counting)
    for tick in range(3):
        result = arun(poller.tick(host.guests))
        assert result is not None
        assert counting.bulk_calls == tick + 1, "one bulk call per tick"
        assert counting.calls == tick + 1, "one worker call per tick"
        assert result.bulk_calls == 1
    assert counting.bulk_threads == {f"virt:{host.uri}"}  # the host's worker thread
    assert set(result.guests) == _active(host, arun)
    assert len([g for g in host.guests.values() if g.state.value == "running"]) == 500
    # The test driver's bulk answer has no counters: per-guest calls fill in.
    assert result.fallback
    sample = next(iter(result.guests.values()))
    assert sample.cpu_percent > 0 and sample.disk_read_bps > 0 and sample.net_rx_bps > 0
    assert not sample.balloon and math.isnan(sample.memory_used_kib)
    assert result.host is not None
    assert result.host.cpus == 16 and result.host.memory_total_kib == 64 * 1024 * 1024
    assert math.isnan(result.host.memory_used_kib), "the test driver has no node memory stats"
    assert result.host.committed_vcpus == sum(g.vcpus for g in host.guests.values() if g.is_active)


def test_a_tick_still_running_makes_the_next_a_skip(host: HostConnection, arun: Run) -> None:
    counting = CountingHost(host)
    poller = StatsPoller(counting)
    counting.gate = threading.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(poller.tick(host.guests))
        await wait_until(lambda: poller.busy)
        assert await poller.tick(host.guests) is None, "skipped at once, not queued"
        assert await poller.tick(host.guests) is None
        assert poller.skipped == 2
        assert counting.calls == 1, "nothing was queued behind the running tick"
        assert counting.gate is not None
        counting.gate.set()
        result = await first
        assert result is not None and result.guests
        assert not poller.busy
        counting.gate = None
        assert await poller.tick(host.guests) is not None
        assert counting.calls == 2

    arun(scenario())


def test_series_start_and_end_with_the_guests(host: HostConnection, arun: Run) -> None:
    poller = StatsPoller(host)
    first = arun(poller.tick(host.guests))
    assert first is not None and first.started == frozenset(first.guests)
    stopped = next(g for g in host.guests.values() if g.state.value == "shut off")
    running = next(g for g in host.guests.values() if g.state.value == "running")
    assert stopped.uuid not in first.guests and running.uuid in first.guests

    def flip(conn: libvirt.virConnect) -> None:
        conn.lookupByUUIDString(stopped.uuid).create()
        conn.lookupByUUIDString(running.uuid).destroy()

    arun(host.call(flip, "flip"))
    second = arun(poller.tick(host.guests))
    assert second is not None
    assert second.started == {stopped.uuid}
    assert second.ended == {running.uuid}
    assert stopped.uuid in second.guests and running.uuid not in second.guests
    # A started guest's first sample has no rates yet; its next one does.
    assert math.isnan(second.guests[stopped.uuid].cpu_percent)
    third = arun(poller.tick(host.guests))
    assert third is not None and not third.started and not third.ended
    assert third.guests[stopped.uuid].cpu_percent > 0


def test_chunks_for_very_large_hosts(host: HostConnection, arun: Run) -> None:
    counting = CountingHost(host)
    poller = StatsPoller(counting, chunk_size=200)
    result = arun(poller.tick(host.guests))
    assert result is not None
    active = _active(host, arun)
    assert result.bulk_calls == math.ceil(len(active) / 200) == counting.bulk_calls
    assert counting.calls == result.bulk_calls + 1, "a listing call, then one per chunk"
    assert set(result.guests) == active
    second = arun(poller.tick(host.guests))
    assert second is not None and not second.started and not second.ended
    assert all(s.cpu_percent > 0 for s in second.guests.values())


def test_without_nowait_and_without_bulk(host: HostConnection, arun: Run) -> None:
    counting = CountingHost(host)
    counting.refuse_nowait = True
    poller = StatsPoller(counting)
    result = arun(poller.tick(host.guests))
    assert result is not None and set(result.guests) == _active(host, arun)
    assert counting.bulk_calls == 2, "refused with NOWAIT, then retried without it"
    arun(poller.tick(host.guests))
    assert counting.bulk_calls == 3, "NOWAIT is not tried again"

    counting = CountingHost(host)
    counting.refuse_bulk = True
    poller = StatsPoller(counting)
    arun(poller.tick(host.guests))
    result = arun(poller.tick(host.guests))
    assert result is not None and result.fallback and set(result.guests) == _active(host, arun)
    assert all(s.cpu_percent > 0 for s in result.guests.values())
    assert counting.bulk_calls == 2, "no bulk call once it is known to be unsupported"


def test_a_dropped_host_gives_no_result(node_uri: str, arun: Run) -> None:
    connection = HostConnection(node_uri, _Observer())
    poller = StatsPoller(connection)
    assert arun(poller.tick({})) is None, "not connected: nothing, and no exception"
    assert not poller.busy


def test_device_names_and_balloon_period() -> None:
    xml = """<domain><devices>
      <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
      <interface type='network'><target dev='vnet4'/></interface>
      <interface type='user'></interface>
      <memballoon model='virtio'><stats period='0'/></memballoon>
    </devices></domain>"""
    assert device_names(xml) == (("vda",), ("vnet4",))
    assert balloon_needs_period(xml)
    assert balloon_needs_period(xml.replace("<stats period='0'/>", ""))
    assert not balloon_needs_period(xml.replace("period='0'", "period='2'"))
    assert not balloon_needs_period(xml.replace("model='virtio'", "model='none'"))
    assert not balloon_needs_period("<domain/>")
    assert device_names("not xml") == ((), ())
