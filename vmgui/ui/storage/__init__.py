"""Host → Storage…: pools and volumes (:class:`~vmgui.ui.storage.window.StorageWindow`)."""
