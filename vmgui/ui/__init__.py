"""Qt user interface.

Importing this package makes Qt use its own UNIX event dispatcher instead of GLib's
(``QT_NO_GLIB=1``), before any QApplication exists. libvirt's default event implementation
(:mod:`vmgui.virt.events`) iterates GLib's *global default* main context on the libvirt event
thread; Qt's GLib dispatcher uses that same context on the Qt thread. Two threads dispatching
one context run Qt's sources on libvirt's thread: measured here as
``g_main_context_pop_thread_default: assertion 'stack != NULL' failed`` followed by a segfault
in ``virEventRunDefaultImpl`` (tests/ui/test_event_loop_design.py guards it).
"""

import os

os.environ["QT_NO_GLIB"] = "1"
