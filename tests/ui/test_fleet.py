"""The fleet overview: the host list's "All hosts" row and the table it shows (``fleetView``)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QItemSelectionModel, QObject, Qt, Signal
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTreeView
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.helpers import Run, open_window, select
from vmgui.core.model import GuestAction, consolidation
from vmgui.core.units import DASH, format_bytes, format_kib
from vmgui.ui.fleet.cells import CommitRole, FleetColumn, SparkRole
from vmgui.ui.fleet.pools import PoolSpaceTracker
from vmgui.ui.fleet.view import HOST_MIN_WIDTH
from vmgui.ui.hosts.model import ALL_HOSTS_LABEL, ALL_HOSTS_ROW
from vmgui.ui.main.window import MainWindow
from vmgui.ui.shell import HostUsage, Selection, UsageKind
from vmgui.ui.tablemodel import HostUriRole
from vmgui.ui.widgets import CPU_COLOR, NORMAL_COLOR, RED_COLOR
from vmgui.virt.connection import HostConnection
from vmgui.virt.pools import create_dir_pool, fetch_pools

NODE50 = fixture_uri()  # 16 CPUs, 64 GiB; its 38 active guests commit 115 vCPUs
SHARING = fixture_uri("sharing.xml")  # 3 shut-off guests: nothing committed
ROWS = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
NEW_GUEST = (
    "<domain type='test'><name>fleet-new</name><memory>65536</memory>"
    "<os><type>hvm</type></os></domain>"
)


@pytest.fixture
def fleet(qtbot: QtBot, qloop: Run) -> Iterator[tuple[MainWindow, Run]]:
    """A window on node50.xml and sharing.xml, both connected and answered."""
    with open_window(qtbot, qloop) as (win, _dialogs, run):
        win.controller.add_host(SHARING, save=False)
        run(win.controller.connect_host(SHARING))
        hosts = [win.controller.host(uri) for uri in (NODE50, SHARING)]
        run(wait_until(lambda: all(h.host_info is not None for h in hosts)))
        yield win, run


def _cell(win: MainWindow, uri: str, column: FleetColumn, role: int = 0) -> object:
    model = win.fleet.model
    return model.index(model.uris().index(uri), column).data(role)


def _order(view: QTreeView) -> list[str]:
    model = view.model()
    return [model.index(row, 0).data(HostUriRole) for row in range(model.rowCount())]


def test_all_hosts_row_comes_first_and_lists_every_guest(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    hosts = win.host_model
    assert hosts.rowCount() == 3
    assert hosts.index(ALL_HOSTS_ROW, 0).data() == ALL_HOSTS_LABEL == "All hosts"
    assert hosts.index(ALL_HOSTS_ROW, 0).data(HostUriRole) is None
    assert hosts.index(ALL_HOSTS_ROW, 2).data() == "38/63"  # the sum of both hosts' counts
    assert [hosts.index(r, 0).data(HostUriRole) for r in (1, 2)] == [NODE50, SHARING]

    win.host_view.select_host(SHARING)
    assert win.guest_list.proxy.rowCount() == 3
    assert win.details.currentWidget() is win.host_details
    win.host_view.select_all_hosts()
    assert win.selection.hosts() == []
    assert win.guest_list.proxy.rowCount() == 63  # every host's guests
    assert win.details.currentWidget() is win.fleet
    assert win.fleet.view.objectName() == "fleetView"
    assert win.fleet.view.isVisible()
    assert sorted(_order(win.fleet.view)) == sorted([NODE50, SHARING])  # one row per host


def test_all_hosts_is_never_selected_with_a_host(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    selection = win.host_view.selectionModel()
    win.host_view.select_host(NODE50)
    selection.select(win.host_model.index(ALL_HOSTS_ROW, 0), ROWS)  # Ctrl+click "All hosts"
    assert win.host_view.all_hosts_selected()
    assert [i.row() for i in selection.selectedRows(0)] == [ALL_HOSTS_ROW]
    assert win.guest_list.proxy.rowCount() == 63
    selection.select(win.host_model.index(win.host_model.row_of(SHARING), 0), ROWS)  # + a host
    assert not win.host_view.all_hosts_selected()
    assert win.selection.hosts() == [SHARING]
    assert win.guest_list.proxy.rowCount() == 3
    win.host_view.selectAll()  # Ctrl+A: "All hosts" stands for them
    assert win.host_view.all_hosts_selected() and win.selection.hosts() == []
    assert win.details.currentWidget() is win.fleet


def test_selection_hosts_skips_a_row_without_uri(qapp: object) -> None:
    guests, hosts = QStandardItemModel(), QStandardItemModel()
    hosts.appendRow(QStandardItem("All hosts"))  # no host role
    host = QStandardItem("one")
    host.setData("test:///one", HostUriRole)
    hosts.appendRow(host)
    host_selection = QItemSelectionModel(hosts)
    selection = Selection(
        QItemSelectionModel(guests),
        host_selection,
        lambda: ["test:///one"],
        guest_role=Qt.ItemDataRole.UserRole + 10,
        host_role=HostUriRole,
    )
    host_selection.select(hosts.index(0, 0), ROWS)
    assert selection.hosts() == []
    assert selection.focused_host() == "test:///one"  # the first known host
    host_selection.select(hosts.index(1, 0), ROWS)
    assert selection.hosts() == ["test:///one"]


def test_rows_show_what_the_controller_lists(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    for uri in (NODE50, SHARING):
        host = win.controller.host(uri)
        guests = list(host.guests.values())
        assert host.host_info is not None
        cons = consolidation(host.host_info, guests)
        active = sum(g.is_active for g in guests)
        assert _cell(win, uri, FleetColumn.HOST) == win.controller.label(uri)
        assert _cell(win, uri, FleetColumn.STATE) == "connected"
        assert _cell(win, uri, FleetColumn.GUESTS) == f"{active}/{len(guests)}"
        vcpus = f"{cons.committed_vcpus} / {cons.host_cpus} · {cons.vcpu_ratio:.2f}"
        assert _cell(win, uri, FleetColumn.VCPUS) == vcpus + "\N{MULTIPLICATION SIGN}"
        assert win.fleet.model.figures(uri).consolidation == cons
    assert _cell(win, NODE50, FleetColumn.GUESTS) == "38/60"
    assert _cell(win, NODE50, FleetColumn.VCPUS) == "115 / 16 · 7.19\N{MULTIPLICATION SIGN}"
    assert _cell(win, SHARING, FleetColumn.MEMORY) == "0.0 / 64.0 GiB · 0%"


def test_counts_and_commitments_follow_a_started_guest(fleet: tuple[MainWindow, Run]) -> None:
    win, run = fleet
    win.host_view.select_host(SHARING)
    select(win, ["golden"])
    win.lifecycle_actions[GuestAction.START].trigger()
    run(wait_until(lambda: _cell(win, SHARING, FleetColumn.GUESTS) == "1/3"))
    host = win.controller.host(SHARING)
    assert host.host_info is not None
    cons = consolidation(host.host_info, list(host.guests.values()))
    assert cons.committed_vcpus == 1
    assert win.fleet.model.figures(SHARING).consolidation == cons
    assert _cell(win, SHARING, FleetColumn.VCPUS) == "1 / 16 · 0.06\N{MULTIPLICATION SIGN}"


def test_over_commit_is_marked_with_how_much(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    commitment = _cell(win, NODE50, FleetColumn.VCPUS, CommitRole)
    assert isinstance(commitment, tuple)
    ratio, color = commitment
    assert ratio == pytest.approx(115 / 16) and color == RED_COLOR  # as the details' bar
    assert _cell(win, NODE50, FleetColumn.VCPUS, Qt.ItemDataRole.ForegroundRole) == QColor(
        RED_COLOR
    )
    tip = str(_cell(win, NODE50, FleetColumn.VCPUS, Qt.ItemDataRole.ToolTipRole))
    assert "115 vCPUs on 16 CPUs" in tip  # the host details' caption
    assert "Over-committed by 99 vCPUs: 7.19" in tip
    cons = win.fleet.model.figures(NODE50).consolidation
    assert cons is not None and cons.memory_ratio > 1.0
    extra = format_kib(cons.committed_memory_kib - cons.host_memory_kib)
    memory_tip = str(_cell(win, NODE50, FleetColumn.MEMORY, Qt.ItemDataRole.ToolTipRole))
    assert f"Over-committed by {extra}" in memory_tip
    assert _cell(win, SHARING, FleetColumn.VCPUS, CommitRole) == (0.0, NORMAL_COLOR)
    assert _cell(win, SHARING, FleetColumn.VCPUS, Qt.ItemDataRole.ForegroundRole) is None
    assert "Over-committed" not in str(
        _cell(win, SHARING, FleetColumn.VCPUS, Qt.ItemDataRole.ToolTipRole)
    )


def test_sorting_by_columns(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    view = win.fleet.view
    assert view.isSortingEnabled()
    view.sortByColumn(FleetColumn.VCPUS, Qt.SortOrder.DescendingOrder)
    assert _order(view) == [NODE50, SHARING]
    view.sortByColumn(FleetColumn.VCPUS, Qt.SortOrder.AscendingOrder)
    assert _order(view) == [SHARING, NODE50]
    view.sortByColumn(FleetColumn.GUESTS, Qt.SortOrder.AscendingOrder)
    assert _order(view) == [SHARING, NODE50]
    labels = sorted([NODE50, SHARING], key=lambda u: win.controller.label(u).casefold())
    view.sortByColumn(FleetColumn.HOST, Qt.SortOrder.AscendingOrder)
    assert _order(view) == labels


class FakeUsage(QObject):
    """A HostUsageSource with set figures: CPU % and resident KiB now, and hourly trends.

    Signals:
        ticked(str): new figures for a host.
    """

    ticked = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}
        self.trends: dict[tuple[str, UsageKind], list[float]] = {}

    def host_usage(self, uri: str, seconds: float) -> HostUsage | None:
        if uri not in self.cpu:
            return None
        return HostUsage(
            cpus=16,
            memory_total_kib=64 * 1024 * 1024,
            guests_cpu_percent=self.cpu[uri],
            guests_memory_kib=3 * 1024 * 1024,
            committed_vcpus=0.0,
            committed_memory_kib=0.0,
            covered_seconds=seconds,
        )

    def host_trend(self, uri: str, kind: UsageKind, seconds: float, points: int) -> list[float]:
        assert seconds == 3600
        return self.trends.get((uri, kind), [])


def test_usage_source_drives_use_columns_and_sparklines(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    assert _cell(win, NODE50, FleetColumn.CPU_USE) == DASH  # no source yet
    usage = FakeUsage()
    usage.cpu = {NODE50: 25.0, SHARING: 5.0}
    usage.trends[(NODE50, UsageKind.CPU)] = [10.0, 20.0, math.nan, 40.0, 50.0]
    win.usage.attach(usage, usage.ticked)
    assert _cell(win, NODE50, FleetColumn.CPU_USE) == "25 %"
    assert _cell(win, NODE50, FleetColumn.MEMORY_USE) == "3.0 GiB"
    spark = _cell(win, NODE50, FleetColumn.CPU_USE, SparkRole)
    assert isinstance(spark, tuple)
    (lines, _areas), color = spark
    assert color == CPU_COLOR
    # A step per bucket (a fifth of the width each), split at the gap.
    runs = [[(round(p.x(), 6), round(p.y(), 6)) for p in line] for line in lines]
    assert runs == [
        [(0.0, 0.1), (0.2, 0.1), (0.2, 0.2), (0.4, 0.2)],
        [(0.6, 0.4), (0.8, 0.4), (0.8, 0.5), (1.0, 0.5)],
    ]
    view = win.fleet.view
    view.sortByColumn(FleetColumn.CPU_USE, Qt.SortOrder.DescendingOrder)
    assert _order(view) == [NODE50, SHARING]
    usage.cpu[SHARING] = 90.0
    usage.ticked.emit(SHARING)
    assert _cell(win, SHARING, FleetColumn.CPU_USE) == "90 %"
    assert _order(view) == [SHARING, NODE50]  # re-sorted live

    # The delegate paints the line: CPU-blue pixels in NODE50's CPU cell.
    win.host_view.select_all_hosts()
    row = _order(view).index(NODE50)
    rect = view.visualRect(view.model().index(row, FleetColumn.CPU_USE))
    image = view.viewport().grab(rect).toImage()
    blue = QColor(CPU_COLOR)
    painted = [
        QColor(image.pixel(x, y))
        for x in range(image.width())
        for y in range(image.height())
        if QColor(image.pixel(x, y)) == blue
    ]
    assert painted, "no sparkline painted"


def _free(run: Run, host: HostConnection) -> int:
    return sum(p.available for p in run(fetch_pools(host)) if p.active)


def test_pool_free_is_read_on_connect_on_pool_events_and_after_a_guest_is_defined(
    fleet: tuple[MainWindow, Run],
) -> None:
    win, run = fleet
    host = win.controller.host(NODE50)
    free = _free(run, host)
    run(wait_until(lambda: _cell(win, NODE50, FleetColumn.POOL_FREE) == format_bytes(free)))
    # A pool made elsewhere: libvirt's pool event (no guest news, no timer) re-reads.
    run(create_dir_pool(host, "fleet-extra", "/fleet-extra"))
    more = _free(run, host)
    assert more > free
    run(wait_until(lambda: _cell(win, NODE50, FleetColumn.POOL_FREE) == format_bytes(more)))
    tip = str(_cell(win, NODE50, FleetColumn.POOL_FREE, Qt.ItemDataRole.ToolTipRole))
    assert "fleet-extra:" in tip and "default-pool:" in tip
    # Volumes have no events: a guest defined (its disks would be new) re-reads.
    volume = "<volume><name>big.img</name><capacity unit='G'>5</capacity></volume>"
    run(host.call(lambda c: c.storagePoolLookupByName("fleet-extra").createXML(volume), "vol"))
    less = _free(run, host)
    assert less < more
    run(host.call(lambda conn: conn.defineXML(NEW_GUEST), "define"))
    run(wait_until(lambda: _cell(win, NODE50, FleetColumn.POOL_FREE) == format_bytes(less)))


def test_pool_free_is_reread_on_a_timer_while_shown(fleet: tuple[MainWindow, Run]) -> None:
    win, run = fleet
    tracker = PoolSpaceTracker(win.controller, win, refresh_ms=20, parent=win)
    tracker.set_active(True)
    run(wait_until(lambda: tracker.space(SHARING) is not None))
    host = win.controller.host(SHARING)
    run(create_dir_pool(host, "fleet-timer", "/fleet-timer"))  # no news of it but the clock
    more = _free(run, host)
    run(wait_until(lambda: (s := tracker.space(SHARING)) is not None and s.free == more))
    tracker.set_active(False)
    space = tracker.space(SHARING)
    assert space is not None and "fleet-timer" in [p.name for p in space.pools]


def test_a_host_disconnect_updates_its_row(fleet: tuple[MainWindow, Run]) -> None:
    win, run = fleet
    run(wait_until(lambda: _cell(win, NODE50, FleetColumn.POOL_FREE) != DASH))
    run(win.controller.disconnect_host(NODE50))
    assert _cell(win, NODE50, FleetColumn.STATE) == "disconnected"
    assert _cell(win, NODE50, FleetColumn.GUESTS) == "0/0"
    assert _cell(win, NODE50, FleetColumn.POOL_FREE) == DASH
    assert "2 hosts, 1 connected" in win.fleet.summary.text()
    assert _cell(win, SHARING, FleetColumn.STATE) == "connected"
    run(win.controller.connect_host(NODE50))
    run(wait_until(lambda: _cell(win, NODE50, FleetColumn.GUESTS) == "38/60"))
    run(wait_until(lambda: _cell(win, NODE50, FleetColumn.POOL_FREE) != DASH))


def test_double_click_selects_the_host(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    win.host_view.select_all_hosts()
    view = win.fleet.view
    row = _order(view).index(SHARING)
    rect = view.visualRect(view.model().index(row, FleetColumn.HOST))
    # A real double click begins with a press (the view double-clicks the pressed row only).
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.host_view.all_hosts_selected(), "one click selects the fleet row only"
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.selection.hosts() == [SHARING]
    assert win.guest_list.proxy.rowCount() == 3
    assert win.details.currentWidget() is win.host_details


def test_figures_stay_whole_in_a_narrow_pane(fleet: tuple[MainWindow, Run]) -> None:
    win, _run = fleet
    win.host_view.select_all_hosts()
    view = win.fleet.view
    header = view.header()
    figures = [c for c in FleetColumn if c is not FleetColumn.HOST]
    QApplication.processEvents()
    needed = sum(header.sectionSize(c) for c in figures) + HOST_MIN_WIDTH
    widths = []
    for width in (needed + 200, needed - 60):  # wide enough, then too narrow for the name
        view.setFixedWidth(width)
        QApplication.processEvents()  # (the layouts apply the new size)
        widths.append(view.viewport().width())
        for column in figures:
            assert header.sectionSize(column) >= view.sizeHintForColumn(column), column
        if header.length() > view.viewport().width():  # only the name gave way: at its least
            assert header.sectionSize(FleetColumn.HOST) == HOST_MIN_WIDTH
        else:
            assert header.length() == view.viewport().width()  # the name fills the rest
            assert header.sectionSize(FleetColumn.HOST) >= HOST_MIN_WIDTH
    assert widths[1] < widths[0]
    assert header.length() > view.viewport().width(), "too narrow: the table scrolls"
