"""AuthSession, the askpass round trip and the connect deadline (test driver, no network)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import libvirt
import pytest

from tests.conftest import wait_until
from tests.testdriver.helpers import Droppable, Recorder
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState
from vmgui.core.sshprompts import HostKeyQuestion
from vmgui.virt.askpass import AskpassServer, SshTarget
from vmgui.virt.connection import HostConnection
from vmgui.virt.credentials import (
    MAX_PASSWORD_ASKS,
    AuthSession,
    CredentialAnswer,
    CredentialRequest,
)
from vmgui.virt.opening import OpenTimeoutError, open_connection, wait_for_open

Run = Callable[..., Any]
URI = "qemu+libssh2://alice@example.org:2222/system"
QUESTION = (
    "The authenticity of host '[example.org]:2222 ([10.0.0.1]:2222)' can't be established.\n"
    "ED25519 key fingerprint is SHA256:8eLTTpGCId6kpJ1xz/Fvq9qU2xHDBmetLrIeWwK0kJQ.\n"
    "Are you sure you want to continue connecting (yes/no/[fingerprint])? "
)


class Asker:
    """Answers on the loop; can hold a question open until released."""

    def __init__(self, accept: bool = True, password: str | None = "pw") -> None:
        self.accept = accept
        self.password = password
        self.keys: list[HostKeyQuestion] = []
        self.requests: list[CredentialRequest] = []
        self.threads: set[str] = set()
        self.hold: asyncio.Event | None = None

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        self.threads.add(threading.current_thread().name)
        self.keys.append(question)
        if self.hold is not None:
            await self.hold.wait()
        return self.accept

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        self.threads.add(threading.current_thread().name)
        self.requests.append(request)
        if self.password is None:
            return None
        return CredentialAnswer(tuple(self.password for _ in request.prompts))


def on_worker(run: Run, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a plain thread while the loop runs (as the host's worker would)."""

    async def go() -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    return run(go())


def session(run: Run, asker: Asker | None) -> AuthSession:
    loop = run(_loop())
    return AuthSession(URI, asker, loop)


async def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_passwords_are_asked_on_the_loop_and_capped(arun: Run) -> None:
    asker = Asker(password="wrong")
    auth = session(arun, asker)
    creds: list[list[Any]] = [[libvirt.VIR_CRED_PASSPHRASE, "Enter alice's password", "", "", None]]
    results = [on_worker(arun, lambda: auth.on_libvirt_credentials(creds, None)) for _ in range(3)]
    assert results == [0, 0, -1]
    assert creds[0][4] == "wrong"
    assert [r.attempt for r in asker.requests] == [1, MAX_PASSWORD_ASKS]
    assert not asker.requests[0].prompts[0].echo
    assert asker.threads == {threading.main_thread().name}
    assert "refused 2 times" in auth.failure


def test_sasl_name_and_password_in_one_request(arun: Run) -> None:
    asker = Asker(password="x")
    auth = session(arun, asker)
    creds: list[list[Any]] = [
        [libvirt.VIR_CRED_AUTHNAME, "Name", "", "", None],
        [libvirt.VIR_CRED_PASSPHRASE, "Password", "", "", None],
    ]
    assert on_worker(arun, lambda: auth.on_libvirt_credentials(creds, None)) == 0
    [request] = asker.requests
    assert [p.echo for p in request.prompts] == [True, False]
    assert request.prompts[0].default == "alice"


def test_a_refused_or_unasked_host_key_answers_no(arun: Run) -> None:
    # A closed port: ssh-keyscan finds no key, the MD5 is shown as is.
    prompt = "Accept SSH host key with hash 'AA:BB' for host '127.0.0.1:1' (y/n)?"
    for asker in (Asker(accept=False), None):
        auth = session(arun, asker)
        creds: list[list[Any]] = [[libvirt.VIR_CRED_ECHOPROMPT, prompt, "", "", None]]
        answer: Callable[[], int] = partial(auth.on_libvirt_credentials, creds, None)
        assert on_worker(arun, answer) == -1
        assert creds[0][4] in ("n", None)
        assert "was not accepted (key MD5:aa:bb)" in auth.failure


def test_askpass_answers_yes_only_when_accepted(arun: Run) -> None:
    accepted = session(arun, Asker(accept=True))
    assert on_worker(arun, lambda: accepted.answer_askpass(QUESTION)) == "yes"
    refused = session(arun, Asker(accept=False))
    assert on_worker(arun, lambda: refused.answer_askpass(QUESTION)) is None
    assert "SHA256:8eLTTpGCId6kpJ1xz" in refused.failure


def test_cancel_answers_an_open_question_with_no(arun: Run) -> None:
    asker = Asker()
    auth = session(arun, asker)

    async def scenario() -> str | None:
        asker.hold = asyncio.Event()
        loop = asyncio.get_running_loop()
        answer = loop.run_in_executor(None, auth.answer_askpass, QUESTION)
        await wait_until(lambda: auth.prompting)
        auth.cancel()
        return await answer

    assert arun(scenario()) is None
    assert not auth.prompting


