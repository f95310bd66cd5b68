"""The fleet overview: every host in one table (shown while "All hosts" is selected).

:class:`~vmgui.ui.fleet.view.FleetView` holds the table (``fleetView``): per host its state,
guests, committed vs physical vCPUs and memory (over-commit marked), its guests' real CPU and
memory use now and over the last hour, and its pools' free space. No numpy: it loads with the
detail panes.
"""
