"""Limits that visibly hold, on the real daemon with tiny ``vmgui-iso-*`` guests.

Rates are measured the way the product measures them: :class:`~vmgui.virt.stats.StatsPoller`
ticks (``getAllDomainStats`` deltas) once a second. The ``read`` guest runs the tiny guest's
disk loop (~1 MiB/s), the ``busy`` guest spins one vCPU (see ``isoguest.py``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from functools import partial

import libvirt
import pytest

from tests.conftest import wait_until
from tests.integration.helpers import OpenHost, Run
from tests.integration.isoguest import READY, IsoGuest, IsoGuests
from tests.integration.lab import Lab
from vmgui.cli import main as cli_main
from vmgui.core.errors import VmguiError
from vmgui.core.limits import LimitChange, Scope
from vmgui.core.rates import GuestChannel
from vmgui.virt.connection import HostConnection
from vmgui.virt.limits import apply_limits, fetch_limits
from vmgui.virt.stats import StatsPoller

pytestmark = pytest.mark.integration

KIB = 1024


@pytest.fixture(scope="module")
def iso(lab: Lab) -> Iterator[IsoGuests]:
    """The module's guest maker; every guest it made is removed at the end."""
    made = IsoGuests(lab)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def guests(iso: IsoGuests, mrun: Run) -> dict[str, IsoGuest]:
    """``read`` and ``busy`` running, ``off`` defined and shut off."""
    made = {"read": iso.define("read"), "busy": iso.define("busy"), "off": iso.define("idle")}
    for key in ("read", "busy"):
        iso.domain(made[key]).create()

    async def ready() -> None:
        for key in ("read", "busy"):
            await wait_until(partial(_booted, made[key]), 60)

    mrun(ready())
    return made


def _booted(guest: IsoGuest) -> bool:
    return READY in guest.console()


async def _series(
    host: HostConnection, uuid: str, channel: GuestChannel, seconds: float
) -> list[float]:
    """``channel`` of one guest, one value per StatsPoller tick (1 s apart) for ``seconds``."""
    poller = StatsPoller(host)
    await poller.tick(host.guests)  # the first tick only sets the counters
    values: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(1.0)
        result = await poller.tick(host.guests)
        assert result is not None
        sample = result.guests.get(uuid)
        if sample is not None:
            value = float(sample.row()[channel])
            if math.isfinite(value):
                values.append(value)
    return values


def _mean(values: list[float]) -> float:
    assert values, "no samples"
    return sum(values) / len(values)


def test_read_limit_holds_and_lifting_restores(
    guests: dict[str, IsoGuest], open_host: OpenHost, mrun: Run
) -> None:
    """256 KiB/s on vda: the read rate vmgui measures falls under 300 KiB/s within 10 s (and
    the guest still reads); lifting the limit brings the rate back above it."""
    host, _rec = open_host()
    uuid = guests["read"].uuid

    async def scenario() -> None:
        before = await _series(host, uuid, GuestChannel.DISK_READ, 8)
        assert _mean(before) > 300 * KIB, f"the loop reads ~1 MiB/s unlimited: {before}"
        applied = await apply_limits(host, uuid, LimitChange(disk_read_bps=256 * KIB))
        assert applied.plan.disks == ("vda",)
        assert applied.plan.scope == Scope.LIVE | Scope.CONFIG
        live = applied.view.live
        vda = live.disk("vda") if live is not None else None
        assert vda is not None and vda.read_bps == 262144
        # Within 10 s: the mean over the 6 s from 4 s after the change is under 300 KiB/s
        # (single 1 s ticks jitter by a few %; unlimited bursts are 1-2 MiB/s).
        await asyncio.sleep(4)
        limited = await _series(host, uuid, GuestChannel.DISK_READ, 6)
        assert _mean(limited) < 300 * KIB, f"limited to 256 KiB/s: {limited}"
        assert max(limited) < 400 * KIB, f"no unlimited burst: {limited}"
        assert sum(limited) > 0, "throttled, not stopped"
        await apply_limits(host, uuid, LimitChange(disk_read_bps=0))
        after = await _series(host, uuid, GuestChannel.DISK_READ, 10)
        assert _mean(after) > 300 * KIB, f"lifting restores the rate: {after}"
        view = await fetch_limits(host, uuid)
        assert view.live is not None and view.config is not None
        assert view.live.disks[0].read_bps == 0 and view.config.disks[0].read_bps == 0

    mrun(scenario(), timeout=120)


