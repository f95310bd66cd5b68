"""vmgui-cli's terminal answers to a host's credential questions (SASL: user name, password)."""

from __future__ import annotations

import asyncio
import getpass

import pytest

from vmgui.cli.common import TerminalAsker
from vmgui.core.sshprompts import PromptKind
from vmgui.virt.credentials import CredentialPrompt, CredentialRequest

REQUEST = CredentialRequest(
    "qemu+tls://srv/system",
    (
        CredentialPrompt(PromptKind.USER_NAME, "Authentication name", True, "ann"),
        CredentialPrompt(PromptKind.PASSWORD, "Password", False, "hidden"),
    ),
    attempt=1,
    remember_unavailable="",
)


def _ask(monkeypatch: pytest.MonkeyPatch, typed_name: str) -> tuple[tuple[str, ...], list[str]]:
    shown: list[str] = []

    def fake_input(prompt: str) -> str:
        shown.append(prompt)
        return typed_name

    def fake_getpass(prompt: str) -> str:
        shown.append(prompt)
        return "s3cret"

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    answer = asyncio.run(TerminalAsker(False, interactive=True).ask_credentials(REQUEST))
    assert answer is not None
    return answer.values, shown


def test_an_empty_user_name_takes_the_suggested_one(monkeypatch: pytest.MonkeyPatch) -> None:
    values, shown = _ask(monkeypatch, "")
    assert values == ("ann", "s3cret")
    assert shown == [
        "Authentication name [ann]: ",
        "Password: ",
    ]


def test_a_typed_user_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    values, _shown = _ask(monkeypatch, "bob")
    assert values == ("bob", "s3cret")


def test_without_a_terminal_nothing_is_asked() -> None:
    asker = TerminalAsker(False, interactive=False)
    assert asyncio.run(asker.ask_credentials(REQUEST)) is None
    assert "not a terminal" in asker.note
