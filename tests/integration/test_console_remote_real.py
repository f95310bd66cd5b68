"""Consoles on remote hosts for real.

The second host over ``qemu+tcp``: straight TCP to its display on 127.0.0.1 (which is this
machine's), and its serial console through libvirt's stream. This host over ``qemu+ssh``
through the loopback sshd: an ``ssh -W`` tunnel multiplexed over one SSH session. Each shows
the guest's screen as ``virsh screenshot`` does; the tunnel's ssh processes are reaped after
close; an unknown host key is asked, and refused means no tunnel and nothing written to
known_hosts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.conftest import wait_until
from tests.integration import rfbguest
from tests.integration.helpers import Run, connect
from tests.integration.lab import Lab
from tests.integration.test_console_real import matches
from tests.integration.test_remote_real import ScriptedAsker, ed25519_fingerprint, ssh_uri
from tests.integration.test_serial_real import Screen
from tests.integration.test_vnc_real import Watcher, equal_share, screenshot
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.fixtures import second_host as second_host
from tests.services.secondhost import IMAGES, SecondHost
from tests.services.secondhost import open_connection as open_second
from tests.services.sshd import LoopbackSshd
from tests.ui.helpers import FakeDialogs
from vmgui.core.consoleroute import ssh_endpoint
from vmgui.core.errors import VmguiError
from vmgui.core.rfb import messages as msg
from vmgui.core.xml.display import vnc_endpoint
from vmgui.ui.console import ConsoleManager, Phase
from vmgui.ui.controller import HostController
from vmgui.virt.serial import SerialConsole
from vmgui.virt.tunnel import SshTunnels
from vmgui.virt.vnc import VncSession
from vmgui.virt.vncopener import VncOpener

pytestmark = pytest.mark.integration

PREFIX = "vmgui-conrem-"
BOOT_TIMEOUT = 60.0
Booted = tuple[rfbguest.RfbGuest, libvirt.virDomain]


def _boot(conn: libvirt.virConnect, guest: rfbguest.RfbGuest) -> libvirt.virDomain:
    dom = conn.lookupByName(guest.name)
    dom.create()
    rfbguest.wait_for(lambda: rfbguest.PROMPT in guest.console(), BOOT_TIMEOUT, "prompt")
    return dom


@pytest.fixture(scope="module")
def far_guest(second_host: SecondHost) -> Iterator[Booted]:
    """A VNC guest on the second host, its display on that host's 127.0.0.1 (autoport)."""
    conn = open_second(second_host.uri_tcp)
    guest = rfbguest.create(
        conn,
        prefix=PREFIX,
        listen="127.0.0.1",
        pty=True,
        root=second_host.images,
        seen_as=Path(IMAGES),
    )
    try:
        yield guest, _boot(conn, guest)
    finally:
        rfbguest.remove(conn, guest)
        conn.close()


@pytest.fixture(scope="module")
def near_guest(lab: Lab) -> Iterator[Booted]:
    """A VNC guest on this host listening on 127.0.0.1 (as vmgui provisions remote guests)."""
    conn = lab.conn()
    guest = rfbguest.create(conn, prefix=PREFIX, listen="127.0.0.1")
    try:
        yield guest, _boot(conn, guest)
    finally:
        rfbguest.remove(conn, guest)


