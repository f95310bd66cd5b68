"""Rate maths on recorded ``getAllDomainStats`` payloads, and samples as history rows."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vmgui.core.rates import (
    GUEST_FIELDS,
    HOST_FIELDS,
    GuestChannel,
    GuestSample,
    HostChannel,
    HostSample,
    counter_rate,
    guest_counters_from_stats,
    guest_sample,
    host_counters_from_stats,
    host_sample,
)

# Recorded on libvirt 9.0 / QEMU 7.2 from a tiny guest with a balloon driver, 2 s apart
# (bulk call, groups state|cpu-total|balloon|interface|block, NOWAIT; a few keys trimmed).
BALLOON_T0: dict[str, Any] = {
    "balloon.available": 94780,
    "balloon.current": 131072,
    "balloon.disk_caches": 2812,
    "balloon.last-update": 1795681431,
    "balloon.maximum": 131072,
    "balloon.rss": 214176,
    "balloon.unused": 65724,
    "balloon.usable": 71380,
    "block.0.allocation": 0,
    "block.0.capacity": 33554432,
    "block.0.name": "vda",
    "block.0.path": "/var/lib/libvirt/images/vmgui-stats-it/vmgui-st-dev-bal.qcow2",
    "block.0.rd.bytes": 1483659776,
    "block.0.rd.reqs": 22925,
    "block.0.rd.times": 8619142859,
    "block.0.wr.bytes": 0,
    "block.0.wr.reqs": 0,
    "block.count": 1,
    "cpu.system": 5296365000,
    "cpu.time": 31289475000,
    "cpu.user": 25993109000,
    "net.count": 1,
    "state.reason": 1,
    "state.state": 1,
}
BALLOON_T2 = {
    **BALLOON_T0,
    "balloon.last-update": 1795681433,
    "block.0.rd.bytes": 1487854080,
    "block.0.rd.reqs": 22989,
    "cpu.time": 31351475000,
}
# The same guest without a balloon device: only current/maximum/rss in the balloon group.
NO_BALLOON: dict[str, Any] = {
    "balloon.current": 131072,
    "balloon.maximum": 131072,
    "balloon.rss": 217728,
    "block.count": 1,
    "block.0.name": "vda",
    "block.0.rd.bytes": 1487854080,
    "block.0.rd.reqs": 22989,
    "block.0.wr.bytes": 0,
    "block.0.wr.reqs": 0,
    "cpu.time": 29669672000,
    "net.count": 1,
    "state.state": 1,
}
# libvirt's test driver: state only.
TEST_DRIVER: dict[str, Any] = {"state.state": 1, "state.reason": 0}
# An interface with counters (key shape as documented for the "interface" group).
NET_T0: dict[str, Any] = {
    "cpu.time": 1_000_000_000,
    "net.count": 1,
    "net.0.name": "vnet3",
    "net.0.rx.bytes": 10_000,
    "net.0.rx.pkts": 100,
    "net.0.rx.errs": 0,
    "net.0.rx.drop": 0,
    "net.0.tx.bytes": 5_000,
    "net.0.tx.pkts": 50,
    "net.0.tx.errs": 0,
    "net.0.tx.drop": 0,
}

UUID = "3e1f7c8a-1b2c-4d5e-8f90-0a1b2c3d4e5f"


def _sample(
    prev: dict[str, Any] | None, cur: dict[str, Any], seconds: float = 2.0, **kw: Any
) -> Any:
    vcpus = kw.pop("vcpus", 1)
    prev_id = kw.pop("prev_id", 7)
    before = None if prev is None else guest_counters_from_stats(UUID, prev_id, 100.0, prev, vcpus)
    after = guest_counters_from_stats(UUID, 7, 100.0 + seconds, cur, vcpus)
    return guest_sample(before, after, kw.pop("host_cpus", 2), 1_795_681_433.0)


def test_recorded_balloon_guest_rates_and_memory() -> None:
    s = _sample(BALLOON_T0, BALLOON_T2)
    # 62 ms of CPU in 2 s on 1 vCPU = 3.1 %; of 2 host CPUs = 1.55 %.
    assert s.cpu_percent == pytest.approx(3.1)
    assert s.cpu_host_percent == pytest.approx(1.55)
    # The guest's dd loop: 4 MiB read in 2 s, 64 requests.
    assert s.disk_read_bps == pytest.approx(4 * 1024 * 1024 / 2)
    assert s.disk_read_iops == pytest.approx(32.0)
    assert s.disk_write_bps == 0.0
    # Memory from the balloon driver: available - usable.
    assert s.balloon
    assert s.memory_used_kib == 94780 - 71380
    assert s.memory_total_kib == 94780
    assert s.rss_kib == 214176
    # net.count=1 with no net.0.* keys (user networking): unknown, not zero.
    assert math.isnan(s.net_rx_bps) and math.isnan(s.net_tx_bps)
    assert len(s.row()) == len(GuestChannel)


def test_first_sample_has_memory_but_no_rates() -> None:
    s = _sample(None, BALLOON_T0)
    assert math.isnan(s.cpu_percent) and math.isnan(s.disk_read_bps)
    assert s.memory_used_kib == 94780 - 71380


def test_no_balloon_is_honest() -> None:
    s = _sample(NO_BALLOON, NO_BALLOON)
    assert not s.balloon
    assert math.isnan(s.memory_used_kib), "no guest figure is made up"
    assert s.memory_total_kib == 131072
    assert s.rss_kib == 217728


def test_unused_stands_in_when_usable_is_missing() -> None:
    record = {k: v for k, v in BALLOON_T0.items() if k != "balloon.usable"}
    s = _sample(None, record)
    assert s.balloon and s.memory_used_kib == 94780 - 65724


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"cpu.time": 1_000_000}, "reboot/restore: the CPU counter went down"),
        ({"block.0.rd.bytes": 10, "block.0.rd.reqs": 1}, "disk counters restarted"),
    ],
)
def test_counter_reset_gives_a_gap_not_a_spike(change: dict[str, int], why: str) -> None:
    s = _sample(BALLOON_T0, {**BALLOON_T2, **change})
    row = s.row()
    assert all(math.isnan(v) or 0 <= v < 1e10 for v in row), why
    key = next(iter(change))
    channel = GuestChannel.CPU if key == "cpu.time" else GuestChannel.DISK_READ
    assert math.isnan(row[channel]), why


def test_new_domain_id_discards_the_previous_counters() -> None:
    s = _sample(BALLOON_T0, BALLOON_T2, prev_id=6)
    assert math.isnan(s.cpu_percent) and math.isnan(s.disk_read_bps)
    assert not math.isnan(s.memory_used_kib)


def test_missing_keys_and_the_test_driver() -> None:
    s = _sample(TEST_DRIVER, TEST_DRIVER)
    assert all(math.isnan(v) for v in s.row())
    assert not guest_counters_from_stats(UUID, 1, 0.0, TEST_DRIVER).has_counters
    partial = {k: v for k, v in BALLOON_T2.items() if not k.startswith("block.0.rd")}
    s = _sample(BALLOON_T0, partial)
    assert math.isnan(s.disk_read_bps) and s.disk_write_bps == 0.0
    assert s.cpu_percent == pytest.approx(3.1)


def test_cpu_share_is_clamped_and_needs_vcpus() -> None:
    too_much = {**BALLOON_T2, "cpu.time": BALLOON_T0["cpu.time"] + 5_000_000_000}
    assert _sample(BALLOON_T0, too_much).cpu_percent == 100.0
    unknown = _sample(BALLOON_T0, BALLOON_T2, vcpus=None)
    assert math.isnan(unknown.cpu_percent)
    assert unknown.cpu_host_percent == pytest.approx(1.55)


def test_network_rates_and_hot_plugged_devices() -> None:
    later = {**NET_T0, "cpu.time": 1_500_000_000, "net.0.rx.bytes": 30_000, "net.0.tx.bytes": 6_000}
    s = _sample(NET_T0, later)
    assert s.net_rx_bps == pytest.approx(10_000.0)
    assert s.net_tx_bps == pytest.approx(500.0)
    # A second NIC appears with big counters: it has no previous sample, so it adds nothing.
    plugged = {
        **later,
        "net.count": 2,
        "net.1.name": "vnet9",
        "net.1.rx.bytes": 9_000_000_000,
        "net.1.tx.bytes": 9_000_000_000,
    }
    assert _sample(NET_T0, plugged).net_rx_bps == pytest.approx(10_000.0)
    # The first one is unplugged: its bytes leaving the sum is no negative rate.
    unplugged = {**plugged, "net.count": 1, "net.0.name": "vnet9"}
    assert math.isnan(_sample(later, unplugged).net_rx_bps)


def test_counter_rate() -> None:
    assert counter_rate(10, 30, 2.0) == 10.0
    assert math.isnan(counter_rate(30, 10, 2.0))
    assert math.isnan(counter_rate(None, 10, 2.0))
    assert math.isnan(counter_rate(10, 30, 0.0))


def test_host_cpu_and_memory() -> None:
    cpu0 = {"kernel": 576_040_000_000, "user": 3_835_370_000_000, "idle": 1_697_010_000_000}
    cpu1 = {"kernel": 576_540_000_000, "user": 3_836_870_000_000, "idle": 1_697_510_000_000}
    mem = {"total": 24683656, "free": 20555984, "buffers": 36736, "cached": 2693056}
    a = host_counters_from_stats(0.0, 2, {**cpu0, "iowait": 0}, mem)
    b = host_counters_from_stats(1.0, 2, {**cpu1, "iowait": 0}, mem)
    s = host_sample(a, b, 5.0, committed_memory_kib=262144.0, committed_vcpus=3.0)
    assert s.cpu_percent == pytest.approx(100 * 2.0 / 2.5)
    assert s.memory_used_kib == 24683656 - 20555984 - 36736 - 2693056
    assert s.memory_total_kib == 24683656
    assert s.row()[HostChannel.COMMITTED_VCPUS] == 3.0
    # The test driver: no memory stats (total from getInfo), CPU counters that never move.
    t = host_counters_from_stats(0.0, 16, cpu0, None, 67108864)
    u = host_sample(t, host_counters_from_stats(1.0, 16, cpu0, None, 67108864), 1.0)
    assert math.isnan(u.cpu_percent) and math.isnan(u.memory_used_kib)
    assert u.memory_total_kib == 67108864


def test_rows_follow_the_channels_not_the_field_order() -> None:
    """Each channel reads its own field, whatever order the dataclass declares them in."""
    guest = GuestSample(
        "u",
        1.0,
        cpu_percent=1.0,
        cpu_host_percent=2.0,
        memory_used_kib=3.0,
        memory_total_kib=4.0,
        rss_kib=5.0,
        disk_read_bps=6.0,
        disk_write_bps=7.0,
        disk_read_iops=8.0,
        disk_write_iops=9.0,
        net_rx_bps=10.0,
        net_tx_bps=11.0,
        cpu_wait_ms=12.0,
        balloon=True,
    )
    expected_guest = {
        GuestChannel.CPU: 1.0,
        GuestChannel.CPU_HOST: 2.0,
        GuestChannel.MEMORY_USED: 3.0,
        GuestChannel.MEMORY_TOTAL: 4.0,
        GuestChannel.RSS: 5.0,
        GuestChannel.DISK_READ: 6.0,
        GuestChannel.DISK_WRITE: 7.0,
        GuestChannel.DISK_READ_IOPS: 8.0,
        GuestChannel.DISK_WRITE_IOPS: 9.0,
        GuestChannel.NET_RX: 10.0,
        GuestChannel.NET_TX: 11.0,
        GuestChannel.CPU_WAIT: 12.0,
    }
    assert dict(zip(GuestChannel, guest.row(), strict=True)) == expected_guest
    host = HostSample(
        1.0,
        16,
        cpu_percent=1.0,
        guests_cpu_percent=2.0,
        memory_used_kib=3.0,
        memory_total_kib=4.0,
        committed_memory_kib=5.0,
        committed_vcpus=6.0,
        guests_memory_kib=7.0,
    )
    expected_host = {
        HostChannel.CPU: 1.0,
        HostChannel.GUESTS_CPU: 2.0,
        HostChannel.MEMORY_USED: 3.0,
        HostChannel.MEMORY_TOTAL: 4.0,
        HostChannel.COMMITTED_MEMORY: 5.0,
        HostChannel.COMMITTED_VCPUS: 6.0,
        HostChannel.CPUS: 16.0,
        HostChannel.GUESTS_MEMORY: 7.0,
    }
    assert dict(zip(HostChannel, host.row(), strict=True)) == expected_host
    # Every value field has exactly one channel (a new field needs a channel, and back).
    assert sorted(GUEST_FIELDS.values()) == sorted(
        n for n in GuestSample.__dataclass_fields__ if n not in ("uuid", "time", "balloon")
    )
    assert sorted(HOST_FIELDS.values()) == sorted(
        n for n in HostSample.__dataclass_fields__ if n != "time"
    )


# Recorded on libvirt 9.0 / QEMU 7.2 (TCG) from a 2-vCPU tiny guest spinning one vCPU, 2 s
# apart (bulk call, groups state|cpu-total|vcpu, NOWAIT; cpu.cache/haltpoll keys trimmed).
VCPU_T0: dict[str, Any] = {
    "cpu.system": 189815000,
    "cpu.time": 3602383000,
    "cpu.user": 3412567000,
    "state.reason": 1,
    "state.state": 1,
    "vcpu.0.delay": 443766062,
    "vcpu.0.state": 1,
    "vcpu.0.time": 2310000000,
    "vcpu.0.wait": 0,
    "vcpu.1.delay": 364386695,
    "vcpu.1.state": 1,
    "vcpu.1.time": 1150000000,
    "vcpu.1.wait": 0,
    "vcpu.current": 2,
    "vcpu.maximum": 2,
}
VCPU_T2: dict[str, Any] = {
    **VCPU_T0,
    "cpu.time": 5609732000,
    "cpu.user": 5419917000,
    "vcpu.0.delay": 445934341,
    "vcpu.0.time": 4310000000,
    "vcpu.1.delay": 364397792,
}


def test_recorded_vcpu_delay_is_ms_per_s_averaged_over_the_vcpus() -> None:
    counters = guest_counters_from_stats(UUID, 7, 100.0, VCPU_T0)
    assert counters.vcpu_delays == ((0, 443766062), (1, 364386695))
    s = _sample(VCPU_T0, VCPU_T2, vcpus=2)
    # vCPU 0 waited 2.168 ms, vCPU 1 0.011 ms in 2 s: (1.084 + 0.0055) / 2 ms per s.
    expected = ((445934341 - 443766062) + (364397792 - 364386695)) / 2 / 2 / 1e6
    assert s.cpu_wait_ms == pytest.approx(expected)
    assert s.row()[GuestChannel.CPU_WAIT] == pytest.approx(expected)


def test_vcpu_delay_counter_reset_or_absence_is_a_gap() -> None:
    reset = {**VCPU_T2, "vcpu.1.delay": 1000}  # one vCPU's counter went down
    assert math.isnan(_sample(VCPU_T0, reset, vcpus=2).cpu_wait_ms)
    assert math.isnan(_sample(None, VCPU_T0, vcpus=2).cpu_wait_ms), "needs two snapshots"
    # No delay reported (the test driver, older libvirt): unknown, never 0.
    assert math.isnan(_sample(NO_BALLOON, NO_BALLOON).cpu_wait_ms)
    assert guest_counters_from_stats(UUID, 7, 0.0, TEST_DRIVER).vcpu_delays == ()
    # A vCPU hot-plugged between the snapshots is left out, not counted from 0.
    plugged = {**VCPU_T2, "vcpu.current": 3, "vcpu.maximum": 3, "vcpu.2.delay": 10**12}
    assert _sample(VCPU_T0, plugged, vcpus=3).cpu_wait_ms == pytest.approx(
        _sample(VCPU_T0, VCPU_T2, vcpus=2).cpu_wait_ms
    )
    # A new QEMU (domain id changed): no rate across it.
    assert math.isnan(_sample(VCPU_T0, VCPU_T2, vcpus=2, prev_id=3).cpu_wait_ms)
