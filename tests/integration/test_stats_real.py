"""Live usage against the real daemon: tiny TCG guests of the integration lab.

Guests come from the lab (``tests/integration/lab.py``, removed at the end of the session):
one with a balloon driver, one without (``<memballoon model='none'/>``), and one started only
during the run.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from tests.conftest import wait_until
from tests.integration.helpers import OpenHost, Run
from tests.integration.lab import Lab, TinyGuest
from vmgui.core.history import History
from vmgui.core.rates import GuestChannel
from vmgui.core.xml.domain import balloon_needs_period
from vmgui.virt.connection import HostConnection
from vmgui.virt.stats import StatsPoller, TickResult

pytestmark = pytest.mark.integration

BALLOON = "    <memballoon model='virtio'>\n      <stats period='2'/>\n    </memballoon>\n"


def _define(lab: Lab, balloon: str) -> TinyGuest:
    """A lab guest whose balloon device is ``balloon`` (XML), defined, not started."""
    guest = lab.prepare_guest()
    assert BALLOON in guest.xml
    xml = guest.xml.replace(BALLOON, balloon)
    dom = lab.conn().defineXML(xml)
    return TinyGuest(guest.name, guest.disk, guest.console_log, xml, dom.UUIDString())


@pytest.fixture(scope="module")
def guests(lab: Lab, mrun: Run) -> Iterator[dict[str, TinyGuest]]:
    """``bal`` (balloon driver) and ``nobal`` (none) running; ``late`` defined only."""
    made = {
        "bal": lab.define_guest(),
        "nobal": _define(lab, "    <memballoon model='none'/>\n"),
        "late": lab.define_guest(),
    }
    for key in ("bal", "nobal"):
        lab.domain(made[key]).create()

    async def ready() -> None:
        await asyncio.gather(lab.wait_ready(made["bal"]), lab.wait_ready(made["nobal"]))

    mrun(ready())
    yield made
    for guest in made.values():
        lab.remove_guest(guest)


class _Ticks:
    """A poller on a host plus the history of what it saw (as the UI keeps it)."""

    def __init__(self, host: HostConnection) -> None:
        self.host = host
        self.poller = StatsPoller(host)
        self.histories: dict[str, History] = {}
        self.results: list[TickResult] = []

    async def tick(self) -> TickResult:
        result = await self.poller.tick(self.host.guests)
        assert result is not None
        assert result.bulk_calls == 1
        assert not result.fallback, "qemu answers the bulk call with counters"
        for uuid, sample in result.guests.items():
            history = self.histories.setdefault(uuid, History(len(GuestChannel)))
            history.append(sample.time, sample.row())
        self.results.append(result)
        return result

    def column(self, uuid: str, channel: GuestChannel) -> list[float]:
        _t, values = self.histories[uuid].view(3600)
        return [float(v) for v in values[:, channel] if math.isfinite(v)]


def test_real_guests_cpu_disk_and_honest_memory(
    lab: Lab, guests: dict[str, TinyGuest], open_host: OpenHost, mrun: Run
) -> None:
    """CPU rises above zero, the dd loop moves the disk series, balloon figures are there
    with a balloon driver and honestly absent (RSS instead) without; a guest started during
    the run gets a series and a stopped one ends it; the host reports real CPU and memory."""
    bal, nobal, late = (guests[k].uuid for k in ("bal", "nobal", "late"))
    host, _rec = open_host()
    ticks = _Ticks(host)

    async def scenario() -> None:
        first = await ticks.tick()
        assert {bal, nobal} <= set(first.guests)
        assert late not in first.guests
        # The guests read their disk every 2 s: poll until the series moved (<= 30 s).
        for _ in range(30):
            await asyncio.sleep(1.0)
            await ticks.tick()
            if any(v > 0 for v in ticks.column(bal, GuestChannel.DISK_READ)) and any(
                v > 0 for v in ticks.column(bal, GuestChannel.CPU)
            ):
                break
        for uuid in (bal, nobal):
            assert any(v > 0 for v in ticks.column(uuid, GuestChannel.CPU)), "CPU above zero"
            assert ticks.column(uuid, GuestChannel.DISK_READ), "a disk series exists"
            assert ticks.column(uuid, GuestChannel.RSS), "host-side RSS is known"
        assert any(v > 0 for v in ticks.column(bal, GuestChannel.DISK_READ)), "dd shows"
        # Net: user networking has no host interface, so no counters: NaN, never zero.
        assert not ticks.column(bal, GuestChannel.NET_RX)
        # Honest memory: figures with the balloon driver, none (RSS only) without.
        last = ticks.results[-1]
        assert last.guests[bal].balloon
        used, total = last.guests[bal].memory_used_kib, last.guests[bal].memory_total_kib
        assert 0 < used < total <= 128 * 1024
        assert not last.guests[nobal].balloon
        assert math.isnan(last.guests[nobal].memory_used_kib)
        assert last.guests[nobal].rss_kib > 0
        assert last.host is not None
        assert last.host.memory_total_kib > 0 and last.host.memory_used_kib > 0
        assert any(r.host is not None and r.host.cpu_percent >= 0 for r in ticks.results[1:])

        # A guest started during the run gets a series at the next tick ...
        lab.domain(guests["late"]).create()
        started = await ticks.tick()
        assert late in started.guests and late in started.started
        await wait_until(lambda: late in host.guests and host.guests[late].is_active, 30)
        # ... and one that stops ends it.
        lab.domain(guests["late"]).destroy()
        ended = await ticks.tick()
        assert late in ended.ended and late not in ended.guests
        assert bal in ended.guests and nobal in ended.guests

    mrun(scenario(), timeout=180)


def test_balloon_period_is_set_where_missing(lab: Lab, open_host: OpenHost, mrun: Run) -> None:
    """A balloon device without a stats period gets one (live), so its figures flow."""
    guest = _define(lab, "    <memballoon model='virtio'/>\n")
    dom = lab.domain(guest)
    dom.create()
    try:
        mrun(lab.wait_ready(guest))
        # Another vmgui polling this daemon (another test run) may have set one already.
        dom.setMemoryStatsPeriod(0, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        assert balloon_needs_period(dom.XMLDesc(0))
        host, _rec = open_host()

        # Without a period the guest reported once, at boot: the figures do not move.
        reported = dom.memoryStats()["last_update"]

        async def scenario() -> Any:
            poller = StatsPoller(host)
            result = await poller.tick(host.guests)
            assert result is not None and guest.uuid in result.guests
            await wait_until(lambda: not balloon_needs_period(dom.XMLDesc(0)), 10)
            # Now the guest reports every period: the figures flow.
            await wait_until(lambda: dom.memoryStats()["last_update"] > reported, 20)
            return await poller.tick(host.guests)

        result = mrun(scenario(), timeout=120)
        assert result is not None and result.guests[guest.uuid].balloon
    finally:
        lab.remove_guest(guest)
