"""Placement advice: ranking hosts for planned guests, each with its one-line reason."""

from __future__ import annotations

import dataclasses
import math

import pytest

from vmgui.core.placement import (
    GIB,
    HostFacts,
    Placement,
    PlacementRequest,
    SpreadError,
    rank,
    spread,
)

KIB_PER_GIB = 1024 * 1024

#: 32 GiB, 8 CPUs; its guests hold 12 GiB and use 20 % of the CPUs over 10 min.
ROOMY = HostFacts(
    "qemu+ssh://roomy/system",
    cpus=8,
    memory_total_kib=32 * KIB_PER_GIB,
    guests_cpu_percent=20.0,
    guests_memory_kib=12 * KIB_PER_GIB,
    window_seconds=600,
    active_memory_kib=12 * KIB_PER_GIB,
    committed_vcpus=6,
    committed_memory_kib=14 * KIB_PER_GIB,
    pool="default",
    pool_free_bytes=100 * GIB,
    kvm=True,
    image_present=True,
)
#: 4 GiB, 2 CPUs; its one guest holds 2.5 GiB: 1.5 GiB left.
TIGHT = HostFacts(
    "qemu:///system",
    cpus=2,
    memory_total_kib=4 * KIB_PER_GIB,
    guests_cpu_percent=5.0,
    guests_memory_kib=2.5 * KIB_PER_GIB,
    window_seconds=600,
    active_memory_kib=3 * KIB_PER_GIB,
    committed_vcpus=2,
    committed_memory_kib=3 * KIB_PER_GIB,
    pool="default",
    pool_free_bytes=100 * GIB,
    kvm=True,
    image_present=False,
)


def _by_uri(placements: list[Placement]) -> dict[str, Placement]:
    return {p.uri: p for p in placements}


def test_the_host_with_room_ranks_first_and_the_other_says_why() -> None:
    request = PlacementRequest(vcpus=2, memory_mib=4096, disk_gib=20)
    for hosts in ([ROOMY, TIGHT], [TIGHT, ROOMY]):
        best, other = rank(hosts, request)
        assert best.uri == ROOMY.uri and best.fits and best.score > 0
        assert best.reason == (
            "20.0 GiB free, CPU 80 % idle over 10 min, 6/8 vCPUs committed, "
            "100 GiB free in pool default, image present"
        )
        assert (other.uri, other.fits, other.score) == (TIGHT.uri, False, 0.0)
        assert other.reason == "needs 4.0 GiB, 1.5 GiB available"


def test_equal_headroom_the_less_committed_host_ranks_first_in_either_order() -> None:
    busy_books = dataclasses.replace(
        ROOMY, uri="test:///a", committed_vcpus=16, committed_memory_kib=30 * KIB_PER_GIB
    )
    light_books = dataclasses.replace(
        ROOMY, uri="test:///b", committed_vcpus=2, committed_memory_kib=12 * KIB_PER_GIB
    )
    request = PlacementRequest(vcpus=2, memory_mib=2048)
    for hosts in ([busy_books, light_books], [light_books, busy_books]):
        order = [p.uri for p in rank(hosts, request)]
        assert order == ["test:///b", "test:///a"]
    # Same facts on both: the URI decides, never the order given.
    twin = dataclasses.replace(light_books, uri="test:///c")
    for hosts in ([twin, light_books], [light_books, twin]):
        assert [p.uri for p in rank(hosts, request)] == ["test:///b", "test:///c"]


def test_real_use_counts_the_hosts_own_guests() -> None:
    """Two hosts on one machine: same node figures, but one's guests keep the CPUs busy."""
    node = dataclasses.replace(ROOMY, memory_available_kib=10 * KIB_PER_GIB, image_present=None)
    busy = dataclasses.replace(node, uri="qemu:///system", guests_cpu_percent=50.0)
    idle = dataclasses.replace(
        node, uri="qemu+tcp://127.0.0.1:16519/system", guests_cpu_percent=1.0
    )
    request = PlacementRequest(vcpus=1, memory_mib=128)
    first, second = rank([busy, idle], request)
    assert first.uri == idle.uri and first.score > second.score
    assert "CPU 99 % idle" in first.reason and "CPU 50 % idle" in second.reason
    # The node's available memory caps what either host offers.
    assert first.reason.startswith("10.0 GiB free")


def test_unmeasured_memory_counts_the_running_guests_allocation() -> None:
    facts = dataclasses.replace(
        TIGHT, guests_memory_kib=math.nan, guests_cpu_percent=math.nan, image_present=None
    )
    assert facts.memory_free_kib == 1 * KIB_PER_GIB
    (only,) = rank([facts], PlacementRequest(vcpus=1, memory_mib=512))
    assert only.fits
    assert only.reason == "1.0 GiB free, CPU use not measured, 2/2 vCPUs committed"