def test_cpu_cap_holds(guests: dict[str, IsoGuest], open_host: OpenHost, mrun: Run) -> None:
    """A 20 % cap (vcpu_quota 20000 of 100000 on one vCPU) keeps a busy guest under ~25 %.

    The host is shared (2 cores, other guests): a high CPU weight first lets the busy guest
    win the contention, so that the cap, not the neighbours, is what holds it down.
    """
    host, _rec = open_host()
    uuid = guests["busy"].uuid

    async def scenario() -> None:
        await apply_limits(host, uuid, LimitChange(cpu_weight=50000), Scope.LIVE)
        before = await _series(host, uuid, GuestChannel.CPU, 5)
        assert _mean(before) > 35, f"the guest spins: {before}"
        applied = await apply_limits(host, uuid, LimitChange(cpu_cap_percent=20))
        assert applied.plan.vcpu_quota_us == 20000
        assert applied.view.live is not None and applied.view.live.vcpu_quota_us == 20000
        assert applied.view.live.vcpu_period_us == 100000
        await asyncio.sleep(2)
        capped = await _series(host, uuid, GuestChannel.CPU, 6)
        assert _mean(capped) < 25, f"capped at 20 %: {capped}"
        await apply_limits(host, uuid, LimitChange(cpu_cap_percent=0))
        await asyncio.sleep(1)
        lifted = await _series(host, uuid, GuestChannel.CPU, 5)
        await apply_limits(host, uuid, LimitChange(cpu_weight=0), Scope.LIVE)
        assert _mean(lifted) > 35, f"lifting restores it: {lifted}"

    mrun(scenario(), timeout=120)


def test_scopes_and_cli(
    guests: dict[str, IsoGuest], iso: IsoGuests, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default scope: live + config on a running guest, config on a shut-off one; the CLI's
    --json shows libvirt's integers (256K = 262144 bytes/s; MiB -> KiB; KiB for NICs)."""
    import json

    uri = iso.lab.uri
    off = guests["off"]
    assert (
        cli_main(
            [
                "limits",
                "--connect",
                uri,
                off.name,
                "--disk-read-bps",
                "256K",
                "--memory-soft-limit",
                "64",
                "--cpu-weight",
                "512",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["live"] is None and data["running"] is False
    assert data["config"]["disks"][0]["read_bytes_sec"] == 262144
    assert data["config"]["soft_limit"] == 64 * 1024
    assert data["config"]["cpu_shares"] == 512
    dom = iso.domain(off)
    assert dom.blockIoTune("vda", libvirt.VIR_DOMAIN_AFFECT_CONFIG)["read_bytes_sec"] == 262144
    busy = guests["busy"]
    assert (
        cli_main(
            ["limits", "--connect", uri, busy.name, "--disk-write-iops", "50", "--config", "--json"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["disks"][0]["write_iops_sec"] == 50
    assert data["live"]["disks"][0]["write_iops_sec"] == 0, "--config leaves the live guest"
    assert cli_main(["limits", "--connect", uri, busy.name]) == 0
    text = capsys.readouterr().out
    assert "LIVE" in text and "CONFIG" in text and "not supported" in text
    assert cli_main(["limits", "--connect", uri, busy.name, "--disk-write-iops", "0"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--cpu-cap", "-5"], "must not be negative"),
        (["--disk-read-bps=-1K"], "must not be negative"),
        (["--disk-read-bps", "1K", "--disk", "vdz"], "no disk 'vdz'"),
        (["--cpu-cap", "150"], "above what the guest's 1 vCPU"),
        (["--net-in", "100"], "user-mode networking"),
        (["--cpu-weight", "1"], "CPU weight must be 0"),
        (["--memory-hard-limit", "ten"], "is not a size"),
        (["--nic", "52:54:00:00:00:99", "--net-out", "5"], "no NIC 52:54:00:00:00:99"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    guests: dict[str, IsoGuest],
    iso: IsoGuests,
    open_host: OpenHost,
    mrun: Run,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    expected: str,
) -> None:
    """Each bad input: exit 1, one line on stderr naming the problem, the limits unchanged."""
    host, _rec = open_host()
    guest = guests["busy"]
    before = mrun(fetch_limits(host, guest.uuid))
    status = cli_main(["limits", "--connect", iso.lab.uri, guest.name, *options])
    err = capsys.readouterr().err
    assert status == 1
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err
    assert "Traceback" not in err
    assert mrun(fetch_limits(host, guest.uuid)) == before


def test_live_on_a_shut_off_guest_is_refused(
    guests: dict[str, IsoGuest], iso: IsoGuests, capsys: pytest.CaptureFixture[str]
) -> None:
    """--live on a shut-off guest: one line, exit 1."""
    off = guests["off"]
    status = cli_main(["limits", "--connect", iso.lab.uri, off.name, "--cpu-cap", "10", "--live"])
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "is shut off" in err


def test_refusal_sets_back_what_was_applied(
    guests: dict[str, IsoGuest], open_host: OpenHost, mrun: Run
) -> None:
    """libvirt refusing the second setting sets the first (the CPU weight) back: all or
    nothing. The refusal: a 16 MiB hard limit, far below what QEMU holds (cgroup v1 answers
    EBUSY when it cannot reclaim down to the new limit)."""
    host, _rec = open_host()
    uuid = guests["busy"].uuid
    before = mrun(fetch_limits(host, uuid))
    change = LimitChange(cpu_weight=300, memory_hard_limit_kib=16 * 1024)
    with pytest.raises(VmguiError, match="Could not set the memory limits of"):
        mrun(apply_limits(host, uuid, change))
    assert mrun(fetch_limits(host, uuid)) == before
