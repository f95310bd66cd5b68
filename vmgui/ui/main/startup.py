"""Which hosts open at start: --connect, the saved list, or (first run) the local one.

Owns the demo host: a libvirt test-driver node bundled with vmgui, clearly labelled, offered
when no local hypervisor answers on the first run (and always from the File menu).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from vmgui.core.errors import VmguiError
from vmgui.core.settings import HostEntry, local_default_uri, save_hosts
from vmgui.ui.controller import HostController
from vmgui.ui.shell import Shell

DEMO_LABEL = "Demo host (test driver, not real guests)"
#: How long the "No hosts yet" notice stays (0: until replaced).
NO_HOSTS_NOTICE_MSECS = 0

_log = logging.getLogger(__name__)


class StartupShell(Shell, Protocol):
    """The window as start-up sees it: a :class:`Shell` that can open the demo host."""

    @property
    def demo_uri(self) -> str:
        """The URI of the bundled demo host ("" if none)."""
        ...

    def open_demo_host(self, reason: str) -> None:
        """Add and connect the demo host, saying why (``reason``) when it is a fallback."""
        ...


def save_in_background(entries: list[HostEntry]) -> None:
    """Write the saved hosts on a thread (no disk I/O on the Qt thread); log failures."""
    future = asyncio.get_running_loop().run_in_executor(None, save_hosts, entries)

    def done(f: asyncio.Future[None]) -> None:
        if not f.cancelled() and f.exception() is not None:
            _log.error("could not save hosts: %s", f.exception())

    future.add_done_callback(done)


def demo_banner(reason: str) -> str:
    """The notice shown above the guest list while the demo host is open."""
    text = (
        "<b>Demo host.</b> These guests are simulated by libvirt's test driver; "
        "nothing runs. Add a real host with <i>File → Add Host…</i>."
    )
    return f"No local hypervisor could be reached ({reason}). " + text if reason else text


def add_demo_host(controller: HostController, demo_uri: str) -> None:
    """Add (not saved) and connect the demo host."""
    if demo_uri not in controller.uris():
        controller.add_host(demo_uri, save=False, label=DEMO_LABEL)
    controller.connect_in_background(demo_uri)


def open_initial_hosts(
    shell: StartupShell,
    controller: HostController,
    connect: list[str],
    saved: list[HostEntry] | None,
    local_uri: str | None = None,
) -> None:
    """Add and connect the start-up hosts without waiting for any of them.

    Args:
        shell: where to report problems; opens the demo host.
        controller: the hosts.
        connect: URIs from ``--connect`` (this run only; nothing is saved).
        saved: the saved hosts, or None on first run.
        local_uri: the first-run host (default: the local hypervisor this user may use).
    """
    if connect:
        for uri in dict.fromkeys(connect):
            try:
                label = DEMO_LABEL if uri == shell.demo_uri else ""
                controller.add_host(uri, save=False, label=label)
            except VmguiError as exc:
                shell.show_error(exc)
                continue
            controller.connect_in_background(uri)
        return
    if saved is None:
        shell.spawn(_first_run(shell, controller, local_uri or local_default_uri()))
        return
    for entry in saved:
        try:
            controller.add_host(
                entry.uri, autoconnect=entry.autoconnect, save=False, name=entry.name
            )
        except VmguiError as exc:
            shell.show_error(exc)
            continue
        if entry.autoconnect:
            controller.connect_in_background(entry.uri)
    if not saved:
        shell.notify("No hosts yet: add one with File → Add Host…", NO_HOSTS_NOTICE_MSECS)


async def _first_run(shell: StartupShell, controller: HostController, uri: str) -> None:
    """Open the local hypervisor; if none answers, offer the demo host."""
    controller.add_host(uri)
    try:
        await controller.connect_host(uri)
    except VmguiError as exc:
        _log.info("no local hypervisor at %s: %s", uri, exc.details or exc.summary)
        shell.open_demo_host(exc.details or exc.summary)
