"""Tests for vmgui.core.provisioning.TransferMeter: transfer speed and time left."""

from __future__ import annotations

from vmgui.core.provisioning import TransferMeter


def test_transfer_meter() -> None:
    now = [0.0]
    meter = TransferMeter(1000, lambda: now[0])
    assert meter.update(0) == (None, None)
    now[0] = 1.0
    speed, eta = meter.update(100)
    assert speed == 100.0 and eta == 9.0
    now[0] = 2.0
    assert meter.update(300) == (150.0, 700 / 150)
