"""Tags on the real daemon: set through vmgui, seen by virsh and another vmgui-cli, kept across
a vmgui restart (a fresh controller and window list them)."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import libvirt
import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration.helpers import Run
from tests.integration.lab import Lab
from tests.services.fixtures import second_host as second_host
from tests.services.secondhost import SecondHost, open_connection
from tests.ui.helpers import open_window, select
from vmgui.core.xml.base import VMGUI_NS
from vmgui.ui.guests.model import GuestColumn
from vmgui.ui.main.window import MainWindow
from vmgui.virt.guestlist import list_guests

pytestmark = pytest.mark.integration


@pytest.fixture
def tagged_guest(lab: Lab) -> Iterator[str]:
    """A tiny defined guest (never started, so it needs no disk) named ``tags-it-…``."""
    name = f"tags-it-{secrets.token_hex(3)}"
    conn = lab.conn()
    conn.defineXML(
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    try:
        yield name
    finally:
        try:
            conn.lookupByName(name).undefine()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise


def _tags_shown(win: MainWindow, name: str) -> str | None:
    proxy = win.guest_list.proxy
    for row in range(proxy.rowCount()):
        if proxy.index(row, GuestColumn.NAME).data() == name:
            return str(proxy.index(row, GuestColumn.TAGS).data())
    return None


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmgui.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        check=False,
    )


def test_tags_survive_a_restart_and_are_seen_by_any_client(
    lab: Lab, tagged_guest: str, qtbot: QtBot, qloop: Run
) -> None:
    name = tagged_guest
    with open_window(qtbot, qloop, lab.uri) as (win, dialogs, run):
        run(wait_until(lambda: _tags_shown(win, name) == ""))
        select(win, [name])
        pane = win.guest_details
        run(wait_until(lambda: pane.overview is not None and pane.overview.guest.name == name))
        pane.tags_edit.line.setText("web, it-Tag")
        pane.apply_button.click()
        run(wait_until(lambda: _tags_shown(win, name) == "web, it-Tag", 10.0))
        # Another client (a separate vmgui-cli process) adds one: the window follows the
        # daemon's metadata event without being asked to refresh.
        added = _cli("tag", "--connect", lab.uri, name, "add", "extra")
        assert added.returncode == 0, added.stderr
        assert added.stdout == f"{name}: web, it-Tag, extra\n"
        run(wait_until(lambda: _tags_shown(win, name) == "web, it-Tag, extra", 10.0))
        assert not dialogs.errors

    shown = subprocess.run(
        ["virsh", "-c", lab.uri, "metadata", name, VMGUI_NS],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert all(f"<tag>{t}</tag>" in shown for t in ("web", "it-Tag", "extra"))
    dumped = subprocess.run(
        ["virsh", "-c", lab.uri, "dumpxml", "--inactive", name],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert f'<vmgui:vmgui xmlns:vmgui="{VMGUI_NS}">' in dumped
    assert "<vmgui:tag>extra</vmgui:tag>" in dumped

    # "Restart": a fresh controller and window list the tags from the daemon.
    with open_window(qtbot, qloop, lab.uri) as (win, dialogs, run):
        run(wait_until(lambda: _tags_shown(win, name) == "web, it-Tag, extra", 10.0))
        win.guest_list.tag_filter.refresh()
        assert {"web", "it-Tag", "extra"} <= set(win.guest_list.tag_filter.tags())
        assert not dialogs.errors

    listed = _cli("list", "--connect", lab.uri, "--tag", "IT-TAG", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "' + name + '"' in listed.stdout
    removed = _cli("tag", "--connect", lab.uri, name, "remove", "nope")
    assert removed.returncode == 1 and removed.stderr.count("\n") == 1
    assert "has no tag 'nope'" in removed.stderr


def test_a_remote_listing_reads_every_guests_tags(second_host: SecondHost) -> None:
    """Over the network the listing reads the guests' tags concurrently: every tag arrives,
    each on its own guest (the second host over qemu+tcp, three guests, two tagged)."""
    conn = open_connection(second_host.uri_tcp)
    names = [f"tags-rm-{secrets.token_hex(3)}-{n}" for n in range(3)]
    try:
        for n, name in enumerate(names):
            dom = conn.defineXML(
                f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                "<os><type arch='x86_64'>hvm</type></os></domain>"
            )
            if n < 2:
                dom.setMetadata(
                    libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                    f"<vmgui><tags><tag>t{n}</tag><tag>both</tag></tags></vmgui>",
                    "vmgui",
                    VMGUI_NS,
                    libvirt.VIR_DOMAIN_AFFECT_CONFIG,
                )
        listed = {g.name: g.tags for g in list_guests(second_host.uri_tcp, conn)}
        assert [listed[name] for name in names] == [("t0", "both"), ("t1", "both"), ()]
    finally:
        for name in names:
            with contextlib.suppress(libvirt.libvirtError):
                conn.lookupByName(name).undefine()
        conn.close()
