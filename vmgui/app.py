"""Wiring: QApplication + qasync loop + libvirt event thread + main window.

The window is shown before any host is contacted; hosts connect in the background.
Heavy modules (numpy, pyqtgraph) are not imported before the first paint.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QSocketNotifier
    from PySide6.QtWidgets import QWidget

_START = time.perf_counter()
#: Imported on a thread after the first paint (vmgui.preload), then set up on the Qt thread.
_USAGE_MODULE = "vmgui.ui.monitor.install"
_CONSOLE_MODULE = "vmgui.ui.console"

_log = logging.getLogger("vmgui")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The GUI's command line."""
    from vmgui import __version__

    parser = argparse.ArgumentParser(prog="vmgui", description="Desktop virtual machine manager")
    parser.add_argument("--version", action="version", version=f"vmgui {__version__}")
    parser.add_argument(
        "--connect",
        metavar="URI",
        action="append",
        default=[],
        help="open this libvirt host for this run instead of the saved ones (repeatable)",
    )
    parser.add_argument("--debug", action="store_true", help="log debug messages")
    return parser.parse_args(argv)


def demo_fixture() -> Path:
    """The bundled node description behind the demo host."""
    return Path(__file__).resolve().parent / "data" / "demo-host.xml"


def use_unix_event_dispatcher() -> None:
    """Make Qt use its own UNIX event dispatcher instead of GLib's (``QT_NO_GLIB=1``).

    Call it before any QApplication exists (the tests' conftest does too). libvirt's default
    event implementation (:mod:`vmgui.virt.events`) iterates GLib's *global default* main
    context on the libvirt event thread; Qt's GLib dispatcher uses that same context on the
    Qt thread. Two threads dispatching one context run Qt's sources on libvirt's thread:
    measured here as ``g_main_context_pop_thread_default: assertion 'stack != NULL' failed``
    followed by a segfault in ``virEventRunDefaultImpl`` (tests/ui/test_event_loop_design.py
    guards it).
    """
    os.environ["QT_NO_GLIB"] = "1"


def setup_logging(debug: bool) -> None:
    """Log to stderr and to vmgui.log in the XDG state directory."""
    import platformdirs

    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        log_dir = Path(platformdirs.user_log_dir("vmgui"))
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / "vmgui.log", encoding="utf-8"))
    except OSError:
        pass
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
    )


def install_hooks(loop: asyncio.AbstractEventLoop) -> None:
    """Route every uncaught exception (main thread, threads, tasks) to the log."""

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        _log.critical("uncaught exception", exc_info=(kind, value, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            _log.error(
                "uncaught exception in thread %s",
                args.thread.name if args.thread else "?",
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )

    def loop_handler(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        exc = context.get("exception")
        _log.error(
            "asyncio: %s",
            context.get("message"),
            exc_info=exc if isinstance(exc, BaseException) else None,
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    loop.set_exception_handler(loop_handler)


def close_on_termination(window: QWidget) -> QSocketNotifier:
    """Close ``window`` as its close button does (layout saved, tasks cancelled, hosts closed)
    when the process gets SIGTERM (a session logout) or SIGINT (Ctrl+C in a terminal).

    Python runs signal handlers only between bytecodes, and the Qt thread sits in C while
    idle, so the signal is written to a socket pair (``signal.set_wakeup_fd``) whose read end
    a ``QSocketNotifier`` watches. Returns the notifier (keep it alive).
    """
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _signum, _frame: None)  # the wake-up byte does the work
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    known = {number.value: number.name for number in signal.Signals}
    sockets = (reader, writer)  # kept open as long as the slot (and so the notifier) lives

    def on_signal() -> None:
        try:
            received = sockets[0].recv(64)
        except BlockingIOError:
            return
        names = ", ".join(known.get(number, str(number)) for number in received)
        _log.info("%s received: closing the window", names or "a signal")
        window.close()

    notifier.activated.connect(on_signal)
    return notifier


def main(argv: Sequence[str] | None = None) -> int:
    """Run the GUI."""
    args = parse_args(argv)
    setup_logging(args.debug)
    use_unix_event_dispatcher()

    import qasync
    from PySide6.QtCore import QAbstractEventDispatcher, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from vmgui import __version__
    from vmgui.core.errors import VmguiError
    from vmgui.core.settings import demo_host_uri, load_hosts
    from vmgui.preload import import_then
    from vmgui.ui.controller import HostController
    from vmgui.ui.dialogs import QtDialogs
    from vmgui.ui.main.startup import open_initial_hosts, save_in_background
    from vmgui.ui.main.window import MainWindow
    from vmgui.ui.uistate import UiState
    from vmgui.virt.events import ensure_event_loop

    ensure_event_loop()  # before any libvirt.open, once per process
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("vmgui")
    app.setApplicationDisplayName("vmgui")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("vmgui")
    icon_file = Path(__file__).resolve().parent / "data" / "vmgui.svg"
    app.setWindowIcon(QIcon.fromTheme("vmgui", QIcon(str(icon_file))))
    dispatcher = QAbstractEventDispatcher.instance()
    if dispatcher is not None and "Glib" in dispatcher.metaObject().className():
        _log.error("Qt uses GLib's event dispatcher: libvirt events may crash vmgui")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    install_hooks(loop)

    load_error: VmguiError | None = None
    saved = None
    if not args.connect:
        try:
            saved = load_hosts()
        except VmguiError as exc:
            load_error = exc
    save = None if args.connect or load_error else save_in_background
    controller = HostController(save=save)
    fixture = demo_fixture()
    window = MainWindow(
        controller,
        QtDialogs(),
        demo_uri=demo_host_uri(fixture) if fixture.exists() else "",
        ui_state=UiState(),
    )
    window.show()
    _log.info("window shown after %.3f s", time.perf_counter() - _START)
    close_on_termination(window)

    def start() -> None:
        open_initial_hosts(window, controller, args.connect, saved)
        if load_error is not None:
            window.show_error(load_error)

    QTimer.singleShot(0, start)
    QTimer.singleShot(50, window.ensure_details)

    def start_usage() -> None:
        # Live charts (numpy, pyqtgraph) load after the first paint.
        from vmgui.ui.monitor.install import install_usage

        install_usage(
            window.selection,
            window.guest_list.view,
            window.guest_list.model,
            window.guest_list.proxy,
            window.side_tabs,
            controller,
            state=window.ui_state,
            limits_changed=window.limits_tab.limitsChanged,
            usage=window.usage,
        )

    # The heavy imports run on a thread; the Qt thread only builds the widgets (preload.py).
    QTimer.singleShot(150, lambda: import_then(loop, [_USAGE_MODULE], start_usage))

    def preload_consoles() -> None:
        # The console feature costs ~50 ms to import: paid while idle after start, not by the
        # first "Open Console" (whose target is the first frame within 150 ms).
        started = time.perf_counter()
        window.consoles  # noqa: B018 - builds the console manager (imports the feature)
        _log.info("console feature loaded in %.0f ms", (time.perf_counter() - started) * 1000)

    QTimer.singleShot(600, lambda: import_then(loop, [_CONSOLE_MODULE], preload_consoles))
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    with loop:
        loop.run_until_complete(closing.wait())
        loop.run_until_complete(controller.close_all())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