async def same_screen(session: VncSession, dom: libvirt.virDomain, timeout: float = 10.0) -> float:
    """The share of pixels equal to ``virsh screenshot`` once it reaches 99.9 % (or the end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        share = equal_share(session.framebuffer, screenshot(dom))
        if share >= 0.999 or loop.time() > deadline:
            return share
        await asyncio.sleep(0.2)


def reaped(pid: int) -> bool:
    """Gone entirely: not running and not a zombie waiting for its parent."""
    return not Path(f"/proc/{pid}").exists()


def test_console_over_tcp_to_the_second_host(
    far_guest: Booted, second_host: SecondHost, mrun: Run
) -> None:
    _guest, dom = far_guest
    host, _rec = connect(mrun, second_host.uri_tcp)
    try:
        watcher = Watcher()
        session = mrun(VncOpener(None)(host, dom.UUIDString(), watcher))
        serial = Screen()
        console = SerialConsole(host, host.guests[dom.UUIDString()], serial)
        try:
            assert session.encodings[:3] == (msg.TIGHT, msg.ZRLE, msg.RAW)
            assert mrun(same_screen(session, dom)) >= 0.999
            assert watcher.frames > 0
            # The serial console needs no route of its own: libvirt's stream crosses the
            # connection (the shell on tty1 tees its output to ttyS0).
            mrun(console.open())
            session.type_text("echo remote-$((6*7))\n")
            mrun(wait_until(lambda: "remote-42" in serial.output(), 20))
        finally:
            mrun(console.close())
            mrun(session.close())
    finally:
        mrun(host.close())


def test_console_over_ssh_tunnels_one_session_and_reaps_it(
    near_guest: Booted, loopback_sshd: LoopbackSshd, mrun: Run
) -> None:
    _guest, dom = near_guest
    host, _rec = connect(mrun, loopback_sshd.uri_ssh())
    tunnels = SshTunnels(None, linger=0.0)
    opener = VncOpener(tunnels)
    try:
        first = mrun(opener(host, dom.UUIDString(), Watcher()))
        second = mrun(opener(host, dom.UUIDString(), Watcher()))
        pids = tunnels.pids()
        assert len(pids) == 3, "one SSH master, one forward per console"
        assert mrun(same_screen(first, dom)) >= 0.999
        assert mrun(same_screen(second, dom)) >= 0.999
        assert first.encodings[:3] == (msg.TIGHT, msg.ZRLE, msg.RAW)
        mrun(first.close())
        mrun(wait_until(lambda: len(tunnels.pids()) == 2, 5))
        mrun(second.close())
        mrun(wait_until(lambda: not tunnels.pids(), 5))
        mrun(wait_until(lambda: all(reaped(pid) for pid in pids), 5))
    finally:
        mrun(tunnels.close())
        mrun(host.close())


def test_unknown_host_key_is_asked_and_refused_means_no_tunnel(
    near_guest: Booted, loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    _guest, dom = near_guest
    live = vnc_endpoint(dom.XMLDesc(0))
    assert live is not None and live.port is not None
    uri = ssh_uri(loopback_sshd, tmp_path, known=False, key=loopback_sshd.client_key)
    endpoint = ssh_endpoint(uri)
    assert endpoint is not None
    asker = ScriptedAsker(keys=[False])
    tunnels = SshTunnels(asker, linger=0.0)
    try:
        with pytest.raises(VmguiError) as info:
            mrun(tunnels.open(endpoint, "127.0.0.1", live.port, uri=uri))
        [question] = asker.questions
        assert question.fingerprint == ed25519_fingerprint(loopback_sshd)
        assert "was not accepted" in info.value.details
        assert (tmp_path / "known_hosts").read_text() == "", "nothing trusted"
        assert not tunnels.pids()

        asker.keys = [True]
        tunnel = mrun(tunnels.open(endpoint, "127.0.0.1", live.port, uri=uri))
        assert len(asker.questions) == 2
        assert "ssh-ed25519" in (tmp_path / "known_hosts").read_text()
        tunnel.socket.setblocking(True)
        tunnel.socket.settimeout(5)
        assert tunnel.socket.recv(12) == b"RFB 003.008\n", "qemu's VNC server, through ssh"
        pid = tunnel.pid
        tunnel.release()
        mrun(wait_until(lambda: not tunnels.pids(), 5))
        assert reaped(pid)
    finally:
        mrun(tunnels.close())
    assert os.environ.get("SSH_ASKPASS"), "the askpass helper answered ssh"


def test_console_window_over_ssh_shows_the_screen_and_takes_keys(
    near_guest: Booted, loopback_sshd: LoopbackSshd, qtbot: QtBot, qloop: Run
) -> None:
    guest, dom = near_guest
    uri = loopback_sshd.uri_ssh()
    controller = HostController()
    controller.add_host(uri, save=False)
    manager = ConsoleManager(controller, FakeDialogs())
    try:
        qloop(controller.connect_host(uri))
        info = next(g for g in controller.host(uri).guests.values() if g.name == guest.name)
        (window,) = manager.open([info])
        qloop(wait_until(lambda: window.session.state.phase is Phase.LIVE, 20))
        tunnels = manager.tunnels
        assert tunnels is not None and len(tunnels.pids()) == 2
        assert qloop(matches(window, dom)) >= 0.999
        window.console.setFocus()
        QTest.keyClicks(window.console, "echo tunnel-$((6*7))")
        QTest.keyClick(window.console, Qt.Key.Key_Return)
        qloop(wait_until(lambda: "tunnel-42" in guest.console(), 20))
        pids = tunnels.pids()
        manager.close_all()
        qloop(wait_until(lambda: not manager.tasks.running, 10))
        assert not tunnels.pids() and all(reaped(pid) for pid in pids)
    finally:
        manager.close_all()
        qloop(wait_until(lambda: not manager.tasks.running, 10))
        qloop(controller.close_all())
