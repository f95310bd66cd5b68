"""The "waiting for a host CPU" figure on the real daemon: ``vcpu.N.delay`` through vmgui's stats.

A tiny ``vmgui-iso-*`` guest spins its one vCPU; vmgui's own :class:`StatsPoller` reads its
delay. Capped at 20 % of a host CPU, the vCPU is runnable but throttled most of each period,
so the time it waits for a host CPU (the figure the Usage tab charts) climbs.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from tests.integration.helpers import OpenHost, Run
from tests.integration.isoguest import IsoGuest
from tests.integration.isoguest import busy_guest as busy_guest
from vmgui.core.limits import LimitChange, Scope
from vmgui.core.rates import GuestChannel
from vmgui.virt.connection import HostConnection
from vmgui.virt.limits import apply_limits
from vmgui.virt.stats import StatsPoller

pytestmark = pytest.mark.integration


async def _waits(host: HostConnection, uuid: str, seconds: float) -> list[float]:
    poller = StatsPoller(host)
    await poller.tick(host.guests)
    values: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(1.0)
        result = await poller.tick(host.guests)
        assert result is not None
        sample = result.guests.get(uuid)
        if sample is not None:
            values.append(float(sample.row()[GuestChannel.CPU_WAIT]))
    return values


def test_vcpu_delay_is_measured_and_a_cap_makes_it_wait(
    busy_guest: IsoGuest, open_host: OpenHost, mrun: Run
) -> None:
    host, _rec = open_host()

    async def scenario() -> None:
        free = await _waits(host, busy_guest.uuid, 4)
        assert free and all(math.isfinite(v) and 0 <= v <= 1000 for v in free), free
        await apply_limits(host, busy_guest.uuid, LimitChange(cpu_cap_percent=20), Scope.LIVE)
        await asyncio.sleep(2)
        capped = await _waits(host, busy_guest.uuid, 5)
        mean = sum(capped) / len(capped)
        assert mean > 300, f"throttled to 20 %: it waits most of each second ({capped}, {free})"

    mrun(scenario(), timeout=120)