@pytest.mark.parametrize(
    ("facts", "request_", "reason"),
    [
        (TIGHT, PlacementRequest(vcpus=4, memory_mib=512), "needs 4 vCPUs, the host has 2 CPUs"),
        (
            dataclasses.replace(ROOMY, pool_free_bytes=10 * GIB),
            PlacementRequest(vcpus=1, memory_mib=512, disk_gib=20),
            "needs 20.0 GiB in pool default, 10.0 GiB free",
        ),
        (
            dataclasses.replace(ROOMY, pool_free_bytes=None, pool="fast"),
            PlacementRequest(vcpus=1, memory_mib=512, disk_gib=1),
            "no running storage pool fast",
        ),
        (
            HostFacts.unreachable("qemu+ssh://gone/system", "Could not connect:\n  refused"),
            PlacementRequest(vcpus=1, memory_mib=512),
            "Could not connect: refused",
        ),
        (
            ROOMY,
            PlacementRequest(vcpus=1, memory_mib=8192, count=3),
            "needs 24.0 GiB, 20.0 GiB available (room for 2 of 3)",
        ),
    ],
)
def test_a_host_that_cannot_fit_says_why(
    facts: HostFacts, request_: PlacementRequest, reason: str
) -> None:
    (placement,) = rank([facts], request_)
    assert not placement.fits
    assert placement.reason == reason
    assert "\n" not in placement.reason


def test_the_image_upload_needs_pool_space_only_where_it_is_missing() -> None:
    small_pool = dataclasses.replace(ROOMY, pool_free_bytes=1 * GIB)
    has_it = dataclasses.replace(small_pool, uri="test:///has", image_present=True)
    lacks_it = dataclasses.replace(small_pool, uri="test:///lacks", image_present=False)
    request = PlacementRequest(
        vcpus=1, memory_mib=512, image_disk_bytes=512 << 20, image_file_bytes=800 << 20
    )
    assert request.disk_bytes == 512 << 20  # no --disk: the image's size
    placements = _by_uri(rank([lacks_it, has_it], request))
    assert placements["test:///has"].fits
    assert not placements["test:///lacks"].fits
    assert placements["test:///lacks"].reason == "needs 1.3 GiB in pool default, 1.0 GiB free"


def test_kvm_and_the_image_raise_the_score() -> None:
    request = PlacementRequest(vcpus=1, memory_mib=512)
    plain = dataclasses.replace(ROOMY, uri="test:///plain", kvm=False, image_present=False)
    better = dataclasses.replace(plain, uri="test:///better", kvm=True, image_present=True)
    first, second = rank([plain, better], request)
    assert (first.uri, second.uri) == ("test:///better", "test:///plain")
    assert first.score == pytest.approx(second.score + 10)
    assert second.reason.endswith("image to upload, no KVM (emulated)")


def test_spread_fills_the_host_with_the_most_headroom_first() -> None:
    big = dataclasses.replace(ROOMY, uri="test:///big", image_present=None)
    small = dataclasses.replace(
        ROOMY,
        uri="test:///small",
        memory_total_kib=8 * KIB_PER_GIB,
        guests_memory_kib=2 * KIB_PER_GIB,
        image_present=None,
    )
    request = PlacementRequest(vcpus=1, memory_mib=2048, count=6)
    ranking = rank([small, big], PlacementRequest(vcpus=1, memory_mib=2048))
    assignment = spread(ranking, request)
    assert len(assignment) == 6
    assert assignment[0] == "test:///big"
    assert assignment.count("test:///big") > assignment.count("test:///small") > 0


def test_spread_says_when_the_guests_do_not_fit_together() -> None:
    request = PlacementRequest(vcpus=1, memory_mib=1024, count=3)
    ranking = rank([TIGHT], PlacementRequest(vcpus=1, memory_mib=1024))
    with pytest.raises(SpreadError) as caught:
        spread(ranking, request)
    assert str(caught.value) == (
        "3 guests do not fit on the hosts together: room for 1 (qemu:///system: 1)"
    )


def test_a_request_must_ask_for_something() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PlacementRequest(vcpus=0, memory_mib=512)
    with pytest.raises(ValueError, match="negative"):
        PlacementRequest(vcpus=1, memory_mib=512, disk_gib=-1)


def test_a_pool_provisioning_would_start_or_create_does_not_count_against_the_host() -> None:
    """A fresh host has no ``default`` pool yet (provisioning creates it) or an inactive one
    (provisioning starts it): its space is unknown, so the host fits and says why."""
    request = PlacementRequest(vcpus=1, memory_mib=512, disk_gib=20)
    missing = dataclasses.replace(ROOMY, pool_free_bytes=None)
    assert not rank([missing], request)[0].fits
    startable = dataclasses.replace(missing, pool_startable=True)
    placed = rank([startable], request)[0]
    assert placed.fits
    assert "pool default not running yet (its space is checked when it starts)" in placed.reason
