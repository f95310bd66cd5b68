"""The Limits tab and the Storage view against the real daemon, through the main window."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import Run
from tests.integration.isoguest import READY, IsoGuests
from tests.integration.lab import POOL_NAME, Lab
from tests.ui.helpers import FakeDialogs, select
from vmgui.core.limits import LimitsView, Scope
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow
from vmgui.ui.monitor.charts import UsageCharts
from vmgui.ui.monitor.chartspec import ChartId
from vmgui.ui.monitor.install import install_usage
from vmgui.ui.monitor.limitwatch import ChartLimits
from vmgui.ui.monitor.plot import Chart
from vmgui.ui.storage.window import StorageWindow
from vmgui.ui.widgets import NoWheelSpinBox

pytestmark = pytest.mark.integration

#: Where the screenshots go when VMGUI_SHOTS names a directory (for a person to look at).
SHOTS = os.environ.get("VMGUI_SHOTS", "")


@pytest.fixture
def iso(lab: Lab) -> Iterator[IsoGuests]:
    """The test's guest maker (its guests are removed afterwards)."""
    made = IsoGuests(lab)
    try:
        yield made
    finally:
        made.close()


def _shot(widget: MainWindow | StorageWindow, name: str) -> None:
    if SHOTS:
        widget.grab().save(str(Path(SHOTS) / f"{name}.png"))


def test_limits_tab_reads_and_applies_live(
    lab: Lab, iso: IsoGuests, qtbot: QtBot, qloop: Run
) -> None:
    """Select a running guest, open the Limits tab: its live limits appear with the
    user-mode NIC shown unsupported; a 256 KiB/s read limit typed there and applied is what
    libvirt then holds, live and in the config."""
    guest = iso.define("read")
    dom = iso.domain(guest)
    dom.create()
    qloop(wait_until(lambda: READY in guest.console(), 60))
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.resize(1280, 900)
    win.show()
    controller.add_host(lab.uri, save=False)
    try:
        qloop(controller.connect_host(lab.uri))
        qloop(wait_until(lambda: _listed(win, guest.name), 10))
        select(win, [guest.name])
        tab = win.limits_tab
        win.side_tabs.setCurrentWidget(tab.pane)
        qloop(wait_until(lambda: tab.current is not None, 10))
        view = tab.current
        assert view is not None and view.running and view.name == guest.name
        assert tab.pane.scope_box.currentData() == Scope.LIVE | Scope.CONFIG
        read = tab.pane.findChild(NoWheelSpinBox, "limitsDisk_vda_1")
        assert read is not None
        read.setValue(256)
        assert tab.pane.apply_button.isEnabled()
        tab.pane.apply_button.click()

        def applied() -> bool:
            current = tab.current
            live = current.live if current is not None else None
            disk = live.disk("vda") if live is not None else None
            return disk is not None and disk.read_bps == 262144

        qloop(wait_until(applied, 15))
        assert not dialogs.errors
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE
        assert dom.blockIoTune("vda", flags)["read_bytes_sec"] == 262144
        config = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        assert dom.blockIoTune("vda", config)["read_bytes_sec"] == 262144
        _shot(win, "limits-tab")

        win.window_actions.storage.trigger()
        storage = win.findChild(StorageWindow, "storageWindow")
        assert isinstance(storage, StorageWindow)
        qloop(wait_until(lambda: storage.pools.rowCount() > 0, 10))
        names = [p.name for p in storage.pools.rows]
        storage.pool_view.selectRow(names.index(POOL_NAME))
        qloop(wait_until(lambda: any(v.path == guest.disk for v in storage.volumes.rows), 15))
        mine = next(v for v in storage.volumes.rows if v.path == guest.disk)
        assert mine.used_by == (guest.name,) and mine.backing_chain == (lab.base_path,)
        storage.resize(1100, 700)
        _shot(storage, "storage-view")
    finally:
        qloop(controller.close_all())


def _listed(win: MainWindow, name: str) -> bool:
    proxy = win.guest_list.proxy
    return any(proxy.index(r, 0).data() == name for r in range(proxy.rowCount()))


