"""The Limits tab's pane (from a made-up LimitsView), and the Storage and Networks windows on
test-driver hosts (Host → Storage… / Networks…)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from typing import Any, TypeVar

import libvirt
import pytest
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import FakeDialogs, Run, WindowFixture, open_window, select
from vmgui.core.errors import VmguiError
from vmgui.core.limits import (
    DiskLimits,
    GuestLimits,
    LimitChange,
    LimitsView,
    NicLimits,
    Scope,
    nic_unsupported_reason,
)
from vmgui.core.xml.build import dir_pool_xml
from vmgui.ui.isolation.pane import LimitsPane
from vmgui.ui.networks.window import NetworksWindow
from vmgui.ui.storage.window import StorageWindow
from vmgui.ui.widgets import NoWheelSpinBox
from vmgui.virt.networks import create_network

T = TypeVar("T")

MIB = 1024  # KiB

LIMITS = GuestLimits(
    vcpus=2,
    cpu_weight=1024,
    vcpu_period_us=100000,
    vcpu_quota_us=10000,
    disks=(DiskLimits("vda", read_bps=262144),),
    nics=(
        NicLimits("52:54:00:00:00:01", "network", inbound_kib=100),
        NicLimits("52:54:00:00:00:02", "user", unsupported=nic_unsupported_reason("user")),
    ),
)


def _view(running: bool = True) -> LimitsView:
    return LimitsView("web", "u-1", running, True, LIMITS if running else None, LIMITS, 200 * MIB)


@pytest.fixture
def pane(qtbot: QtBot) -> LimitsPane:
    widget = LimitsPane()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_pane_shows_limits_and_where_they_go(pane: LimitsPane) -> None:
    pane.show_limits(_view())
    assert pane.cpu_cap.value() == 20 and pane.cpu_cap.maximum() == 200
    assert pane.cpu_weight.value() == 1024
    assert [pane.scope_box.itemData(i) for i in range(pane.scope_box.count())] == [
        Scope.LIVE | Scope.CONFIG,
        Scope.LIVE,
        Scope.CONFIG,
    ]
    labels = {label.text() for label in pane.findChildren(QLabel)}
    assert "Cap (live + config)" in labels
    pane.scope_box.setCurrentIndex(2)
    assert "Cap (config)" in {label.text() for label in pane.findChildren(QLabel)}
    reasons = [w for w in pane.findChildren(QLabel) if w.objectName() == "limitsNicUnsupported"]
    assert len(reasons) == 1 and "user-mode networking" in reasons[0].text()
    assert not pane.apply_button.isEnabled(), "nothing changed yet"
    pane.show_limits(_view(running=False))
    assert pane.scope_box.count() == 1 and pane.scope_box.itemData(0) == Scope.CONFIG


def test_pane_changes_validation_and_apply(pane: LimitsPane, qtbot: QtBot) -> None:
    pane.show_limits(_view())
    pane.memory_hard.setValue(100)  # MiB: below the 200 MiB in use -> a warning only
    assert "below what web uses now" in pane.message.text()
    assert pane.apply_button.isEnabled()
    pane.cpu_cap.setValue(1)  # 1 % over 2 vCPUs: below the 1000 µs quota libvirt takes
    assert "too small to split over 2 vCPU" in pane.message.text()
    assert not pane.apply_button.isEnabled()
    pane.cpu_cap.setValue(50)
    read_box = pane.findChild(NoWheelSpinBox, "limitsDisk_vda_1")
    assert read_box is not None and read_box.value() == 256
    read_box.setValue(512)
    with qtbot.waitSignal(pane.applyRequested) as blocker:
        pane.apply_button.click()
    changes, scope = blocker.args
    assert scope == Scope.LIVE | Scope.CONFIG
    assert changes == [
        LimitChange(cpu_cap_percent=50, memory_hard_limit_kib=100 * MIB),
        LimitChange(disk_read_bps=512 * 1024, disks=("vda",)),
    ]
    pane.revert_button.click()
    assert pane.changes() == []


def test_limits_tab_follows_the_selection(window: WindowFixture) -> None:
    """The tab fetches only once it is in view; the test driver cannot answer (it has no
    scheduler parameters with flags): the tab says so, in place of the fields — no dialog for
    merely looking — and no made-up limits appear."""
    win, dialogs, run = window
    tab = win.limits_tab
    assert win.side_tabs.tabText(win.side_tabs.indexOf(tab.pane)) == "Limits"
    select(win, ["guest-01"])
    run(asyncio.sleep(0.3))
    assert tab.pane.title.text() == "Select one guest to see its limits."
    win.side_tabs.setCurrentWidget(tab.pane)
    run(wait_until(lambda: "cannot be read" in tab.pane.title.text(), 5))
    assert tab.pane.title.text() == "The limits of guest-01 cannot be read on this host."
    assert "unsupported" in tab.pane.message.text()
    assert not tab.pane.apply_button.isEnabled()
    assert not dialogs.errors, "looking at the tab is not a failed action"
    assert tab.current is None


@pytest.fixture
def storage(qtbot: QtBot, qloop: Run) -> Iterator[tuple[StorageWindow, FakeDialogs, Run]]:
    with open_window(qtbot, qloop, fixture_uri("sharing.xml")) as (win, dialogs, run):
        win.window_actions.storage.trigger()
        found = win.findChild(StorageWindow, "storageWindow")
        assert isinstance(found, StorageWindow)
        run(wait_until(lambda: found.volumes.rowCount() == 5, 5))
        yield found, dialogs, run


def test_storage_window_lists_and_refuses(
    storage: tuple[StorageWindow, FakeDialogs, Run], qtmodeltester: ModelTester
) -> None:
    view, dialogs, run = storage
    assert view.pools.rows[0].name == "default-pool"
    # One model per tester: a ModelTester checks the last model it was given.
    qtmodeltester.check(view.volumes, force_py=True)  # type: ignore[no-untyped-call]
    names = [v.name for v in view.volumes.rows]
    view.volume_view.selectRow(names.index("owner-data.qcow2"))
    assert "used by borrower, owner" in view.details.text()
    view.delete_volume_button.click()
    run(wait_until(lambda: "is used by borrower, owner" in view.message.text(), 5))
    assert dialogs.confirms and "owner-data.qcow2" in dialogs.confirms[-1]
    view.new_volume_name.setText("scratch.qcow2")
    view.new_volume_size.setText("2G")
    view.create_volume_button.click()
    run(wait_until(lambda: view.volumes.rowCount() == 6, 5))
    assert "scratch.qcow2" in [v.name for v in view.volumes.rows]


def test_pool_model_passes_qtmodeltester(
    storage: tuple[StorageWindow, FakeDialogs, Run], qtmodeltester: ModelTester
) -> None:
    view, _dialogs, run = storage
    qtmodeltester.check(view.pools, force_py=True)  # type: ignore[no-untyped-call]
    view.new_pool_name.setText("scratch")
    view.new_pool_path.setText("/scratch")
    view.create_pool_button.click()
    run(wait_until(lambda: view.pools.rowCount() == 2, 5))
    view.pool_view.selectRow(1)
    view.stop_button.click()
    run(wait_until(lambda: not view.pools.rows[1].active, 5))
    assert [p.name for p in view.pools.rows] == ["default-pool", "scratch"]


@pytest.fixture
def networks(qtbot: QtBot, qloop: Run) -> Iterator[tuple[NetworksWindow, Run]]:
    with open_window(qtbot, qloop) as (win, _dialogs, run):
        win.window_actions.networks.trigger()
        found = win.findChild(NetworksWindow, "networksWindow")
        assert isinstance(found, NetworksWindow)
        run(wait_until(lambda: found.networks.rowCount() == 2, 5))
        yield found, run


def test_networks_window_plans_and_creates(networks: tuple[NetworksWindow, Run]) -> None:
    view, run = networks
    assert "a free subnet: 192.168.101.0/24" in view.subnet_note.text()
    view.new_subnet.setText("192.168.100.128/25")
    assert "overlaps network 'isolated'" in view.subnet_note.text()
    assert not view.create_button.isEnabled()
    view.new_subnet.setText("10.9.0.0/24")
    assert view.create_button.isEnabled()
    view.new_name.setText("lab")
    view.create_button.click()
    run(wait_until(lambda: view.networks.rowCount() == 3, 5))
    lab = next(n for n in view.networks.rows if n.name == "lab")
    assert lab.subnets == ("10.9.0.0/24",) and lab.mode == "nat" and lab.active


def test_views_follow_host_events(
    storage: tuple[StorageWindow, FakeDialogs, Run], qtbot: QtBot, qloop: Run
) -> None:
    """A pool (or network) made behind the views' back shows up through libvirt's events:
    nothing polls, and the views did not act."""
    view, _dialogs, run = storage
    assert view.watching

    def define(conn: libvirt.virConnect) -> None:
        conn.storagePoolDefineXML(dir_pool_xml("behind", "/behind"), 0)

    run(view.host.call(define, "define"))
    run(wait_until(lambda: "behind" in [p.name for p in view.pools.rows], 5))
    nets = NetworksWindow(view.host, _ShellStub(), FakeDialogs())
    qtbot.addWidget(nets)
    run(nets.start())
    assert nets.watching and "behind" not in [n.name for n in nets.networks.rows]
    run(create_network(view.host, "behind", "isolated"))
    run(wait_until(lambda: "behind" in [n.name for n in nets.networks.rows], 5))
    nets.close()


def test_two_windows_on_one_host_both_follow_its_events(
    storage: tuple[StorageWindow, FakeDialogs, Run], qtbot: QtBot
) -> None:
    """libvirt takes one registration of an event per connection: a second Storage window on
    the same host shares it, and closing one window leaves the other following."""
    first, _dialogs, run = storage
    second = StorageWindow(first.host, _ShellStub(), FakeDialogs())
    qtbot.addWidget(second)
    run(second.start())
    assert first.watching and second.watching

    def define(name: str) -> Callable[[libvirt.virConnect], None]:
        def call(conn: libvirt.virConnect) -> None:
            conn.storagePoolDefineXML(dir_pool_xml(name, f"/{name}"), 0)

        return call

    run(first.host.call(define("both"), "define"))
    for view in (first, second):
        run(wait_until(partial(lambda v: "both" in [p.name for p in v.pools.rows], view), 5))
    second.close()
    run(wait_until(lambda: not second.watching, 5))
    run(first.host.call(define("after"), "define"))
    run(wait_until(lambda: "after" in [p.name for p in first.pools.rows], 5))


class _ShellStub:
    """The little of a Shell the Networks window uses here."""

    @property
    def dialog_parent(self) -> QWidget:
        raise AssertionError("no dialogs expected")

    def notify(self, text: str, msecs: int = 0) -> None:
        pass

    def show_error(self, error: VmguiError) -> None:
        raise AssertionError(error)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return asyncio.ensure_future(coro)


def test_closing_the_main_window_closes_its_tool_windows(qtbot: QtBot, qloop: Run) -> None:
    """Storage and Networks windows end with the window that opened them: their host-event
    refreshes must not outlive it (they once fired into a finished test's loop)."""
    with open_window(qtbot, qloop) as (win, _dialogs, run):
        win.window_actions.storage.trigger()
        win.window_actions.networks.trigger()
        storage = win.findChild(StorageWindow, "storageWindow")
        networks = win.findChild(NetworksWindow, "networksWindow")
        assert storage is not None and networks is not None
        run(wait_until(lambda: storage.watching and networks.watching, 5))
        win.close()
        assert not storage.isVisible() and not networks.isVisible()
        assert not storage.watching and not networks.watching
