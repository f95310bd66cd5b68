"""Isolation in the window: the Limits tab beside Details (CPU, memory, disk and NIC limits).

:class:`~vmgui.ui.isolation.presenter.LimitsTab` follows the :class:`~vmgui.ui.shell.Selection`
and applies changes through :mod:`vmgui.virt.limits`; :class:`~vmgui.ui.isolation.pane.LimitsPane`
is its widget.
"""
