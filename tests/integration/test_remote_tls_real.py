"""qemu+tls for real: a libvirtd with ``listen_tls=1`` and certificates made by the fixture
(``tests/services/tlshost.py``), then SASL SCRAM-SHA-256 over TLS on a second such host.

Certificate failures must each give one sentence naming the file or the name and the reason,
and stop the attempt (AuthenticationError); SASL questions come through libvirt's callback.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import libvirt
import pytest

from tests.integration.helpers import Recorder, Run
from tests.services.fixtures import sasl_tls_host as sasl_tls_host
from tests.services.fixtures import secret_service as secret_service
from tests.services.fixtures import tls_host as tls_host
from tests.services.keyring_service import SecretService
from tests.services.secondhost import open_connection
from tests.services.tlshost import TlsHost
from vmgui.core.model import ConnectionState, GuestState
from vmgui.core.sshprompts import HostKeyQuestion, PromptKind
from vmgui.virt import guestlist, inspect
from vmgui.virt.connection import HostConnection
from vmgui.virt.credentials import AuthenticationError, CredentialAnswer, CredentialRequest
from vmgui.virt.opening import CONNECT_TIMEOUT
from vmgui.virt.passwords import SecretStore

pytestmark = pytest.mark.integration

GUEST = "remote-tls-guest"
_GUEST_XML = (
    f"<domain type='qemu'><name>{GUEST}</name><memory unit='MiB'>32</memory>"
    "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
)


class SaslAsker:
    """Answers SASL's user name + password request from a list of passwords."""

    def __init__(self, *passwords: str, user: str = "", remember: bool = False) -> None:
        self.passwords = list(passwords)
        self.user = user
        self.remember = remember
        self.requests: list[CredentialRequest] = []

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        raise AssertionError(f"TLS never asks about a host key ({question})")

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        self.requests.append(request)
        if not self.passwords:
            return None
        values = [
            (self.user or p.default) if p.kind is PromptKind.USER_NAME else self.passwords.pop(0)
            for p in request.prompts
        ]
        return CredentialAnswer(tuple(values), remember=self.remember)


def fails(mrun: Run, uri: str, **kwargs: object) -> tuple[AuthenticationError, float]:
    """Connect, expect a refusal; (the error, seconds). The host is left FAILED, not retrying."""
    host = HostConnection(uri, Recorder(), **kwargs)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(AuthenticationError) as info:
        mrun(host.connect(), 60.0)
    elapsed = time.monotonic() - started
    try:
        assert host.state is ConnectionState.FAILED
        assert not host.wants_connection
    finally:
        mrun(host.close())
    return info.value, elapsed


# -- TLS ----------------------------------------------------------------------------------------


def _transient_xml(name: str) -> str:
    return _GUEST_XML.replace(GUEST, name)


def test_bulk_list_equals_reading_each_guest(tls_host: TlsHost) -> None:
    """On a real daemon: shut off, saved (managed save), running transient guests."""
    conn = open_connection(tls_host.host.uri_unix)
    names = [f"{GUEST}-off", f"{GUEST}-saved"]
    try:
        for name in names:
            conn.defineXML(_transient_xml(name))
        saved = conn.lookupByName(names[1])
        saved.create()
        saved.managedSave(0)
        conn.createXML(_transient_xml(f"{GUEST}-transient"), 0)
        bulk = guestlist.list_guests("uri", conn)
        each = [inspect.guest_info("uri", dom) for dom in conn.listAllDomains(0)]
        assert sorted(bulk, key=lambda g: g.name) == sorted(each, key=lambda g: g.name)
        states = {g.name: (g.state, g.persistent) for g in bulk}
        assert states[names[1]] == (GuestState.SAVED, True)
        assert states[f"{GUEST}-transient"] == (GuestState.RUNNING, False)
    finally:
        conn.lookupByName(f"{GUEST}-transient").destroy()
        for name in names:
            dom = conn.lookupByName(name)
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        conn.close()


