"""Placement facts and ``vmgui-cli place`` on two test-driver hosts of different sizes.

``placement-a.xml``: 8 CPUs, 32 GiB, guests holding 12 GiB, the tiny base image in its pool;
``placement-b.xml``: 2 CPUs, 4 GiB, one 3 GiB guest (1 GiB left), an empty pool.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import Recorder, Run
from vmgui.cli import main as cli_main
from vmgui.core.placement import PlacementRequest, rank
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.placement import fetch_facts, image_ref, measure_guests

A = fixture_uri("placement-a.xml")
B = fixture_uri("placement-b.xml")
BASE = "vmgui-base-tiny-95627dcce51d5e7c.qcow2"
GIB = 1 << 30
KIB_PER_GIB = 1 << 20


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """The qcow2 header of a 1 GiB disk whose base volume is in placement-a.xml's pool."""
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 24, 1 << 30)
    path = tmp_path / "tiny.qcow2"
    path.write_bytes(bytes(header))
    return path


@pytest.fixture
def hosts(arun: Run) -> Iterator[tuple[HostConnection, HostConnection]]:
    """Both fixture hosts, connected (private copies)."""
    a = HostConnection(A, Recorder(), keepalive=None)
    b = HostConnection(B, Recorder(), keepalive=None)
    arun(a.connect())
    arun(b.connect())
    yield a, b
    arun(a.close())
    arun(b.close())


def _set_autostart(conn: libvirt.virConnect, name: str) -> None:
    conn.lookupByName(name).setAutostart(1)


def test_facts_of_both_hosts(
    hosts: tuple[HostConnection, HostConnection], arun: Run, tiny: Path
) -> None:
    a, b = hosts
    ref = arun(image_ref(tiny))
    assert ref.volume_name == BASE
    assert (ref.virtual_bytes, ref.file_bytes) == (GIB, 64 * 1024)
    facts_a = arun(fetch_facts(a, image_volume=ref.volume_name))
    assert (facts_a.uri, facts_a.cpus, facts_a.memory_total_kib) == (A, 8, 32 * KIB_PER_GIB)
    assert math.isnan(facts_a.memory_available_kib)  # the test driver has no node memory stats
    assert facts_a.active_memory_kib == 12 * KIB_PER_GIB
    assert (facts_a.committed_vcpus, facts_a.committed_memory_kib) == (6, 12 * KIB_PER_GIB)
    assert facts_a.pool == "default" and facts_a.pool_free_bytes == 100 * GIB - 15 * (1 << 20)
    assert facts_a.image_present is True
    assert facts_a.kvm is False  # domain type "test" only
    assert math.isnan(facts_a.guests_cpu_percent)

    # An autostart guest counts as committed though it is shut off.
    arun(a.call(lambda c: _set_autostart(c, "place-a-spare"), "autostart"))
    facts_a = arun(fetch_facts(a, image_volume=ref.volume_name, kvm=False))
    assert (facts_a.committed_vcpus, facts_a.committed_memory_kib) == (8, 14 * KIB_PER_GIB)
    assert facts_a.kvm is None and facts_a.active_memory_kib == 12 * KIB_PER_GIB

    facts_b = arun(fetch_facts(b, image_volume=ref.volume_name))
    assert (facts_b.cpus, facts_b.memory_free_kib) == (2, 1 * KIB_PER_GIB)
    assert facts_b.image_present is False
    assert arun(fetch_facts(b, pool="nope")).pool_free_bytes is None

    request = PlacementRequest(
        vcpus=2, memory_mib=2048, image_disk_bytes=ref.virtual_bytes, image_file_bytes=64 << 10
    )
    best, other = rank([facts_b, facts_a], request)
    assert (best.uri, best.fits) == (A, True)
    assert best.reason.startswith("20.0 GiB free, CPU use not measured, 8/8 vCPUs committed")
    assert best.reason.endswith("100.0 GiB free in pool default, image present")
    assert (other.uri, other.fits, other.reason) == (B, False, "needs 2.0 GiB, 1.0 GiB available")


