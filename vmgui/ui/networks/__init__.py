"""Host → Networks…: virtual networks (:class:`~vmgui.ui.networks.window.NetworksWindow`)."""
