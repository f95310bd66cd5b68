"""The guest pane's edit state, without widgets."""

from __future__ import annotations

import dataclasses

from vmgui.core.model import GuestConfigEdit, GuestInfo, GuestOverview, GuestState
from vmgui.core.validation import MAX_VCPUS, MIN_MEMORY_MIB
from vmgui.core.xml.domain import GuestDetails
from vmgui.ui.guests.configform import ConfigValues, GuestConfigForm


def _overview(name: str = "web", vcpus: int = 2, memory_kib: int = 1 << 20) -> GuestOverview:
    guest = GuestInfo("test:///x", f"uuid-{name}", name, GuestState.SHUTOFF, 2, 1 << 20, 1 << 20)
    details = GuestDetails(uuid=guest.uuid, name=name, vcpus=vcpus, memory_kib=memory_kib)
    return GuestOverview(guest=guest, details=details, autostart=False, has_managed_save=False)


def test_values_come_from_the_next_boot_config_within_range() -> None:
    assert GuestConfigForm.values_of(_overview()) == ConfigValues(2, 1024, "", False)
    tiny = GuestConfigForm.values_of(_overview(vcpus=MAX_VCPUS + 5, memory_kib=1024))
    assert (tiny.vcpus, tiny.memory_mib) == (MAX_VCPUS, MIN_MEMORY_MIB)


def test_pending_edit_names_only_what_changed() -> None:
    form = GuestConfigForm()
    assert form.pending(ConfigValues(4, 1024, "", False)) is None, "nothing loaded"
    shown = form.load(_overview(), ConfigValues(1, MIN_MEMORY_MIB, "", False))
    assert shown == ConfigValues(2, 1024, "", False)
    assert form.pending(shown) is None
    edited = dataclasses.replace(shown, vcpus=4, title="Front end")
    assert form.pending(edited) == GuestConfigEdit(
        guest=_overview().guest, vcpus=4, title="Front end"
    )


def test_a_refresh_keeps_unapplied_edits_and_an_apply_drops_them() -> None:
    form = GuestConfigForm()
    shown = form.load(_overview(), ConfigValues(1, MIN_MEMORY_MIB, "", False))
    assert shown is not None
    edited = dataclasses.replace(shown, title="Draft")
    # The guest changed elsewhere (memory), the user's title draft stays.
    again = form.load(_overview(memory_kib=2 << 20), edited)
    assert again == ConfigValues(2, 2048, "Draft", False)
    form.mark_applied()
    after = form.load(_overview(memory_kib=2 << 20), edited)
    assert after == ConfigValues(2, 2048, "", False), "after an apply, the fresh values"
    other = form.load(_overview("db"), dataclasses.replace(edited, vcpus=8))
    assert other == ConfigValues(2, 1024, "", False), "another guest: nothing is kept"
    assert form.load(None, edited) is None and form.overview is None