def test_measuring_the_guests(hosts: tuple[HostConnection, HostConnection], arun: Run) -> None:
    a, _b = hosts
    once = arun(measure_guests(a, 0))
    assert once.seconds == 0 and math.isnan(once.cpu_percent)
    assert math.isnan(once.memory_kib)  # the test driver reports no resident memory
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    twice = arun(measure_guests(a, 2.5, sleep=sleep))
    assert slept == [2.5]
    assert 0 <= twice.cpu_percent <= 100  # the test driver's CPU time runs with the clock


def _place(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli_main(["place", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_place_json_ranks_the_roomy_host_first_in_either_order(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    common = ["--vcpus", "2", "--memory", "2048", "--image", str(tiny), "--sample", "0", "--json"]
    for order in ([A, B], [B, A]):
        connects = [arg for uri in order for arg in ("--connect", uri)]
        status, out, err = _place(capsys, *connects, *common)
        assert status == 0, err
        data = json.loads(out)
        assert list(data) == ["hosts"]
        hosts = data["hosts"]
        assert [h["uri"] for h in hosts] == [A, B]
        assert [set(h) for h in hosts] == [{"uri", "fits", "score", "reason"}] * 2
        assert hosts[0]["fits"] is True and hosts[0]["score"] > 0
        assert "image present" in hosts[0]["reason"]
        assert hosts[1] == {
            "uri": B,
            "fits": False,
            "score": 0.0,
            "reason": "needs 2.0 GiB, 1.0 GiB available",
        }


def test_cli_place_exits_non_zero_when_no_host_fits(capsys: pytest.CaptureFixture[str]) -> None:
    gone = "test:///nowhere/placement-missing.xml"
    status, out, err = _place(
        capsys, "--connect", gone, "--connect", B, "--vcpus", "1", "--memory", "2G", "--json",
        "--sample", "0",
    )  # fmt: skip
    assert status == 1 and err == ""
    hosts = json.loads(out)["hosts"]
    assert [h["uri"] for h in hosts] == [B, gone]
    assert hosts[1]["fits"] is False and "\n" not in hosts[1]["reason"]
    assert "Could not" in hosts[1]["reason"] and "placement-missing.xml" in hosts[1]["reason"]


def test_cli_place_text_and_spread(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--connect", B, "--connect", A, "--vcpus", "1", "--memory", "1024", "--sample", "0"]
    status, out, _err = _place(capsys, *args, "--count", "4")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["SCORE", "FITS", "HOST", "WHY"]
    assert A in lines[1] and " yes " in lines[1]
    assert B in lines[2] and "room for 1 of 4" in lines[2]
    status, out, _err = _place(capsys, *args, "--count", "3", "--spread", "--json")
    data = json.loads(out)
    assert status == 0 and data["assignment"] == [A, A, A]  # B would be left with nothing
    assert all(h["fits"] for h in data["hosts"])  # each takes one guest
    status, _out, err = _place(capsys, *args, "--count", "40", "--spread")
    assert status == 1
    assert err.startswith("vmgui-cli: 40 guests do not fit on the hosts together: room for 21")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--vcpus", "0", "--memory", "512"], "must be at least 1"),
        (["--vcpus", "1", "--memory", "lots"], "Memory 'lots' is not a size"),
        (["--vcpus", "1", "--memory", "512", "--sample", "-1"], "--sample must not be negative"),
        (["--vcpus", "1", "--memory", "512", "--image", "no-such-image"], "no image"),
    ],
)
def test_cli_place_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = _place(capsys, "--connect", A, *argv)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_an_inactive_or_missing_default_pool_is_startable(arun: Run) -> None:
    """The facts say whether provisioning would start the pool (inactive) or create it (a
    missing ``default``); any other missing pool is not."""
    host = HostConnection(fixture_uri("placement-a.xml"), NullObserver(), keepalive=None)
    arun(host.connect())
    try:
        arun(host.call(lambda c: c.storagePoolLookupByName("default").destroy(), "stop"))
        stopped = arun(fetch_facts(host, pool="default"))
        assert stopped.pool_free_bytes is None and stopped.pool_startable
        arun(host.call(lambda c: c.storagePoolLookupByName("default").undefine(), "undefine"))
        missing = arun(fetch_facts(host, pool="default"))
        assert missing.pool_free_bytes is None and missing.pool_startable
        other = arun(fetch_facts(host, pool="elsewhere"))
        assert other.pool_free_bytes is None and not other.pool_startable
    finally:
        arun(host.close())
