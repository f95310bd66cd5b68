"""Qt user interface.

The layers inside (import-linter checks them): ``main`` (the window) on top; the features
(``wizard``; then ``guests`` and ``hosts``) below it; the shared bottom (``shell``, ``tasks``,
``controller``, ``widgets``, ``dialogs``, ``tablemodel``, ``uistate``) imports no feature.

Importing this package has no side effects: ``QT_NO_GLIB`` is set by
:func:`vmgui.app.use_unix_event_dispatcher` before the QApplication exists.
"""
