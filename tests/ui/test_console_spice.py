"""A SPICE guest's console window: Switch Display to VNC (next boot), Open in virt-viewer.

On the 60-guest test-driver host (its Windows guests have SPICE); the VNC session is a fake
that, like the real opener, refuses a guest whose running display is not VNC.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import fixture_uri, wait_until
from tests.ui.consolefakes import FakeOpener, FakeVnc
from tests.ui.helpers import FakeDialogs, Run, WindowFixture
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestAction, GuestInfo, GuestState
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.ui.console import ConsoleManager, ConsoleWindow, Phase
from vmgui.ui.console.viewer import DetachedLauncher
from vmgui.ui.main.window import MainWindow
from vmgui.virt.connection import HostConnection
from vmgui.virt.vnc import VncObserver


class VncOnlyOpener(FakeOpener):
    """A fake session for guests whose running display is VNC; refuses the others."""

    async def __call__(
        self, host: HostConnection, uuid: str, observer: VncObserver, *, via_ssh: bool = False
    ) -> FakeVnc:
        def graphics(conn: libvirt.virConnect) -> tuple[str, ...]:
            return parse_domain_xml(conn.lookupByUUIDString(uuid).XMLDesc(0)).graphics

        if "vnc" not in await host.call(graphics, "read"):
            raise VmguiError("Could not open the console", "no VNC display")
        return await super().__call__(host, uuid, observer)


class FakeLauncher:
    """Records the viewers started; ``installed`` and ``starts`` say how it goes."""

    def __init__(self) -> None:
        self.installed = True
        self.starts = True
        self.launched: list[list[str]] = []

    def available(self) -> bool:
        return self.installed

    def launch(self, argv: list[str]) -> bool:
        self.launched.append(argv)
        return self.starts


Spice = tuple[MainWindow, ConsoleManager, FakeLauncher, FakeDialogs, Run]


@pytest.fixture
def spice(window: WindowFixture) -> Iterator[Spice]:
    win, dialogs, run = window
    launcher = FakeLauncher()
    manager = ConsoleManager(win.controller, dialogs, opener=VncOnlyOpener(), viewer=launcher)
    yield win, manager, launcher, dialogs, run
    manager.close_all()
    run(wait_until(lambda: not manager.tasks.running))


def inactive_xml(win: MainWindow, run: Run, uuid: str) -> str:
    host = win.controller.host(fixture_uri())
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE

    def read(conn: libvirt.virConnect) -> str:
        return str(conn.lookupByUUIDString(uuid).XMLDesc(flags))

    return str(run(host.call(read, "read")))


def running_spice_guest(win: MainWindow, run: Run) -> GuestInfo:
    return next(
        g
        for g in win.guest_list.model.guests()
        if g.state is GuestState.RUNNING and "spice" in inactive_xml(win, run, g.uuid)
    )


def phase(window: ConsoleWindow, expected: Phase) -> bool:
    return window.session.state.phase is expected


def test_spice_guest_offers_the_switch_and_the_viewer(spice: Spice) -> None:
    win, manager, launcher, dialogs, run = spice
    guest = running_spice_guest(win, run)
    (window,) = manager.open([guest])
    run(wait_until(lambda: phase(window, Phase.SPICE)))
    assert window.message_label.text() == (
        f"{guest.name} has a SPICE display; this console shows VNC displays only."
    )
    assert window.message_button.text() == "Switch Display to VNC…"
    assert window.message_button.isVisibleTo(window)
    assert window.viewer_button.isVisibleTo(window)
    assert window.viewer_button.text() == "Open in virt-viewer"
    window.viewer_button.click()
    assert launcher.launched == [
        ["virt-viewer", "--attach", "--connect", fixture_uri(), "--uuid", guest.uuid]
    ]
    launcher.starts = False
    window.viewer_button.click()
    assert window.statusBar().currentMessage() == (
        "Could not start virt-viewer: install virt-viewer"
    )
    assert not dialogs.errors, "said in one line, no dialog"


def test_no_viewer_button_without_virt_viewer(spice: Spice) -> None:
    win, manager, launcher, _d, run = spice
    launcher.installed = False
    (window,) = manager.open([running_spice_guest(win, run)])
    run(wait_until(lambda: phase(window, Phase.SPICE)))
    assert not window.viewer_button.isVisibleTo(window)
    assert window.message_button.isVisibleTo(window)


def test_declined_switch_changes_nothing(spice: Spice) -> None:
    win, manager, _l, dialogs, run = spice
    guest = running_spice_guest(win, run)
    before = inactive_xml(win, run, guest.uuid)
    (window,) = manager.open([guest])
    run(wait_until(lambda: phase(window, Phase.SPICE)))
    dialogs.confirm_answer = False
    window.message_button.click()
    run(wait_until(lambda: bool(dialogs.confirms) and not window.tasks.running))
    assert inactive_xml(win, run, guest.uuid) == before
    assert window.session.state.switch


def test_switch_applies_at_the_next_boot(spice: Spice) -> None:
    win, manager, _l, dialogs, run = spice
    guest = running_spice_guest(win, run)
    (window,) = manager.open([guest])
    run(wait_until(lambda: phase(window, Phase.SPICE)))
    window.message_button.click()
    run(wait_until(lambda: not window.session.state.switch))
    (confirm,) = dialogs.confirms
    assert "takes effect at the next boot" in confirm
    devices = ET.fromstring(inactive_xml(win, run, guest.uuid)).find("devices")
    assert devices is not None
    assert [g.get("type") for g in devices.findall("graphics")] == ["vnc"]
    assert [x.attrib for x in devices.findall("graphics/listen")] == [{"type": "none"}]
    assert window.message_label.text() == (
        f"{guest.name} has a SPICE display until it next starts from shut off; "
        "then it has VNC, which this console shows."
    )
    assert not window.message_button.isVisibleTo(window), "switched: nothing more to offer"
    assert window.viewer_button.isVisibleTo(window), "still SPICE until the next boot"
    assert window.statusBar().currentMessage() == f"{guest.name} has VNC from its next boot on"
    # The next boot: shut off, started again, the console shows the VNC screen.
    dialogs.confirm_answer = True
    window.console_actions.lifecycle[GuestAction.FORCE_OFF].trigger()
    run(wait_until(lambda: phase(window, Phase.STOPPED)))
    window.message_button.click()  # Start
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert not dialogs.errors


def test_detached_launcher_starts_an_argv_and_reports_a_missing_program(
    qtbot: QtBot, tmp_path: Path
) -> None:
    launcher = DetachedLauncher()
    assert not launcher.launch([str(tmp_path / "no-such-viewer"), "--attach"])
    marker = tmp_path / "started"
    assert launcher.launch(["touch", str(marker)])  # an argv: no shell parses it
    qtbot.waitUntil(marker.exists)


def test_a_shut_off_spice_guest_offers_the_switch_before_start(spice: Spice) -> None:
    """Switched while shut off, the next start already has VNC: the console offers the
    switch first, then Start, then shows the screen."""
    win, manager, _l, dialogs, run = spice
    guest = running_spice_guest(win, run)
    host = win.controller.host(fixture_uri())
    run(host.call(lambda c: c.lookupByUUIDString(guest.uuid).destroy(), "force off"))
    run(wait_until(lambda: host.guests[guest.uuid].state is GuestState.SHUTOFF))
    (window,) = manager.open([host.guests[guest.uuid]])
    run(wait_until(lambda: phase(window, Phase.STOPPED) and window.session.state.switch))
    assert window.message_label.text() == (
        f"{guest.name} is shut off. Its display is SPICE, which this console does not show: "
        "switch it to VNC, then start it."
    )
    assert window.message_button.text() == "Switch Display to VNC…"
    window.message_button.click()
    run(wait_until(lambda: not window.session.state.switch))
    assert dialogs.confirms and window.message_label.text() == f"{guest.name} is shut off."
    assert window.message_button.text() == "Start"
    window.message_button.click()
    run(wait_until(lambda: phase(window, Phase.LIVE)))
    assert not dialogs.errors
