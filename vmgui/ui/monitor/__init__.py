"""Live usage: the stats controller, its chart and sparkline views, and their installation.

Layout: :mod:`.lazy` (importing numpy/pyqtgraph without PySide6's source scan),
:mod:`.series` (one guest's or host's history), :mod:`.controller` (polling and history
bookkeeping), :mod:`.chartspec` (what each chart plots), :mod:`.plot` (one pyqtgraph chart),
:mod:`.charts` (the ``usageCharts`` page), :mod:`.sparkline` (the guest list's delegate) and
:mod:`.install` (the one call the application makes). Importing this package imports nothing.
"""
