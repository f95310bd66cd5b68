"""Which hosts open at start: --connect, the saved list, or (first run) the local one."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from vmgui.core.errors import VmguiError
from vmgui.core.settings import HostEntry, local_default_uri, save_hosts
from vmgui.ui.hosts import HostController

if TYPE_CHECKING:
    from vmgui.ui.mainwindow import MainWindow

DEMO_LABEL = "Demo host (test driver, not real guests)"

_log = logging.getLogger(__name__)


def save_in_background(entries: list[HostEntry]) -> None:
    """Write the saved hosts on a thread (no disk I/O on the Qt thread); log failures."""
    future = asyncio.get_running_loop().run_in_executor(None, save_hosts, entries)

    def done(f: asyncio.Future[None]) -> None:
        if not f.cancelled() and f.exception() is not None:
            _log.error("could not save hosts: %s", f.exception())

    future.add_done_callback(done)


def open_initial_hosts(
    window: MainWindow,
    controller: HostController,
    connect: list[str],
    saved: list[HostEntry] | None,
    local_uri: str | None = None,
) -> None:
    """Add and connect the start-up hosts without waiting for any of them.

    Args:
        window: where to report problems and the demo banner.
        controller: the hosts.
        connect: URIs from ``--connect`` (this run only; nothing is saved).
        saved: the saved hosts, or None on first run.
        local_uri: the first-run host (default: the local hypervisor this user may use).
    """
    if connect:
        for uri in dict.fromkeys(connect):
            try:
                label = DEMO_LABEL if uri == window.demo_uri else ""
                controller.add_host(uri, save=False, label=label)
            except VmguiError as exc:
                window.show_error(exc)
                continue
            controller.connect_in_background(uri)
        return
    if saved is None:
        window.spawn(_first_run(window, controller, local_uri or local_default_uri()))
        return
    for entry in saved:
        try:
            controller.add_host(entry.uri, autoconnect=entry.autoconnect, save=False)
        except VmguiError as exc:
            window.show_error(exc)
            continue
        if entry.autoconnect:
            controller.connect_in_background(entry.uri)
    if not saved:
        window.statusBar().showMessage("No hosts yet: add one with File → Add Host…")


async def _first_run(window: MainWindow, controller: HostController, uri: str) -> None:
    """Open the local hypervisor; if none answers, offer the demo host."""
    controller.add_host(uri)
    try:
        await controller.connect_host(uri)
    except VmguiError as exc:
        _log.info("no local hypervisor at %s: %s", uri, exc.details or exc.summary)
        window.open_demo_host(exc.details or exc.summary)
