"""Child of ``bench_console``: the real ``vmgui.app.main`` in a fresh process, then the first
Open Console of that process, 2 s after start (the console feature is preloaded at 600 ms).

Prints ``first-open-ms N`` (actionOpenConsole triggered -> first guest frame painted in
``guestConsole``) and ``preloaded yes|no`` (whether the feature was loaded before the click).

Run: ``python -m tests.benchmarks.bench_console_first URI GUEST`` (DISPLAY set).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: When the click comes (ms after the window is created): after the 600 ms preload.
CLICK_MS = 2000


def main(argv: list[str]) -> int:
    uri, name = argv
    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()
    from PySide6.QtCore import QItemSelectionModel, QTimer
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication

    from vmgui import app as vmgui_app
    from vmgui.ui.main.window import MainWindow  # (what app.main imports anyway)

    qapp = QApplication([])
    result: dict[str, str] = {}

    def main_window() -> MainWindow:
        return next(w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow))

    def click() -> None:
        win = main_window()
        preloaded = "vmgui.ui.console" in sys.modules
        proxy = win.guest_list.proxy
        view = win.guest_list.view
        rows = [r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name]
        if not rows:
            QTimer.singleShot(200, click)
            return
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        view.selectionModel().select(
            proxy.index(rows[0], 0), flags | QItemSelectionModel.SelectionFlag.Rows
        )
        action = win.findChild(QAction, "actionOpenConsole")
        start = time.perf_counter()
        assert action is not None
        action.trigger()
        consoles = win.consoles

        def poll() -> None:
            windows = consoles.windows()
            image = windows[0].console.screenshot() if windows else None
            if image is not None and not image.isNull():
                data = np.frombuffer(image.constBits(), dtype=np.uint32)
                if np.any(data != np.uint32(0xFF000000)):
                    result["ms"] = f"{(time.perf_counter() - start) * 1000:.1f}"
                    result["preloaded"] = "yes" if preloaded else "no"
                    win.close()
                    return
            QTimer.singleShot(1, poll)

        poll()

    QTimer.singleShot(CLICK_MS, click)
    code = vmgui_app.main(["--connect", uri])
    print(f"first-open-ms {result.get('ms', 'nan')}")
    print(f"preloaded {result.get('preloaded', 'no')}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
