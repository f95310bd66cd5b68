"""Live usage in the main window, in one call: :func:`install_usage`.

Imports numpy (and the stats modules) when imported, pyqtgraph when the Usage tab is first
shown: import it after the window's first paint.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, SignalInstance
from PySide6.QtWidgets import QApplication, QTabWidget, QTreeView

from vmgui.ui.controller import HostController
from vmgui.ui.guests.model import GuestModel
from vmgui.ui.monitor.lazy import without_source_scan
from vmgui.ui.shell import Selection, UsageLink
from vmgui.ui.uistate import UiState

with without_source_scan():
    from vmgui.ui.monitor.charts import GuestTarget, HostTarget, UsageCharts
    from vmgui.ui.monitor.controller import StatsController
    from vmgui.ui.monitor.limitwatch import ChartLimits
    from vmgui.ui.monitor.sparkline import install_sparklines

#: Where the chosen chart window and stats interval are remembered (:class:`UiState` keys).
WINDOW_KEY = "usage/windowSeconds"
INTERVAL_KEY = "usage/intervalSeconds"


def install_usage(
    selection: Selection,
    view: QTreeView,
    model: GuestModel,
    proxy: QSortFilterProxyModel,
    tabs: QTabWidget,
    controller: HostController,
    *,
    state: UiState | None = None,
    limits_changed: SignalInstance | None = None,
    usage: UsageLink | None = None,
) -> StatsController:
    """Add live usage to the window; returns the stats controller (a child of ``tabs``).

    * Adds a "Usage" tab holding the ``usageCharts`` widget to ``tabs``, second (beside
      Details). The charts follow ``selection``: one guest selected, its charts; otherwise the
      focused host's (:meth:`Selection.focused_host`); no host at all, the hint to select
      something. They follow hosts being added and removed too.
    * Paints CPU and memory sparklines in the guest list ``view`` (showing ``model`` through
      ``proxy``), and makes ``model`` sort its usage columns by the current figures.
    * Remembers the chosen chart window and stats interval in ``state`` (if given) and starts
      with the remembered ones.
    * Draws the selected guest's limits on its charts: while one guest is selected and the
      Usage tab shows, its limits are read once per selection change
      (:class:`~vmgui.ui.monitor.limitwatch.ChartLimits`, a child of the stats controller);
      ``limits_changed(LimitsView)`` gives newer ones read elsewhere (the Limits tab's signal,
      e.g. after an Apply).
    * Attaches the stats controller to ``usage`` (if given): hosts' measured usage for the
      features beside the charts.
    * Stops polling when the application quits.
    """
    stats = StatsController(controller, parent=tabs)
    charts = UsageCharts(stats)
    tabs.insertTab(1, charts, "Usage")  # beside Details
    if state is not None:
        _remember(state, stats, charts)
    if usage is not None:
        usage.attach(stats, stats.ticked)

    def follow_selection() -> None:
        guests = selection.guests()
        if len(guests) == 1:
            charts.show_target(GuestTarget(guests[0].key))
            return
        uri = selection.focused_host()
        charts.show_target(HostTarget(uri) if uri else None)

    def on_host_added_or_removed(_uri: str) -> None:
        follow_selection()

    selection.changed.connect(follow_selection)
    controller.hostAdded.connect(on_host_added_or_removed)
    controller.hostRemoved.connect(on_host_added_or_removed)
    follow_selection()
    watch = ChartLimits(selection, charts, controller, parent=stats)
    if limits_changed is not None:
        limits_changed.connect(watch.take)
    install_sparklines(view, proxy, stats, stats.ticked)
    model.set_usage_source(stats)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(stats.close)
    return stats


def _remember(state: UiState, stats: StatsController, charts: UsageCharts) -> None:
    charts.set_window_seconds(state.value(WINDOW_KEY, charts.window_seconds()))
    stats.set_interval(state.value(INTERVAL_KEY, stats.interval))

    def on_window_changed(seconds: int) -> None:
        state.set_value(WINDOW_KEY, seconds)

    def on_interval_changed(seconds: float) -> None:
        state.set_value(INTERVAL_KEY, seconds)

    charts.windowChanged.connect(on_window_changed)
    stats.intervalChanged.connect(on_interval_changed)
