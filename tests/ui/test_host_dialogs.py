"""The Add/Edit Host dialog and the host-key and credential dialogs, driven by objectName."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from vmgui.core.hosturi import Transport
from vmgui.core.sshprompts import HostKeyQuestion, PromptKind
from vmgui.ui.hosts.credentials import CredentialDialog, DialogAsker, HostKeyDialog
from vmgui.ui.hosts.hostdialog import HostChoice, HostDialog, ask_host
from vmgui.virt.credentials import CredentialPrompt, CredentialRequest

T = TypeVar("T")
Run = Callable[..., Any]
QUESTION = HostKeyQuestion(
    "[srv.example]:2222", "ED25519", "SHA256:8eLTTpGCId6kpJ1xz/Fvq9qU2xHDBmetLrIeWwK0kJQ", ""
)


def open_dialog(name: str) -> QDialog | None:
    for widget in QApplication.topLevelWidgets():
        for dialog in [widget, *widget.findChildren(QDialog)]:
            if isinstance(dialog, QDialog) and dialog.objectName() == name and dialog.isVisible():
                return dialog
    return None


async def answered(coro: Coroutine[Any, Any, T], name: str, answer: Callable[[QDialog], None]) -> T:
    """Await ``coro``; once the dialog ``name`` is open, ``answer`` it."""
    task = asyncio.ensure_future(coro)
    for _ in range(2000):
        dialog = open_dialog(name)
        if dialog is not None:
            answer(dialog)
            break
        await asyncio.sleep(0.001)
    else:
        raise AssertionError(f"{name} never opened")
    return await asyncio.wait_for(task, timeout=5)


@pytest.fixture
def parent(qtbot: QtBot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_host_dialog_builds_and_validates_the_uri(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = HostDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.objectName() == "addHostDialog"
    assert dialog.uri() == "qemu:///system" and dialog.ok_button.isEnabled()
    assert not dialog.host_edit.isEnabled()
    dialog.transport_combo.setCurrentIndex(list(Transport).index(Transport.SSH))
    assert dialog.host_edit.isEnabled() and not dialog.ok_button.isEnabled()
    assert not dialog.error_label.isVisible()  # empty host: not an error yet
    dialog.user_edit.setText("root")
    dialog.host_edit.setText("srv.example")
    dialog.port_edit.setText("70000")
    assert not dialog.ok_button.isEnabled()
    assert "65535" in dialog.error_label.text() and dialog.error_label.isVisible()
    dialog.port_edit.setText("2222")
    dialog.key_edit.setText(str(tmp_path / "missing"))
    assert "does not exist" in dialog.error_label.text()
    key = tmp_path / "id_ed25519"
    key.write_text("k")
    dialog.key_edit.setText(str(key))
    assert dialog.ok_button.isEnabled()
    assert dialog.uri_edit.text() == f"qemu+ssh://root@srv.example:2222/system?keyfile={key}"
    dialog.verify_check.setChecked(False)
    assert dialog.uri().endswith("&no_verify=1") and dialog.warning_label.isVisible()
    dialog.hypervisor_combo.setCurrentIndex(1)
    assert "/session?" in dialog.uri()


def test_tls_takes_a_certificate_folder_and_never_no_verify(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = HostDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.pki_edit.isEnabled()
    dialog.transport_combo.setCurrentIndex(list(Transport).index(Transport.TLS))
    assert dialog.pki_edit.isEnabled() and dialog.pki_button.isEnabled()
    assert not dialog.verify_check.isEnabled() and not dialog.key_edit.isEnabled()
    dialog.host_edit.setText("srv.example")
    dialog.verify_check.setChecked(False)  # not offered for TLS: it changes nothing
    assert dialog.uri() == "qemu+tls://srv.example/system" and dialog.ok_button.isEnabled()
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "cacert.pem").write_text("pem")
    dialog.pki_edit.setText(str(folder))
    assert not dialog.ok_button.isEnabled()
    assert "lacks clientcert.pem, clientkey.pem" in dialog.error_label.text()
    for name in ("clientcert.pem", "clientkey.pem"):
        (folder / name).write_text("pem")
    dialog.pki_edit.setText(str(folder) + "/")
    assert dialog.ok_button.isEnabled()
    assert dialog.uri() == f"qemu+tls://srv.example/system?pkipath={folder}/"
    dialog.typed_check.setChecked(True)
    dialog.uri_edit.setText("qemu+tls://srv.example/system?no_verify=1")
    assert dialog.uri() == "qemu+tls://srv.example/system?no_verify=1"
    assert "certificate is not checked" in dialog.warning_label.text()


def test_a_typed_uri_is_used_verbatim_and_warned_about(qtbot: QtBot) -> None:
    dialog = HostDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.typed_check.setChecked(True)
    assert not dialog.uri_edit.isReadOnly() and not dialog.transport_combo.isEnabled()
    dialog.uri_edit.setText("qemu+ssh://root@srv1/foo")
    assert not dialog.ok_button.isEnabled() and "/system or /session" in dialog.error_label.text()
    typed = "qemu+libssh2://u@h/system?known_hosts=/k&sshauth=password"
    dialog.uri_edit.setText(typed)
    assert dialog.ok_button.isEnabled() and dialog.uri() == typed
    dialog.uri_edit.setText("qemu+libssh://u@h/system")
    assert "qemu+libssh2" in dialog.warning_label.text() and dialog.warning_label.isVisible()


def test_edit_fills_the_form_or_keeps_a_typed_uri(qtbot: QtBot) -> None:
    built = HostDialog(HostChoice("qemu+tls://srv:16514/system", "Rack 3", False))
    qtbot.addWidget(built)
    assert built.objectName() == "editHostDialog"
    assert built.fields().transport is Transport.TLS and built.port_edit.text() == "16514"
    assert built.choice() == HostChoice("qemu+tls://srv:16514/system", "Rack 3", False)
    typed = "qemu+ssh://srv/system?known_hosts=/x"
    kept = HostDialog(HostChoice(typed))
    qtbot.addWidget(kept)
    assert kept.typed_check.isChecked() and kept.uri() == typed


def test_ask_host_answers_the_choice(qloop: Run, parent: QWidget) -> None:
    def fill(dialog: QDialog) -> None:
        assert isinstance(dialog, HostDialog)
        dialog.name_edit.setText("Lab")
        dialog.hypervisor_combo.setCurrentIndex(1)
        dialog.ok_button.click()

    answer = qloop(answered(ask_host(parent), "addHostDialog", fill))
    assert answer == HostChoice("qemu:///session", "Lab", True)
    assert qloop(answered(ask_host(parent), "addHostDialog", lambda d: d.reject())) is None


def test_host_key_dialog_shows_the_key_and_accept_trusts_it(qloop: Run, parent: QWidget) -> None:
    asker = DialogAsker(lambda: parent)
    shown: list[str] = []

    def read_and(accept: bool) -> Callable[[QDialog], None]:
        def answer(dialog: QDialog) -> None:
            shown.extend(label.text() for label in dialog.findChildren(QLabel))
            (dialog.accept if accept else dialog.reject)()

        return answer

    uri = "qemu+ssh://root@srv.example:2222/system"
    dialog = HostKeyDialog(uri, QUESTION, parent)
    assert dialog.refuse_button.isDefault() and not dialog.trust_button.autoDefault()
    dialog.deleteLater()
    assert qloop(answered(asker.confirm_host_key(uri, QUESTION), "hostKeyDialog", read_and(True)))
    assert QUESTION.fingerprint in shown and "ED25519" in shown and QUESTION.host in shown
    refused = asker.confirm_host_key(uri, QUESTION)
    assert not qloop(answered(refused, "hostKeyDialog", read_and(False)))


def test_credential_dialog_has_one_field_per_prompt(qloop: Run, parent: QWidget) -> None:
    asker = DialogAsker(lambda: parent)
    request = CredentialRequest(
        "qemu+tcp://srv/system",
        (
            CredentialPrompt(PromptKind.OTHER, "Name", True, "alice"),
            CredentialPrompt(PromptKind.PASSWORD, "Password", False),
        ),
        attempt=1,
        remember_unavailable="",
    )

    def fill(dialog: QDialog) -> None:
        edits = dialog.findChildren(QLineEdit)
        assert [e.echoMode() for e in edits] == [
            QLineEdit.EchoMode.Normal,
            QLineEdit.EchoMode.Password,
        ]
        assert edits[0].text() == "alice"
        edits[1].setText("s3cret")
        assert isinstance(dialog, CredentialDialog)
        remember = dialog.remember_check
        assert remember.isEnabled()
        remember.setChecked(True)
        dialog.accept()

    answer = qloop(answered(asker.ask_credentials(request), "credentialDialog", fill))
    assert answer is not None and answer.values == ("alice", "s3cret") and answer.remember
    cancelled = asker.ask_credentials(request)
    assert qloop(answered(cancelled, "credentialDialog", lambda d: d.reject())) is None


def test_remember_is_disabled_with_the_reason_without_a_secret_service(
    qloop: Run, parent: QWidget
) -> None:
    asker = DialogAsker(lambda: parent)
    reason = "No Secret Service is available: no bus"
    request = CredentialRequest(
        "qemu+ssh://srv/system",
        (CredentialPrompt(PromptKind.PASSWORD, "root@srv's password:", False),),
        attempt=2,
        remember_unavailable=reason,
    )
    seen: dict[str, object] = {}

    def look(dialog: QDialog) -> None:
        assert isinstance(dialog, CredentialDialog)
        seen["enabled"] = dialog.remember_check.isEnabled()
        seen["reason"] = dialog.remember_reason.text()
        seen["visible"] = dialog.remember_reason.isVisible()
        dialog.findChildren(QLineEdit)[0].setText("pw")
        dialog.accept()

    answer = qloop(answered(asker.ask_credentials(request), "credentialDialog", look))
    assert seen == {"enabled": False, "reason": reason, "visible": True}
    assert answer is not None and not answer.remember
