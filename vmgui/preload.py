"""Import a feature's modules on a background thread, then finish its set-up on the Qt thread.

Importing the live-usage modules (numpy, the stats engine) or the console feature on the Qt
thread held it 50-300 ms while a remote host was still connecting (``bench_remote``'s
heartbeat). Imported here first, they are in ``sys.modules`` when the Qt thread sets the
feature up, which then costs only the widgets. Module bodies of these packages create no
QObject (only classes and ``QColor`` values), so importing them off the Qt thread is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Sequence

from vmgui.ui.monitor.lazy import without_source_scan

_log = logging.getLogger(__name__)


def import_then(
    loop: asyncio.AbstractEventLoop, modules: Sequence[str], then: Callable[[], None]
) -> threading.Thread:
    """Import ``modules`` on a daemon thread; then call ``then`` on ``loop``'s thread.

    ``then`` runs even if an import failed (it imports again and fails where the error is
    shown and logged); it does not run once the loop is closed.
    """

    def work() -> None:
        try:
            with without_source_scan():
                for name in modules:
                    importlib.import_module(name)
        except Exception:  # reported again by ``then``'s own import
            _log.debug("background import of %s failed", modules, exc_info=True)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(then)

    thread = threading.Thread(target=work, name="preload", daemon=True)
    thread.start()
    return thread