def test_ssh_targets() -> None:
    argv = ["/usr/bin/ssh", "-F", "cfg", "-p", "2222", "-l", "alice", "-T", "--", "h", "sh"]
    assert SshTarget.from_argv(argv) == SshTarget("alice", "h", 2222)
    assert SshTarget.from_uri("qemu+ssh://alice@h:2222/system") == SshTarget("alice", "h", 2222)
    assert SshTarget.from_uri("qemu+ssh://[fd00::1]/system") == SshTarget("", "fd00::1", None)
    assert SshTarget.from_argv(["ssh", "h"]) is None


def test_the_helper_reaches_the_session_of_its_ssh(arun: Run) -> None:
    """vmgui-askpass, run by a process shaped like libvirt's ssh, gets that host's answer."""
    server = AskpassServer()
    assert oct(server.socket_path.stat().st_mode & 0o777) == "0o600"
    assert oct(server.folder.stat().st_mode & 0o777) == "0o700"
    auth = AuthSession("qemu+ssh://alice@example.org:2222/system", Asker(), arun(_loop()))
    other = AuthSession("qemu+ssh://bob@example.org/system", Asker(accept=False), auth._loop)
    server.register(auth)
    server.register(other)

    def ask(user: str, port: str) -> subprocess.CompletedProcess[str]:
        # "$0" is the wrapper; the shell's own argv looks like libvirt's ssh command line.
        return subprocess.run(
            ["/bin/sh", "-c", '"$W" "$Q"', "ssh", "-l", user, "-p", port, "--", "example.org"],
            env={**os.environ, "W": str(server.wrapper), "Q": QUESTION},
            capture_output=True,
            text=True,
            timeout=20,
        )

    done = on_worker(arun, lambda: ask("alice", "2222"))
    assert (done.returncode, done.stdout) == (0, "yes\n")
    refused = on_worker(arun, lambda: ask("bob", "22"))
    assert refused.returncode == 1 and refused.stdout == ""
    server.unregister(auth)
    gone = on_worker(arun, lambda: ask("alice", "2222"))
    assert gone.returncode == 1  # no connect in progress for it: refused


def test_a_wrong_token_is_refused(arun: Run) -> None:
    server = AskpassServer()
    auth = AuthSession("qemu+ssh://example.org/system", Asker(), arun(_loop()))
    server.register(auth)
    from vmgui import askpass as helper

    assert on_worker(arun, lambda: helper.ask(str(server.socket_path), "0" * 32, QUESTION)) is None


def test_the_deadline_abandons_a_stuck_open(node50_uri: str, arun: Run) -> None:
    release = threading.Event()
    late: list[Droppable] = []

    def stuck(uri: str) -> libvirt.virConnect:
        release.wait(30)
        late.append(Droppable(open_connection(uri)))
        return late[-1]

    host = HostConnection(node50_uri, Recorder(), opener=stuck, connect_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(OpenTimeoutError, match="no answer within 0 s"):
        arun(host.connect())
    assert time.monotonic() - started < 2
    assert host.state is ConnectionState.FAILED
    release.set()
    arun(wait_until(lambda: bool(late)))
    arun(host.close())


def test_disconnect_cancels_a_hanging_connect(node50_uri: str, arun: Run) -> None:
    release = threading.Event()

    def stuck(uri: str) -> libvirt.virConnect:
        release.wait(30)
        return open_connection(uri)

    host = HostConnection(node50_uri, Recorder(), opener=stuck)

    async def scenario() -> float:
        task = asyncio.ensure_future(host.connect())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await host.disconnect()
        with pytest.raises(VmguiError, match="cancelled"):
            await task
        return time.monotonic() - started

    assert arun(scenario()) < 1
    release.set()
    arun(host.close())


def test_an_authentication_failure_stops_the_reconnect_loop(node50_uri: str, arun: Run) -> None:
    opened: list[Droppable] = []

    def open_then_refuse(uri: str) -> libvirt.virConnect:
        if opened:
            raise libvirt.libvirtError("Cannot recv data: a@h: Permission denied (publickey).")
        opened.append(Droppable(open_connection(uri)))
        return opened[-1]

    rec = Recorder()
    host = HostConnection(node50_uri, rec, opener=open_then_refuse, backoff=(0.01,))
    arun(host.connect())
    opened[0].drop(libvirt.VIR_CONNECT_CLOSE_REASON_EOF)
    arun(wait_until(lambda: host.state is ConnectionState.FAILED))
    assert rec.statuses[-1].reason.startswith("authentication failed — ")
    assert "Permission denied" in rec.statuses[-1].reason
    assert not host.wants_connection
    arun(asyncio.sleep(0.1))
    assert host.state is ConnectionState.FAILED  # no further attempt
    arun(host.close())


def test_the_deadline_pauses_while_a_question_is_on_screen(arun: Run) -> None:
    asker = Asker()
    auth = session(arun, asker)
    never: concurrent.futures.Future[int] = concurrent.futures.Future()

    async def scenario() -> float:
        asker.hold = asyncio.Event()
        loop = asyncio.get_running_loop()
        answer = loop.run_in_executor(None, auth.answer_askpass, QUESTION)
        await wait_until(lambda: auth.prompting)
        wait = asyncio.ensure_future(wait_for_open(never, auth, 0.3, "Could not connect"))
        await asyncio.sleep(0.8)  # the user reads the fingerprint: no deadline
        assert not wait.done()
        asker.hold.set()
        assert await answer == "yes"
        started = time.monotonic()
        with pytest.raises(OpenTimeoutError):
            await wait
        return time.monotonic() - started

    assert 0.2 < arun(scenario()) < 1.0
