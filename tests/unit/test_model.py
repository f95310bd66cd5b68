"""Tests for vmgui.core.model: libvirt's domain states as the user sees them."""

from __future__ import annotations

import libvirt
import pytest

from vmgui.core.model import GuestState, guest_state_from_libvirt


@pytest.mark.parametrize(
    ("state", "seen", "saved"),
    [
        (libvirt.VIR_DOMAIN_NOSTATE, GuestState.SHUTOFF, GuestState.SAVED),
        (libvirt.VIR_DOMAIN_RUNNING, GuestState.RUNNING, GuestState.RUNNING),
        (libvirt.VIR_DOMAIN_BLOCKED, GuestState.RUNNING, GuestState.RUNNING),
        (libvirt.VIR_DOMAIN_PAUSED, GuestState.PAUSED, GuestState.PAUSED),
        (libvirt.VIR_DOMAIN_SHUTDOWN, GuestState.RUNNING, GuestState.RUNNING),
        (libvirt.VIR_DOMAIN_SHUTOFF, GuestState.SHUTOFF, GuestState.SAVED),
        (libvirt.VIR_DOMAIN_CRASHED, GuestState.CRASHED, GuestState.CRASHED),
        (libvirt.VIR_DOMAIN_PMSUSPENDED, GuestState.SUSPENDED, GuestState.SUSPENDED),
        (99, GuestState.SHUTOFF, GuestState.SAVED),
    ],
)
def test_libvirt_states_by_their_libvirt_numbers(
    state: int, seen: GuestState, saved: GuestState
) -> None:
    assert guest_state_from_libvirt(state) is seen
    assert guest_state_from_libvirt(state, has_managed_save=True) is saved
