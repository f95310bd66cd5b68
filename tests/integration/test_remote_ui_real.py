"""A MainWindow connects to the loopback sshd over qemu+ssh, and to a TLS host asking for SASL
SCRAM-SHA-256, answering vmgui's own dialogs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from tests.integration.helpers import Run
from tests.integration.lab import Lab
from tests.integration.test_remote_real import ssh_uri
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.fixtures import sasl_tls_host as sasl_tls_host
from tests.services.sshd import LoopbackSshd
from tests.services.tlshost import TlsHost
from tests.ui.helpers import FakeDialogs
from tests.ui.test_host_dialogs import open_dialog
from vmgui.core.model import ConnectionState
from vmgui.ui.controller import HostController
from vmgui.ui.main.window import MainWindow

pytestmark = pytest.mark.integration


async def wait_dialog(name: str, timeout: float = 20.0) -> QDialog:
    for _ in range(int(timeout / 0.01)):
        dialog = open_dialog(name)
        if dialog is not None:
            return dialog
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never opened")


def test_window_connects_over_ssh_through_its_dialogs(
    lab: Lab, loopback_sshd: LoopbackSshd, tmp_path: Path, qtbot: QtBot, qloop: Run
) -> None:
    guest = lab.define_guest()
    uri = ssh_uri(loopback_sshd, tmp_path, known=False, key=None)
    controller = HostController()
    win = MainWindow(controller, FakeDialogs())
    qtbot.addWidget(win)
    win.show()
    controller.add_host(uri, save=False)

    async def scenario() -> list[str]:
        connecting = asyncio.ensure_future(controller.connect_host(uri))
        key = await wait_dialog("hostKeyDialog")
        shown = [label.text() for label in key.findChildren(QLabel)]
        key.accept()
        login = await wait_dialog("credentialDialog")
        [password] = login.findChildren(QLineEdit)
        assert password.echoMode() is QLineEdit.EchoMode.Password
        password.setText(loopback_sshd.password)
        login.accept()
        await asyncio.wait_for(connecting, 30)
        return shown

    try:
        shown = qloop(scenario(), 60)
        assert "ED25519" in shown and any(s.startswith("SHA256:") for s in shown)
        assert controller.host(uri).state is ConnectionState.CONNECTED
        model = win.guest_list.view.model()
        names = [model.index(r, 0).data() for r in range(model.rowCount())]
        assert guest.name in names
        assert "ssh-ed25519" in (tmp_path / "known_hosts").read_text()
    finally:
        qloop(controller.close_all())


def test_window_logs_in_over_tls_with_sasl_through_its_dialog(
    sasl_tls_host: TlsHost, qtbot: QtBot, qloop: Run
) -> None:
    user = sasl_tls_host.sasl_user
    uri = sasl_tls_host.uri_tls().replace("qemu+tls://", f"qemu+tls://{user}@")
    controller = HostController()
    win = MainWindow(controller, FakeDialogs())
    qtbot.addWidget(win)
    win.show()
    controller.add_host(uri, save=False)

    async def scenario() -> None:
        connecting = asyncio.ensure_future(controller.connect_host(uri))
        login = await wait_dialog("credentialDialog")
        name, password = login.findChildren(QLineEdit)
        assert name.text() == user and name.echoMode() is QLineEdit.EchoMode.Normal
        assert password.echoMode() is QLineEdit.EchoMode.Password
        password.setText(sasl_tls_host.sasl_password)
        login.accept()
        await asyncio.wait_for(connecting, 30)

    try:
        qloop(scenario(), 60)
        assert controller.host(uri).state is ConnectionState.CONNECTED
    finally:
        qloop(controller.close_all())
