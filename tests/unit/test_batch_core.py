"""The pure part of batch provisioning: name patterns, the plan, its checks, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmgui.core.batch import (
    BatchResult,
    GuestOutcome,
    GuestPhase,
    HostRoom,
    batch_hostname,
    batch_problems,
    make_batch,
    pattern_names,
    pool_shortfall,
    preview_names,
)
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.provisioning import (
    ExistingVolume,
    LocalImage,
    ProvisionPlan,
    ProvisionResult,
    Step,
)
from vmgui.core.validation import ValidationError

TEMPLATE = ProvisionPlan(
    "x",
    LocalImage(Path("/i.qcow2")),
    memory_mib=1024,
    cloud_init=CloudInitConfig("web.lan"),
    serial_log="/var/log/x/console.log",
)


def test_names_count_from_one_unpadded() -> None:
    assert pattern_names("web-{n}", 3) == ("web-1", "web-2", "web-3")
    assert pattern_names(" n{n}-x{n} ", 2) == ("n1-x1", "n2-x2")
    assert preview_names("web-{n}", 20) == "web-1, web-2, … web-20"
    assert preview_names("web-{n}", 2) == "web-1, web-2"


@pytest.mark.parametrize(
    ("pattern", "count", "words"),
    [
        ("web", 3, "needs {n}"),
        ("web-{n}}", 3, "stray '}'"),
        ("web-{m}-{n}", 3, "stray '{'"),
        ("web {n}", 3, "in the name pattern"),
        ("x" * 63 + "{n}", 10, "at most 64"),  # x...x10 is too long, x...x1 is not
        ("web-{n}", 0, "1 to 100"),
        ("web-{n}", 101, "1 to 100"),
    ],
)
def test_bad_patterns_are_one_line(pattern: str, count: int, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        pattern_names(pattern, count)
    assert words in info.value.message and "\n" not in info.value.message


def test_each_guest_has_its_own_hostname_and_instance_id() -> None:
    plan = make_batch(TEMPLATE, "web-{n}", 3, ["a", "b", "a"], token=lambda: "t0")
    assert [(i.index, i.uri, i.name) for i in plan.items] == [
        (1, "a", "web-1"),
        (2, "b", "web-2"),
        (3, "a", "web-3"),
    ]
    configs = [i.plan.cloud_init for i in plan.items]
    assert [c.hostname for c in configs if c] == ["web-1.lan", "web-2.lan", "web-3.lan"]
    assert [c.instance_id for c in configs if c] == ["iid-web-1-t0", "iid-web-2-t0", "iid-web-3-t0"]
    assert [i.plan.serial_log for i in plan.items][1] == "/var/log/x/web-2.log"
    assert plan.uris == ("a", "b") and [i.name for i in plan.on("a")] == ["web-1", "web-3"]
    assert batch_hostname("web", "db_1") == "db-1"
    with pytest.raises(ValidationError, match="3 hosts"):
        make_batch(TEMPLATE, "web-{n}", 3, ["a", "b"])


def test_problems_of_a_plan() -> None:
    room = HostRoom("H", 4, 8 << 20, frozenset({"web-2"}), frozenset({"web-3-seed.iso"}), 1 << 30)
    plan = make_batch(TEMPLATE, "web-{n}", 9, "a")
    assert batch_problems(plan, {"a": room}) == [
        "a guest named web-2 already exists on H",
        "pool 'default' on H already has web-3-seed.iso",
        "9 guests need 9.0 GiB of memory; H has 8.0 GiB",
    ]
    fits = make_batch(TEMPLATE, "db-{n}", 8, "a")
    assert batch_problems(fits, {"a": room}) == []
    big = make_batch(ProvisionPlan("x", LocalImage(Path("/i")), vcpus=8), "db-{n}", 1, "a")
    assert "H: vCPUs must not exceed" in batch_problems(big, {"a": room})[0]
    volume = make_batch(ProvisionPlan("x", ExistingVolume("p", "v")), "v-{n}", 2, "a")
    assert "one existing volume" in batch_problems(volume, {"a": room})[0]


def test_pool_shortfall() -> None:
    assert pool_shortfall(100 << 20, 20, 50 << 20) == ""
    text = pool_shortfall(10 << 20, 20, 0)
    assert text.startswith("10.0 MiB free, 40.0 MiB needed for 20 guests'")


def test_summaries() -> None:
    plan = make_batch(TEMPLATE, "web-{n}", 3, "h")
    made = ProvisionResult("h", "web-1", "u1", "qemu", "/d", "/b", "/s", True, ())
    first = GuestOutcome(plan.items[0], GuestPhase.FINISHED, made)
    failed = GuestOutcome(plan.items[1], GuestPhase.FAILED, step=Step.DEFINE, error="boom")
    rest = GuestOutcome(plan.items[2], GuestPhase.NOT_MADE)
    kept = BatchResult((first, failed, rest), True, failure="web-2 failed at define: boom")
    assert kept.summary() == (
        "1 of 3 made; web-2 failed at define: boom; the 1 finished guest was kept"
    )
    assert kept.made == (made,) and not kept.ok
    gone = GuestOutcome(plan.items[0], GuestPhase.ROLLED_BACK, made)
    none = BatchResult((gone, failed, rest), False, failure="web-2 failed at define: boom")
    assert none.summary().startswith("0 of 3 made; web-2 failed at define: boom; every guest")
    early = BatchResult(tuple(GuestOutcome(i, GuestPhase.NOT_MADE) for i in plan.items), False)
    assert BatchResult(early.guests, False, cancelled=True).summary() == (
        "cancelled; nothing was created"
    )
    assert BatchResult((first,), False).summary() == "1 guest made on h"
