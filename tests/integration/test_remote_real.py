"""Remote hosts for real: qemu+ssh (vmgui's askpass) and qemu+libssh2 (the auth callback)
through the loopback sshd, qemu+tcp to the second host, deadlines, keepalive, the keyring.

Every question is answered by :class:`ScriptedAsker` on the test's asyncio loop, exactly the
way vmgui's dialogs answer: through :class:`~vmgui.virt.credentials.AuthSession`.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from tests.integration.helpers import Recorder, Run
from tests.services.delayrelay import DelayRelay
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.fixtures import second_host as second_host
from tests.services.fixtures import secret_service as secret_service
from tests.services.fixtures import slow_sshd as slow_sshd
from tests.services.keyring_service import SecretService
from tests.services.secondhost import SecondHost
from tests.services.sshd import LoopbackSshd
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState
from vmgui.core.sshprompts import HostKeyQuestion, sha256_fingerprint
from vmgui.virt.connection import HostConnection
from vmgui.virt.credentials import (
    AuthenticationError,
    CredentialAnswer,
    CredentialRequest,
)
from vmgui.virt.opening import OpenTimeoutError
from vmgui.virt.passwords import SecretStore

pytestmark = pytest.mark.integration


class ScriptedAsker:
    """A CredentialAsker answering from lists, keeping every question."""

    def __init__(
        self, *, keys: list[bool] | None = None, passwords: list[str] | None = None
    ) -> None:
        self.keys = list(keys or [])
        self.passwords = list(passwords or [])
        self.questions: list[HostKeyQuestion] = []
        self.requests: list[CredentialRequest] = []
        self.remember = False

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        self.questions.append(question)
        return self.keys.pop(0) if self.keys else False

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        self.requests.append(request)
        if not self.passwords:
            return None
        return CredentialAnswer((self.passwords.pop(0),), remember=self.remember)


def ed25519_fingerprint(sshd: LoopbackSshd) -> str:
    blob = (sshd.folder / "ssh_host_ed25519_key.pub").read_text().split()[1]
    return sha256_fingerprint(base64.b64decode(blob))


def ssh_uri(sshd: LoopbackSshd, folder: Path, *, known: bool, key: Path | None) -> str:
    """A qemu+ssh URI (not BatchMode) whose ssh reads its own known_hosts, empty unless known."""
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(sshd.known_hosts.read_text() if known else "")
    auth = (
        f"  IdentityFile {key}\n  IdentitiesOnly yes\n  PasswordAuthentication no\n"
        if key
        else "  PubkeyAuthentication no\n  PreferredAuthentications password\n"
    )
    config = folder / "ssh_config"
    config.write_text(
        "Host *\n"
        f"  UserKnownHostsFile {known_hosts}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking ask\n" + auth
    )
    wrapper = folder / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {config} "$@"\n')
    wrapper.chmod(0o755)
    return f"qemu+ssh://{sshd.user}@127.0.0.1:{sshd.port}/system?command={wrapper}"


def connect(
    mrun: Run, uri: str, asker: ScriptedAsker | None, **kwargs: object
) -> tuple[HostConnection, Recorder, float]:
    rec = Recorder()
    host = HostConnection(uri, rec, asker=asker, **kwargs)  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        mrun(host.connect(), 60.0)
    finally:
        elapsed = time.monotonic() - started
    return host, rec, elapsed


def fails(
    mrun: Run, uri: str, asker: ScriptedAsker | None, **kwargs: object
) -> tuple[VmguiError, str, float]:
    """Connect, expect it to fail; (error, the host's last reason, seconds)."""
    rec = Recorder()
    host = HostConnection(uri, rec, asker=asker, **kwargs)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(VmguiError) as info:
        mrun(host.connect(), 60.0)
    elapsed = time.monotonic() - started
    assert host.state is ConnectionState.FAILED
    reason = rec.statuses[-1].reason
    assert reason
    mrun(host.close())
    return info.value, reason, elapsed


# -- qemu+ssh through vmgui's askpass ------------------------------------------------------------


def test_ssh_host_key_accepted_connects_and_is_remembered(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    uri = ssh_uri(loopback_sshd, tmp_path, known=False, key=loopback_sshd.client_key)
    asker = ScriptedAsker(keys=[True])
    host, _rec, _ = connect(mrun, uri, asker)
    try:
        assert host.state is ConnectionState.CONNECTED
        assert host.guests is not None
    finally:
        mrun(host.close())
    [question] = asker.questions
    assert question.host == f"[127.0.0.1]:{loopback_sshd.port}"
    assert question.key_type == "ED25519"
    assert question.fingerprint == ed25519_fingerprint(loopback_sshd)
    assert f"[127.0.0.1]:{loopback_sshd.port} ssh-ed25519" in (tmp_path / "known_hosts").read_text()
    again = ScriptedAsker()
    host, _rec, _ = connect(mrun, uri, again)
    mrun(host.close())
    assert again.questions == []  # remembered: not asked twice


def test_ssh_host_key_rejected_is_refused_and_nothing_saved(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    uri = ssh_uri(loopback_sshd, tmp_path, known=False, key=loopback_sshd.client_key)
    asker = ScriptedAsker(keys=[False])
    error, reason, elapsed = fails(mrun, uri, asker)
    assert isinstance(error, AuthenticationError)
    assert (
        "was not accepted" in error.details and ed25519_fingerprint(loopback_sshd) in error.details
    )
    assert reason.startswith("authentication failed — the host key")
    assert (tmp_path / "known_hosts").read_text() == ""
    assert len(asker.questions) == 1 and elapsed < 10


def test_ssh_password_right_connects(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    uri = ssh_uri(loopback_sshd, tmp_path, known=True, key=None)
    asker = ScriptedAsker(passwords=[loopback_sshd.password])
    host, _rec, _ = connect(mrun, uri, asker)
    mrun(host.close())
    [request] = asker.requests
    assert request.prompts[0].text == f"{loopback_sshd.user}@127.0.0.1's password:"
    assert not request.prompts[0].echo


def test_ssh_wrong_password_fails_once_after_two_asks(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    uri = ssh_uri(loopback_sshd, tmp_path, known=True, key=None)
    asker = ScriptedAsker(passwords=["wrong-1", "wrong-2", "wrong-3"])
    error, _reason, elapsed = fails(mrun, uri, asker)
    assert isinstance(error, AuthenticationError), error
    assert "refused 2 times" in error.details
    assert [r.attempt for r in asker.requests] == [1, 2]
    assert elapsed < 15


# -- qemu+libssh2 through the auth callback -------------------------------------------------------


def test_libssh2_host_key_accepted_connects_and_is_remembered(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    uri = loopback_sshd.uri_libssh2(known_hosts=str(known_hosts))
    asker = ScriptedAsker(keys=[True])
    host, _rec, _ = connect(mrun, uri, asker)
    mrun(host.close())
    [question] = asker.questions
    assert question.host == f"127.0.0.1:{loopback_sshd.port}"
    assert (question.key_type, question.fingerprint) == (
        "ED25519",
        ed25519_fingerprint(loopback_sshd),
    )
    assert "ssh-ed25519" in known_hosts.read_text()
    again = ScriptedAsker()
    host, _rec, _ = connect(mrun, uri, again)
    mrun(host.close())
    assert again.questions == []


def test_libssh2_host_key_rejected_is_refused_and_nothing_saved(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    asker = ScriptedAsker(keys=[False])
    error, _host, _ = fails(mrun, loopback_sshd.uri_libssh2(known_hosts=str(known_hosts)), asker)
    assert isinstance(error, AuthenticationError)
    assert ed25519_fingerprint(loopback_sshd) in error.details
    assert known_hosts.read_text() == ""


def test_libssh2_password_right_connects_and_wrong_fails_after_two_asks(
    loopback_sshd: LoopbackSshd, mrun: Run
) -> None:
    uri = loopback_sshd.uri_libssh2(sshauth="password")
    asker = ScriptedAsker(passwords=[loopback_sshd.password])
    host, _rec, _ = connect(mrun, uri, asker)
    mrun(host.close())
    [request] = asker.requests
    assert request.prompts[0].text.startswith(f"Enter {loopback_sshd.user}'s password")
    wrong = ScriptedAsker(passwords=["bad-1", "bad-2", "bad-3"])
    error, _host, elapsed = fails(mrun, uri, wrong)
    assert isinstance(error, AuthenticationError), error
    assert "refused 2 times" in error.details
    assert len(wrong.requests) == 2 and elapsed < 10


# -- failures: one clear message each, within the deadline ---------------------------------------


def test_closed_port_unknown_host_refused_key_and_bad_uri_fail_clearly(
    loopback_sshd: LoopbackSshd, tmp_path: Path, mrun: Run
) -> None:
    other_key = tmp_path / "other_ed25519"
    import subprocess

    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    cases = {
        "closed port": (loopback_sshd.uri_libssh2(port=1), "Connection refused", False),
        "unknown host": (
            "qemu+libssh2://vmgui-svc@no-such-host.invalid/system",
            "no-such-host.invalid",
            False,
        ),
        "unknown host (ssh)": (
            "qemu+ssh://vmgui-svc@no-such-host.invalid/system?no_tty=1",
            "Could not resolve hostname",
            False,
        ),
        "refused key (libssh2)": (
            loopback_sshd.uri_libssh2(keyfile=str(other_key)),
            "authentication",
            True,
        ),
        "refused key (ssh)": (
            ssh_uri(loopback_sshd, tmp_path, known=True, key=other_key),
            "Permission denied",
            True,
        ),
        "malformed URI": (
            "qemu+ssh://vmgui-svc@127.0.0.1:99999/system",
            "port must be a number from 1 to 65535",
            False,
        ),
    }
    for what, (uri, fragment, auth) in cases.items():
        error, _host, elapsed = fails(mrun, uri, ScriptedAsker(), connect_timeout=10)
        print(f"\n{what}: {elapsed * 1000:.0f} ms: {error}")
        assert fragment in str(error), what
        assert isinstance(error, AuthenticationError) is auth, what
        assert elapsed < 10, what


def test_blackholed_link_hits_the_deadline(
    loopback_sshd: LoopbackSshd, slow_sshd: DelayRelay, mrun: Run
) -> None:
    slow_sshd.set_blackhole(True)
    try:
        error, _host, elapsed = fails(
            mrun, loopback_sshd.uri_ssh(port=slow_sshd.port), ScriptedAsker(), connect_timeout=2
        )
    finally:
        slow_sshd.set_blackhole(False)
    assert isinstance(error, OpenTimeoutError)
    assert "no answer within 2 s" in error.details
    assert 1.9 < elapsed < 5


def test_keepalive_notices_a_dead_link_and_reconnects_when_it_returns(
    loopback_sshd: LoopbackSshd, slow_sshd: DelayRelay, mrun: Run
) -> None:
    host, rec, _ = connect(
        mrun,
        loopback_sshd.uri_ssh(port=slow_sshd.port),
        ScriptedAsker(),
        keepalive=(1, 2),
        backoff=(0.5,),
        connect_timeout=3,
    )

    async def until(predicate: object, timeout: float) -> float:
        import asyncio

        started = time.monotonic()
        while not predicate():  # type: ignore[operator]
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out: {rec.statuses[-3:]}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    try:
        slow_sshd.set_blackhole(True)
        lost = mrun(until(lambda: host.state is not ConnectionState.CONNECTED, 20))
        down = [s for s in rec.statuses if s.state is ConnectionState.DISCONNECTED]
        assert "keepalive" in down[0].reason  # the close callback, or a call failing first
        print(f"\nkeepalive noticed the dead link after {lost:.1f} s")
        assert lost < 8
        mrun(until(lambda: len(slow_sshd_attempts(rec)) >= 1, 20))
        slow_sshd.set_blackhole(False)
        back = mrun(until(lambda: host.state is ConnectionState.CONNECTED, 20))
        print(f"reconnected {back:.1f} s after the link came back")
    finally:
        slow_sshd.set_blackhole(False)
        mrun(host.close())


def slow_sshd_attempts(rec: Recorder) -> list[str]:
    """The reconnect attempts that timed out while the link was dead."""
    return [s.reason for s in rec.statuses if "no answer within" in s.reason]


def test_tcp_to_the_second_host(second_host: SecondHost, mrun: Run) -> None:
    host, _rec, _ = connect(mrun, second_host.uri_tcp, ScriptedAsker())
    try:
        assert host.host_info is not None
        assert host.host_info.hostname == second_host.hostname
        assert host.host_info.secure is False, "qemu+tcp without TLS is neither local nor encrypted"
    finally:
        mrun(host.close())


# -- keyring --------------------------------------------------------------------------------------


def test_saved_password_round_trip_and_use(
    secret_service: SecretService,
    loopback_sshd: LoopbackSshd,
    mrun: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in secret_service.env.items():
        monkeypatch.setenv(name, value)
    store = SecretStore()
    assert store.unavailable_reason() == ""
    uri = loopback_sshd.uri_libssh2(sshauth="password")
    asker = ScriptedAsker(passwords=[loopback_sshd.password])
    asker.remember = True
    host, _rec, _ = connect(mrun, uri, asker, secrets=store)
    mrun(host.close())
    assert asker.requests[0].remember_unavailable == ""
    deadline = time.monotonic() + 5
    while store.get(uri, loopback_sshd.user) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # saved on the worker after the open
    assert store.get(uri, loopback_sshd.user) == loopback_sshd.password
    silent = ScriptedAsker()
    host, _rec, _ = connect(mrun, uri, silent, secrets=store)
    mrun(host.close())
    assert silent.requests == []  # the saved password answered
    assert store.forget(uri, loopback_sshd.user)
    assert store.get(uri, loopback_sshd.user) is None
    assert not store.forget(uri, loopback_sshd.user)


def test_without_a_secret_service_nothing_is_saved(
    tmp_path: Path, loopback_sshd: LoopbackSshd, mrun: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    store = SecretStore()
    reason = store.unavailable_reason()
    assert reason
    with pytest.raises(VmguiError, match="cannot be kept"):
        store.save("qemu:///x", "someone", "secret")
    asker = ScriptedAsker(passwords=[loopback_sshd.password])
    asker.remember = True
    host, _rec, _ = connect(
        mrun, loopback_sshd.uri_libssh2(sshauth="password"), asker, secrets=store
    )
    mrun(host.close())
    assert asker.requests[0].remember_unavailable == reason
