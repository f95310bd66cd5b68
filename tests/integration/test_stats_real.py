"""Live usage against the real daemon: tiny TCG guests under ``qemu:///system``.

Guests here are named ``vmgui-st-*`` and live in :data:`IMAGES` (mode 755, so ``libvirt-qemu``
can reach them); everything this module defines is destroyed, undefined and deleted afterwards,
and nothing else is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import wait_until
from tests.integration.tinyguest.domain import tiny_domain_xml

pytestmark = pytest.mark.integration

T = TypeVar("T")

URI = "qemu:///system"
IMAGES = Path(os.environ.get("VMGUI_STATS_IMAGES", "/var/lib/libvirt/images/vmgui-stats-it"))
PREFIX = "vmgui-st-"
BUILD = Path(__file__).resolve().parent / "tinyguest" / "build.sh"
READY = b"VMGUI-TINY-GUEST-READY"


class StatsGuests:
    """Tiny guests ``vmgui-st-<tag>-<n>`` defined on a raw connection; removed on close.

    Args:
        conn: a libvirt connection to the system daemon (the test's own, not vmgui's).
        tag: names this set of guests (stale ones with the same tag are removed first).
    """

    def __init__(self, conn: Any, tag: str) -> None:
        self.conn = conn
        self.prefix = f"{PREFIX}{tag}-"
        self.domains: dict[str, Any] = {}
        IMAGES.mkdir(parents=True, exist_ok=True)
        IMAGES.chmod(0o755)
        subprocess.run(["bash", str(BUILD), str(IMAGES)], check=True, stdout=subprocess.DEVNULL)
        self.base = IMAGES / "tiny.qcow2"
        self.remove_all()

    def define(self, suffix: str, *, balloon: bool) -> Any:
        """Define ``<prefix><suffix>`` on a fresh overlay (not started)."""
        name = self.prefix + suffix
        overlay = IMAGES / f"{name}.qcow2"
        base = str(self.base)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, str(overlay)],
            check=True,
        )
        xml = tiny_domain_xml(name, str(overlay), str(IMAGES / f"{name}.log"), balloon=balloon)
        dom = self.conn.defineXML(xml)
        self.domains[name] = dom
        return dom

    def start(self, *names: str, wait: bool = True, timeout: float = 120.0) -> None:
        """Start guests; with ``wait``, until each printed its ready marker."""
        for name in names:
            self.domains[name].create()
        deadline = time.monotonic() + timeout
        waiting = set(names) if wait else set()
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout} s: {sorted(waiting)}")
            for name in list(waiting):
                with contextlib.suppress(OSError):
                    if READY in (IMAGES / f"{name}.log").read_bytes():
                        waiting.discard(name)
            time.sleep(0.2)

    def remove_all(self) -> None:
        """Destroy and undefine every guest with this prefix; delete its files.

        Uses a connection of its own: the daemon may have restarted since ``conn`` opened.
        """
        import libvirt

        conn = libvirt.open(URI)
        for dom in conn.listAllDomains(0):
            if not dom.name().startswith(self.prefix):
                continue
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        conn.close()
        for path in IMAGES.glob(self.prefix + "*"):
            path.unlink(missing_ok=True)
        self.domains.clear()


def _daemon_available() -> bool:
    if shutil.which("qemu-system-x86_64") is None or not Path("/run/libvirt/libvirt-sock").exists():
        return False
    import libvirt

    from vmgui.virt.events import ensure_event_loop

    ensure_event_loop()
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError:
        return False
    return True


@pytest.fixture(scope="module")
def guests() -> Iterator[StatsGuests]:
    """Three tiny guests: ``bal`` (balloon), ``nobal`` (none) running; ``late`` defined."""
    if not _daemon_available():
        pytest.skip("needs a running libvirtd with qemu (qemu:///system)")
    import libvirt

    conn = libvirt.open(URI)
    made = StatsGuests(conn, "it")
    try:
        made.define("bal", balloon=True)
        made.define("nobal", balloon=False)
        made.define("late", balloon=True)
        made.start(made.prefix + "bal", made.prefix + "nobal")
        yield made
    finally:
        made.remove_all()
        conn.close()


@pytest.fixture
def loop_run() -> Iterator[Callable[[Awaitable[T]], T]]:
    """Run coroutines on a fresh asyncio loop (the engine needs no Qt)."""
    loop = asyncio.new_event_loop()

    def run(awaitable: Awaitable[T], timeout: float = 180.0) -> T:
        return loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    yield run
    loop.close()


class _Observer:
    def host_status_changed(self, status: object) -> None: ...
    def host_info_changed(self, info: object) -> None: ...
    def guests_listed(self, uri: str, guests: list[Any]) -> None: ...
    def guest_changed(self, guest: object) -> None: ...
    def guest_removed(self, uri: str, uuid: str) -> None: ...


def test_real_guests_cpu_disk_and_honest_memory(
    guests: StatsGuests, loop_run: Callable[[Awaitable[Any]], Any]
) -> None:
    """CPU rises above zero, the dd loop moves the disk series, balloon figures are there
    with a balloon and honestly absent (RSS instead) without; a guest started during the run
    gets a series and a stopped one ends it; the host reports real CPU and memory."""
    from vmgui.core.stats import GuestChannel, History
    from vmgui.virt.connection import HostConnection
    from vmgui.virt.stats import StatsPoller

    bal = guests.domains[guests.prefix + "bal"].UUIDString()
    nobal = guests.domains[guests.prefix + "nobal"].UUIDString()
    late_name = guests.prefix + "late"
    late = guests.domains[late_name].UUIDString()

    async def scenario() -> None:
        host = HostConnection(URI, _Observer())
        await host.connect()
        poller = StatsPoller(host)
        histories: dict[str, History] = {}
        results = []

        async def tick() -> Any:
            result = await poller.tick(host.guests)
            assert result is not None
            assert result.bulk_calls == 1
            assert not result.fallback, "qemu answers the bulk call with counters"
            for uuid, sample in result.guests.items():
                histories.setdefault(uuid, History(len(GuestChannel))).append(
                    sample.time, sample.row()
                )
            results.append(result)
            return result

        def column(uuid: str, channel: GuestChannel) -> list[float]:
            _t, values = histories[uuid].view(3600)
            return [float(v) for v in values[:, channel] if math.isfinite(v)]

        try:
            first = await tick()
            assert {bal, nobal} <= set(first.guests)
            assert late not in first.guests
            # Disk reads every 2 s in the guests: poll until the series moved (<= 30 s).
            for _ in range(30):
                await asyncio.sleep(1.0)
                await tick()
                if any(v > 0 for v in column(bal, GuestChannel.DISK_READ)) and any(
                    v > 0 for v in column(bal, GuestChannel.CPU)
                ):
                    break
            for uuid in (bal, nobal):
                assert any(v > 0 for v in column(uuid, GuestChannel.CPU)), "CPU above zero"
                assert column(uuid, GuestChannel.DISK_READ), "a disk series exists"
                assert column(uuid, GuestChannel.RSS), "host-side RSS is known"
            assert any(v > 0 for v in column(bal, GuestChannel.DISK_READ)), "the dd loop shows"
            # Net: user networking has no host interface, so no counters: NaN, not zero.
            assert not column(bal, GuestChannel.NET_RX)
            # Honest memory: figures with the balloon driver, none (only RSS) without.
            last = results[-1]
            assert last.guests[bal].balloon
            used, total = last.guests[bal].memory_used_kib, last.guests[bal].memory_total_kib
            assert 0 < used < total <= 128 * 1024
            assert not last.guests[nobal].balloon
            assert math.isnan(last.guests[nobal].memory_used_kib)
            assert last.guests[nobal].rss_kib > 0
            assert last.host is not None
            assert last.host.memory_total_kib > 0 and last.host.memory_used_kib > 0
            assert any(r.host is not None and r.host.cpu_percent >= 0 for r in results[1:])

            # A guest started during the run gets a series at the next tick ...
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: guests.start(late_name, wait=False)
            )
            started = await tick()
            assert late in started.guests and late in started.started
            await wait_until(lambda: late in host.guests and host.guests[late].is_active, 30)
            # ... and one that stops ends it.
            await asyncio.get_running_loop().run_in_executor(
                None, guests.domains[late_name].destroy
            )
            ended = await tick()
            assert late in ended.ended and late not in ended.guests
            assert bal in ended.guests and nobal in ended.guests
        finally:
            await host.close()

    loop_run(scenario())


def test_balloon_period_is_set_where_missing(
    guests: StatsGuests, loop_run: Callable[[Awaitable[Any]], Any]
) -> None:
    """A balloon device without a stats period gets one (live), so its figures flow."""
    import libvirt

    from vmgui.virt.connection import HostConnection
    from vmgui.virt.stats import StatsPoller, balloon_needs_period

    name = guests.prefix + "noperiod"
    dom = guests.define("noperiod", balloon=True)
    xml = dom.XMLDesc(0).replace("<stats period='2'/>", "")
    dom = guests.conn.defineXML(xml)
    guests.domains[name] = dom
    assert balloon_needs_period(dom.XMLDesc(0))
    guests.start(name)
    assert balloon_needs_period(dom.XMLDesc(0))

    async def scenario() -> None:
        host = HostConnection(URI, _Observer())
        await host.connect()
        try:
            poller = StatsPoller(host)
            result = await poller.tick(host.guests)
            assert result is not None and dom.UUIDString() in result.guests
            await wait_until(lambda: not balloon_needs_period(dom.XMLDesc(0)), 10)
            for _ in range(20):  # the guest's first report follows within the period
                await asyncio.sleep(1.0)
                result = await poller.tick(host.guests)
                if result is not None and result.guests[dom.UUIDString()].balloon:
                    break
            assert result is not None and result.guests[dom.UUIDString()].balloon
        finally:
            await host.close()

    try:
        loop_run(scenario())
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()