def test_tls_connects_and_lists(tls_host: TlsHost, mrun: Run) -> None:
    setup = open_connection(tls_host.host.uri_unix)
    setup.defineXML(_GUEST_XML)
    setup.close()
    host = HostConnection(tls_host.uri_tls(), Recorder())
    try:
        mrun(host.connect(), 60.0)
        assert host.state is ConnectionState.CONNECTED
        assert [g.name for g in host.guests.values()] == [GUEST]
        assert mrun(host.call(lambda c: c.isEncrypted(), "encrypted?")) == 1
    finally:
        mrun(host.close())


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("rogue", r"The server's certificate is not signed by the CA in .*rogue/cacert\.pem"),
        ("localhost", r"The server's certificate is not valid for the name 'localhost'"),
        ("expired", r"The client certificate .*expired/clientcert\.pem has expired"),
        ("no-cert", r"asked for a client certificate, but .*no-cert/clientcert\.pem is missing"),
        ("no-folder", r"The CA certificate .*/absent/cacert\.pem cannot be read"),
    ],
)
def test_certificate_problems_are_one_clear_sentence(
    tls_host: TlsHost, tmp_path: Path, mrun: Run, case: str, expected: str
) -> None:
    pki = tls_host.pki
    if case == "no-cert":
        shutil.copytree(pki.client_dir, tmp_path / "no-cert")
        (tmp_path / "no-cert" / "clientcert.pem").unlink()
    uri = {
        "rogue": tls_host.uri_tls(pkipath=pki.rogue_ca_dir),
        "localhost": tls_host.uri_tls(host="localhost"),
        "expired": tls_host.uri_tls(pkipath=pki.expired_client_dir),
        "no-cert": tls_host.uri_tls(pkipath=tmp_path / "no-cert"),
        "no-folder": tls_host.uri_tls(pkipath=tmp_path / "absent"),
    }[case]
    error, elapsed = fails(mrun, uri)
    assert re.search(expected, error.details), error.details
    assert "\n" not in error.details and error.hint
    assert elapsed < CONNECT_TIMEOUT


# -- SASL SCRAM-SHA-256 over TLS ----------------------------------------------------------------


def sasl_uri(host: TlsHost) -> str:
    return host.uri_tls().replace("qemu+tls://", f"qemu+tls://{host.sasl_user}@")


def test_sasl_password_through_the_callback(sasl_tls_host: TlsHost, mrun: Run) -> None:
    asker = SaslAsker(sasl_tls_host.sasl_password)
    host = HostConnection(sasl_uri(sasl_tls_host), Recorder(), asker=asker)
    try:
        mrun(host.connect(), 60.0)
        assert host.state is ConnectionState.CONNECTED
    finally:
        mrun(host.close())
    [request] = asker.requests
    kinds = [p.kind for p in request.prompts]
    assert kinds == [PromptKind.USER_NAME, PromptKind.PASSWORD]
    assert request.prompts[0].default == sasl_tls_host.sasl_user
    assert not request.prompts[1].echo


def test_sasl_wrong_password_is_one_message(sasl_tls_host: TlsHost, mrun: Run) -> None:
    asker = SaslAsker("not-the-password", "again")
    error, elapsed = fails(mrun, sasl_uri(sasl_tls_host), asker=asker)
    assert len(asker.requests) == 1  # no re-prompt
    assert error.details == "the user name or password was refused"
    assert elapsed < CONNECT_TIMEOUT


def test_sasl_saved_password_is_used(
    sasl_tls_host: TlsHost,
    secret_service: SecretService,
    mrun: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in secret_service.env.items():
        monkeypatch.setenv(name, value)
    store = SecretStore()
    uri = sasl_uri(sasl_tls_host)
    user = sasl_tls_host.sasl_user
    asker = SaslAsker(sasl_tls_host.sasl_password, remember=True)
    host = HostConnection(uri, Recorder(), asker=asker, secrets=store)
    mrun(host.connect(), 60.0)
    mrun(host.close())
    deadline = time.monotonic() + 5
    while store.get(uri, user) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # saved on the worker after the open
    try:
        assert store.get(uri, user) == sasl_tls_host.sasl_password
        silent = SaslAsker()
        host = HostConnection(uri, Recorder(), asker=silent, secrets=store)
        mrun(host.connect(), 60.0)
        assert host.state is ConnectionState.CONNECTED
        mrun(host.close())
        assert silent.requests == []  # the saved password answered
        store.save(uri, user, "changed-elsewhere")
        error, _ = fails(mrun, uri, asker=SaslAsker(), secrets=store)
        assert error.details == f"the password saved for {user} was refused"
        again = SaslAsker(sasl_tls_host.sasl_password)  # the next attempt asks, once
        host = HostConnection(uri, Recorder(), asker=again, secrets=store)
        mrun(host.connect(), 60.0)
        mrun(host.close())
        assert len(again.requests) == 1
    finally:
        store.forget(uri, user)