def test_usage_charts_draw_limits_without_the_limits_tab(
    lab: Lab, iso: IsoGuests, qtbot: QtBot, qloop: Run
) -> None:
    """A guest with a blkiotune, an IOPS limit and a CPU cap set by libvirt (not by vmgui):
    selected with the Usage tab in view (the Limits tab never opened), its charts show the
    limits; real ticks read nothing again; an Apply in the Limits tab moves the line."""
    guest = iso.define("idle")
    dom = iso.domain(guest)
    dom.create()
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE
    dom.setBlockIoTune("vda", {"read_bytes_sec": 262144, "write_iops_sec": 50}, live)
    dom.setSchedulerParametersFlags({"vcpu_period": 100000, "vcpu_quota": 20000}, live)
    controller = HostController()
    win = MainWindow(controller, FakeDialogs())
    qtbot.addWidget(win)
    win.resize(1280, 900)
    win.show()
    controller.add_host(lab.uri, save=False)
    stats = install_usage(
        win.selection,
        win.guest_list.view,
        win.guest_list.model,
        win.guest_list.proxy,
        win.side_tabs,
        controller,
        limits_changed=win.limits_tab.limitsChanged,
    )
    try:
        charts = win.side_tabs.findChild(UsageCharts, "usageCharts")
        watch = stats.findChild(ChartLimits)
        assert charts is not None and watch is not None
        reads: list[LimitsView] = []
        watch.limitsRead.connect(reads.append)
        win.side_tabs.setCurrentWidget(charts)
        qloop(controller.connect_host(lab.uri))
        qloop(wait_until(lambda: _listed(win, guest.name), 10))
        select(win, [guest.name])
        qloop(wait_until(lambda: len(reads) == 1, 15))
        disk, cpu = charts.chart(ChartId.DISK), charts.chart(ChartId.CPU)
        assert disk is not None and cpu is not None
        qloop(wait_until(lambda: bool(disk.limit_items), 5))
        assert [item.label.toPlainText() for item in disk.limit_items] == ["read limit 256 KiB/s"]
        assert [n.label for n in disk.limit_notes] == ["write limit 50 IOPS"]
        assert [item.label.toPlainText() for item in cpu.limit_items] == [
            "CPU cap 20 % of one host CPU"
        ]
        assert float(cpu.limit_items[0].value()) == pytest.approx(20.0)
        # Real ticks: no read per tick.
        for _ in range(3):
            qloop(asyncio.sleep(0.5))
            qloop(stats.tick_now(lab.uri))
        qloop(asyncio.sleep(0.3))
        assert len(reads) == 1
        _shot(win, "usage-limits")

        tab = win.limits_tab
        win.side_tabs.setCurrentWidget(tab.pane)
        qloop(wait_until(lambda: tab.current is not None, 10))
        read = tab.pane.findChild(NoWheelSpinBox, "limitsDisk_vda_1")
        assert read is not None
        read.setValue(512)
        tab.pane.apply_button.click()
        qloop(wait_until(lambda: dom.blockIoTune("vda", live)["read_bytes_sec"] == 524288, 15))
        win.side_tabs.setCurrentWidget(charts)
        qloop(wait_until(lambda: _labels(disk) == ["read limit 512 KiB/s"], 5))
        # The Apply refreshed the guest's row (same guest, same state): still that one read.
        qloop(asyncio.sleep(0.5))
        assert len(reads) == 1
    finally:
        stats.close()
        qloop(controller.close_all())


def _labels(chart: Chart) -> list[str]:
    return [item.label.toPlainText() for item in chart.limit_items]


def test_limits_tab_shows_live_vs_config_and_apply_writes_both(
    lab: Lab, iso: IsoGuests, qtbot: QtBot, qloop: Run
) -> None:
    """A read limit set with ``--live`` only (as ``virsh blkiotune --live`` does): the tab shows
    "now 256 KiB/s · next boot: none" beside vda, says Apply writes both, and Apply (no edit)
    saves it to the config too; then the mark is gone."""
    guest = iso.define("idle")
    dom = iso.domain(guest)
    dom.create()
    live, config = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
    dom.setBlockIoTune("vda", {"read_bytes_sec": 262144}, live)
    assert dom.blockIoTune("vda", config)["read_bytes_sec"] == 0
    controller = HostController()
    dialogs = FakeDialogs()
    win = MainWindow(controller, dialogs)
    qtbot.addWidget(win)
    win.resize(1280, 900)
    win.show()
    controller.add_host(lab.uri, save=False)
    try:
        qloop(controller.connect_host(lab.uri))
        qloop(wait_until(lambda: _listed(win, guest.name), 10))
        select(win, [guest.name])
        tab = win.limits_tab
        win.side_tabs.setCurrentWidget(tab.pane)
        qloop(wait_until(lambda: tab.current is not None, 10))
        note = tab.pane.findChild(QLabel, "limitsDiff_vda")
        assert note is not None and note.isVisible()
        assert note.text() == "read: now 256 KiB/s · next boot: none"
        assert "Apply writes the values shown to both" in tab.pane.message.text()
        _shot(win, "limits-live-vs-config")
        assert tab.pane.apply_button.isEnabled()
        tab.pane.apply_button.click()
        qloop(wait_until(lambda: dom.blockIoTune("vda", config)["read_bytes_sec"] == 262144, 15))
        assert dom.blockIoTune("vda", live)["read_bytes_sec"] == 262144

        def saved() -> bool:
            view = tab.current
            disk = view.config.disk("vda") if view is not None and view.config else None
            return disk is not None and disk.read_bps == 262144

        qloop(wait_until(saved, 10))
        qloop(asyncio.sleep(0.1))  # the fields made before are deleted
        marks = tab.pane.findChildren(QLabel, "limitsDiff_vda")
        assert len(marks) == 1 and not marks[0].isVisible()
        assert tab.pane.message.text() == "" and not dialogs.errors
    finally:
        qloop(controller.close_all())
