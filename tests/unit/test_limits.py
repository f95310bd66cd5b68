"""The pure limit rules: the CPU cap's split over vCPUs, checks, scopes, warnings."""

from __future__ import annotations

import pytest

from vmgui.core.limits import (
    DiskLimits,
    GuestLimits,
    LimitChange,
    LimitsView,
    NicLimits,
    Scope,
    cap_for_quota,
    check_change,
    missing_controller,
    nic_unsupported_reason,
    quota_for_cap,
    scope_label,
)
from vmgui.core.validation import ValidationError

LIMITS = GuestLimits(
    vcpus=2,
    disks=(DiskLimits("vda"), DiskLimits("vdb")),
    nics=(
        NicLimits("52:54:00:aa:bb:01", "network"),
        NicLimits("52:54:00:aa:bb:02", "user", unsupported=nic_unsupported_reason("user")),
    ),
)


def _view(*, running: bool = True, persistent: bool = True, used: int = 0) -> LimitsView:
    return LimitsView("web", "u-1", running, persistent, LIMITS if running else None, LIMITS, used)


def test_cap_is_split_evenly_over_the_vcpus() -> None:
    assert quota_for_cap(20, 1) == 20000
    assert quota_for_cap(20, 2) == 10000
    assert quota_for_cap(150, 2) == 75000
    assert quota_for_cap(0, 4) == 0
    assert cap_for_quota(10000, 100000, 2) == pytest.approx(20)
    assert cap_for_quota(-1, 100000, 2) == 0.0
    assert GuestLimits(vcpus=2, vcpu_period_us=100000, vcpu_quota_us=10000).cpu_cap_percent == 20


def test_default_scope_and_labels() -> None:
    assert _view().default_scope == Scope.LIVE | Scope.CONFIG
    assert _view(running=False).default_scope == Scope.CONFIG
    assert _view(persistent=False).default_scope == Scope.LIVE
    assert scope_label(Scope.LIVE | Scope.CONFIG) == "live + config"
    assert scope_label(Scope.CONFIG) == "config"


def test_plan_selects_every_disk_and_quota() -> None:
    plan = check_change(_view(), LimitChange(cpu_cap_percent=20, disk_read_bps=262144))
    assert plan.vcpu_quota_us == 10000
    assert plan.disks == ("vda", "vdb")
    assert plan.nics == ()
    assert plan.scope == Scope.LIVE | Scope.CONFIG
    only = check_change(_view(), LimitChange(disk_write_iops=5, disks=("vdb",)), Scope.CONFIG)
    assert only.disks == ("vdb",) and only.scope == Scope.CONFIG
    nic = check_change(_view(), LimitChange(net_in_kib=100, nics=("52:54:00:AA:BB:01",)))
    assert nic.nics == ("52:54:00:aa:bb:01",)


@pytest.mark.parametrize(
    ("change", "scope", "message"),
    [
        (LimitChange(), None, "Nothing to change"),
        (LimitChange(cpu_cap_percent=-1), None, "must not be negative"),
        (LimitChange(disk_read_bps=-5), None, "must not be negative"),
        (LimitChange(cpu_cap_percent=201), None, "above what the guest's 2 vCPU"),
        (LimitChange(cpu_cap_percent=1.5), None, "too small to split over 2 vCPU"),
        (LimitChange(cpu_weight=1), None, "CPU weight must be 0"),
        (LimitChange(cpu_weight=300000), None, "CPU weight must be 0"),
        (LimitChange(disk_read_bps=1, disks=("vdz",)), None, "no disk 'vdz' (its disks: vda, vdb)"),
        (LimitChange(net_out_kib=1), None, "cannot be limited: user-mode networking"),
        (LimitChange(net_out_kib=1, nics=("52:54:00:00:00:00",)), None, "no NIC"),
    ],
)
def test_bad_changes(change: LimitChange, scope: Scope | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_change(_view(), change, scope)


def test_scope_must_exist() -> None:
    with pytest.raises(ValidationError, match="shut off"):
        check_change(_view(running=False), LimitChange(cpu_weight=100), Scope.LIVE)
    with pytest.raises(ValidationError, match="transient"):
        check_change(_view(persistent=False), LimitChange(cpu_weight=100), Scope.CONFIG)
    assert check_change(_view(running=False), LimitChange(cpu_cap_percent=200)).scope == (
        Scope.CONFIG
    )


def test_memory_below_use_warns() -> None:
    plan = check_change(_view(used=200 * 1024), LimitChange(memory_hard_limit_kib=100 * 1024))
    assert len(plan.warnings) == 1
    assert "hard limit 100 MiB is below what web uses now (200 MiB)" in plan.warnings[0]
    assert not check_change(
        _view(used=50 * 1024), LimitChange(memory_hard_limit_kib=100 * 1024)
    ).warnings
    lifted = check_change(_view(used=200 * 1024), LimitChange(memory_soft_limit_kib=0))
    assert not lifted.warnings


@pytest.mark.parametrize(
    ("message", "controller"),
    [
        ("Requested operation is not valid: cgroup CPU controller is not mounted", "cpu"),
        ("Requested operation is not valid: cgroup memory controller is not mounted", "memory"),
        ("Requested operation is not valid: blkio cgroup isn't mounted", "blkio"),
        ("Requested operation is not valid: cgroup cpuset controller is not mounted", "cpuset"),
        ("invalid argument: disk 'vdz' not found in domain", ""),
        ("Unable to write to '/sys/fs/cgroup/memory/x/memory.limit_in_bytes': busy", ""),
    ],
)
def test_missing_controller_is_named(message: str, controller: str) -> None:
    assert missing_controller(message) == controller
