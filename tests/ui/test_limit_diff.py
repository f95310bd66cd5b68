"""Live vs config: a running guest's limits set with ``--live`` only, shown beside each field,
and what Apply then writes (the pane, from made-up LimitsViews; pure rules in core)."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from vmgui.core.limitdiff import differences
from vmgui.core.limits import (
    DiskLimits,
    GuestLimits,
    LimitChange,
    LimitsView,
    NicLimits,
    Scope,
    check_change,
)
from vmgui.core.validation import ValidationError
from vmgui.ui.isolation.pane import LimitsPane

KIB = 1024
MAC = "52:54:00:00:00:01"
CONFIG = GuestLimits(
    vcpus=1,
    disks=(DiskLimits("vda"),),
    nics=(NicLimits(MAC, "network", inbound_kib=100),),
)
LIVE = dataclasses.replace(
    CONFIG,
    cpu_weight=1024,  # what a running guest reports for an unset (0) config weight
    vcpu_period_us=100_000,
    vcpu_quota_us=20_000,
    disks=(DiskLimits("vda", read_bps=256 * KIB, write_iops=10),),
)


def _view(live: GuestLimits | None = LIVE, config: GuestLimits | None = CONFIG) -> LimitsView:
    return LimitsView("web", "u-1", live is not None, config is not None, live, config)


def test_differences_name_each_field_and_both_values() -> None:
    found = {d.key: (d.name, d.text) for d in differences(_view())}
    assert found == {
        ("cpu_cap",): ("CPU cap", "now 20 % · next boot: no cap"),
        ("disk", "vda", 1): ("read", "now 256 KiB/s · next boot: none"),
        ("disk", "vda", 4): ("write IOPS", "now 10 IOPS · next boot: none"),
    }, "the weight 1024 vs unset is the same; the NIC is equal"
    assert differences(_view(config=LIVE)) == ()
    assert differences(_view(live=None)) == (), "shut off: nothing live to differ"
    assert differences(_view(config=None)) == (), "transient: no config"


@pytest.fixture
def pane(qtbot: QtBot) -> LimitsPane:
    widget = LimitsPane()
    qtbot.addWidget(widget)
    widget.resize(800, 700)
    widget.show()
    return widget


def _note(pane: LimitsPane, name: str) -> QLabel:
    label = pane.findChild(QLabel, name)
    assert label is not None, name
    return label


def test_pane_marks_differences_and_says_what_apply_writes(pane: LimitsPane) -> None:
    pane.show_limits(_view())
    cap, vda = _note(pane, "limitsDiff_cpu_cap"), _note(pane, "limitsDiff_vda")
    assert cap.isVisible() and cap.text() == "now 20 % · next boot: no cap"
    assert vda.isVisible()
    assert vda.text() == (
        "read: now 256 KiB/s · next boot: none; write IOPS: now 10 IOPS · next boot: none"
    )
    assert not _note(pane, "limitsDiff_cpu_weight").isVisible()
    assert not _note(pane, f"limitsDiff_{MAC}").isVisible()
    # Both scopes: Apply writes the values shown to both, so the config gets the live ones.
    assert pane.scope() == Scope.LIVE | Scope.CONFIG
    assert "Apply writes the values shown to both" in pane.message.text()
    assert pane.apply_button.isEnabled() and not pane.revert_button.isEnabled()
    assert pane.changes() == [
        LimitChange(cpu_cap_percent=20),
        LimitChange(disk_read_bps=256 * KIB, disk_write_iops=10, disks=("vda",)),
    ]
    # Live only: nothing to write until the user edits; the message says what the boot brings.
    pane.scope_box.setCurrentIndex(1)
    assert pane.scope() == Scope.LIVE
    assert pane.changes() == [] and not pane.apply_button.isEnabled()
    assert "the next boot brings the saved value back" in pane.message.text()
    # Config only: the values shown (the running guest's) go to the config.
    pane.scope_box.setCurrentIndex(2)
    assert pane.changes()[0] == LimitChange(cpu_cap_percent=20)
    # Equal scopes: no mark, no note, nothing to apply.
    pane.show_limits(_view(config=LIVE))
    assert not cap.isVisible() and pane.message.text() == "" and pane.changes() == []


def test_pane_disables_what_the_host_cannot_limit(pane: LimitsPane) -> None:
    """A host without the cgroup cpu controller: the CPU fields are off, the reason shown
    under them, and a CPU change is refused by the checks, naming the controller."""
    reason = "the host's cgroup 'cpu' controller is missing for this guest (not mounted)"
    limits = dataclasses.replace(CONFIG, cpu_unavailable=reason)
    pane.show_limits(_view(limits, limits))
    assert not pane.cpu_cap.isEnabled() and not pane.cpu_weight.isEnabled()
    assert pane.memory_hard.isEnabled()
    note = _note(pane, "limitsDiff_cpu_cap")
    assert note.isVisible() and note.text() == f"Cannot be set on this host: {reason}."
    view = _view(limits, limits)
    with pytest.raises(ValidationError, match="cgroup 'cpu' controller is missing"):
        check_change(view, LimitChange(cpu_cap_percent=20))
    check_change(view, LimitChange(memory_soft_limit_kib=65536))  # the rest still applies
