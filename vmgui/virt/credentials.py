"""Answering what a remote host asks while it opens: host keys, passwords, SASL names.

A connect runs on the host's worker thread; the questions are answered on the asyncio (Qt)
thread by a :class:`CredentialAsker` (vmgui's dialogs, or the CLI's terminal prompts). One
:class:`AuthSession` per connect attempt carries them across: each question becomes a
coroutine scheduled on the loop with :func:`asyncio.run_coroutine_threadsafe`, whose
``concurrent.futures.Future`` the worker waits on; cancelling it (deadline, disconnect) answers
"no" (-1 to libvirt). Questions come from two places:

* libvirt's ``openAuth`` callback (``qemu+libssh2``, SASL on ``qemu+tcp``/``qemu+tls``):
  :meth:`AuthSession.on_libvirt_credentials`;
* vmgui's askpass helper (``qemu+ssh``; :mod:`vmgui.virt.askpass`):
  :meth:`AuthSession.answer_askpass`.

A host key is never accepted silently; a refused key or a password refused
:data:`MAX_PASSWORD_ASKS` times ends the attempt with :class:`AuthenticationError`, which stops
the reconnect loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import getpass
import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.sshprompts import (
    HostKeyQuestion,
    PromptKind,
    classify_prompt,
    match_scanned_key,
    parse_libssh2_host_key,
    parse_openssh_host_key,
)
from vmgui.core.validation import ValidationError, parse_uri
from vmgui.virt.passwords import SecretStore

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How many times a password is asked for in one attempt before the attempt gives up.
MAX_PASSWORD_ASKS = 2
#: Seconds ``ssh-keyscan`` may take to fetch the key libssh2 asks about.
KEYSCAN_TIMEOUT = 8.0

#: The credential types vmgui answers through its asker.
SUPPORTED_CREDENTIALS = (
    libvirt.VIR_CRED_AUTHNAME,
    libvirt.VIR_CRED_PASSPHRASE,
    libvirt.VIR_CRED_NOECHOPROMPT,
    libvirt.VIR_CRED_ECHOPROMPT,
)
_SECRET_TYPES = (libvirt.VIR_CRED_PASSPHRASE, libvirt.VIR_CRED_NOECHOPROMPT)


class AuthenticationError(VmguiError):
    """The host refused us, or we refused it (host key, password): retrying cannot help."""


@dataclass(frozen=True, slots=True)
class CredentialPrompt:
    """One field of a credential request.

    Attributes:
        kind: what it asks for.
        text: the prompt as the host asked it.
        echo: whether the typed text may be shown (user names yes, passwords no).
        default: a suggested answer ("" for none).
    """

    kind: PromptKind
    text: str
    echo: bool
    default: str = ""


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    """Credentials a host asks for, answered together.

    Attributes:
        uri: the host's URI.
        prompts: the fields, in order.
        attempt: 1 for the first ask of this connect, 2 after a refusal.
        remember_unavailable: "" when a password may be saved in the Secret Service, else why
            it cannot.
    """

    uri: str
    prompts: tuple[CredentialPrompt, ...]
    attempt: int
    remember_unavailable: str


@dataclass(frozen=True, slots=True)
class CredentialAnswer:
    """What the user typed, one value per prompt, and whether to save the password."""

    values: tuple[str, ...]
    remember: bool = False


class CredentialAsker(Protocol):
    """Answers a connecting host's questions; its coroutines run on the asyncio loop."""

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        """Whether the user trusts this unknown host key."""
        ...

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        """The user's answers, or None if they cancelled."""
        ...


def uri_user(uri: str) -> str:
    """The user a URI logs in as: its own, else the local user (what ssh and libvirt use)."""
    try:
        user = parse_uri(uri).user
    except ValidationError:
        user = ""
    return user or getpass.getuser()


class AuthSession:
    """The questions of one connect attempt (thread-safe; see the module docstring).

    Args:
        uri: the host being opened.
        asker: who answers, or None to refuse every question.
        loop: the loop the asker's coroutines run on.
        secrets: where saved passwords live, or None (never read nor written).
    """

    def __init__(
        self,
        uri: str,
        asker: CredentialAsker | None,
        loop: asyncio.AbstractEventLoop | None,
        secrets: SecretStore | None = None,
    ) -> None:
        self.uri = uri
        self.user = uri_user(uri)
        self._asker = asker
        self._loop = loop
        self._secrets = secrets
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._cancelled = False
        self._asks = 0
        self._saved_tried = False
        self._saved_used = False
        self._gave_secret = False
        self._to_remember: str | None = None
        self.failure = ""

    # -- state the connection reads ----------------------------------------------------------

    @property
    def prompting(self) -> bool:
        """Whether a question waits for the user now (the connect deadline pauses)."""
        with self._lock:
            return bool(self._pending)

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        with self._lock:
            return self._cancelled

    def cancel(self) -> None:
        """Answer every open question with "no" and refuse the later ones."""
        with self._lock:
            self._cancelled = True
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    @property
    def gave_password(self) -> bool:
        """Whether a password (typed or saved) was handed to the host in this attempt."""
        with self._lock:
            return self._gave_secret

    def refused(self) -> str:
        """The host said no after a password was given (SASL fails at once, no re-ask): why.

        A refused saved password is marked in the store, so the next attempt asks.
        """
        if self._saved_used:
            if self._secrets is not None:
                self._secrets.mark_refused(self.uri, self.user)
            return f"the password saved for {self.user} was refused"
        return "the user name or password was refused"

    def remember_password(self) -> None:
        """After a successful open: save the password the user asked to remember (blocking)."""
        secret, self._to_remember = self._to_remember, None
        if secret is None or self._secrets is None:
            return
        try:
            self._secrets.save(self.uri, self.user, secret)
        except VmguiError as exc:
            _log.warning("%s: password not saved: %s", self.uri, exc)

    # -- libvirt's callback (worker thread) ----------------------------------------------------

    def on_libvirt_credentials(self, creds: list[list[Any]], _data: object) -> int:
        """libvirt's ``openAuth`` callback: fill in ``cred[4]``; 0 = answered, -1 = refused."""
        try:
            return self._answer_libvirt(creds)
        except Exception:  # never let an exception unwind through libvirt's C code
            _log.exception("%s: answering the credential request failed", self.uri)
            return -1

    def _answer_libvirt(self, creds: list[list[Any]]) -> int:
        if len(creds) == 1 and creds[0][0] == libvirt.VIR_CRED_ECHOPROMPT:
            parsed = parse_libssh2_host_key(str(creds[0][1]))
            if parsed is not None:
                accepted = self._confirm(self._libssh2_question(*parsed, str(creds[0][1])))
                creds[0][4] = "y" if accepted else "n"
                return 0 if accepted else -1
        prompts = []
        for cred in creds:
            kind_code, text, default = cred[0], str(cred[1] or ""), str(cred[3] or "")
            if kind_code not in SUPPORTED_CREDENTIALS:
                self.failure = f"the host asks for an unsupported credential ({text})"
                return -1
            if kind_code == libvirt.VIR_CRED_AUTHNAME:
                prompts.append(
                    CredentialPrompt(PromptKind.USER_NAME, text or "User name", True, self.user)
                )
            else:
                kind = classify_prompt(text)
                secret = kind_code in _SECRET_TYPES
                prompts.append(CredentialPrompt(kind, text, not secret, default))
        values = self._credentials(tuple(prompts))
        if values is None:
            return -1
        for cred, value in zip(creds, values, strict=True):
            cred[4] = value
        return 0

    def _libssh2_question(self, host: str, md5: str, prompt: str) -> HostKeyQuestion:
        """The key libssh2 asks about with OpenSSH's fingerprint (via ``ssh-keyscan``)."""
        name, _, port = host.rpartition(":")
        name, port = (name, port) if name else (host, "22")
        # One scan asks for every type in parallel; sshd may drop some: then one type at a time.
        for key_type in ("", "ed25519", "rsa", "ecdsa"):
            question = match_scanned_key(host, md5, _keyscan(name, port, key_type), prompt)
            if question is not None:
                return question
        return HostKeyQuestion(host, "", md5, prompt)

    # -- askpass (the askpass server's thread) --------------------------------------------------

    def answer_askpass(self, prompt: str) -> str | None:
        """The answer to one OpenSSH askpass prompt, or None to refuse it."""
        if classify_prompt(prompt) is PromptKind.HOST_KEY:
            question = parse_openssh_host_key(prompt)
            if question is None:
                self.failure = f"ssh asked an unexpected question: {prompt.strip()}"
                return None
            return "yes" if self._confirm(question) else None
        kind = classify_prompt(prompt)
        values = self._credentials((CredentialPrompt(kind, prompt.strip(), False),))
        return None if values is None else values[0]

    # -- asking ---------------------------------------------------------------------------------

    def _confirm(self, question: HostKeyQuestion) -> bool:
        asker = self._asker
        accepted = asker is not None and bool(
            self._ask(lambda: asker.confirm_host_key(self.uri, question))
        )
        if not accepted:
            key = f"{question.key_type} key {question.fingerprint}".strip()
            self.failure = f"the host key of {question.host} was not accepted ({key})"
        return accepted

    def _credentials(self, prompts: tuple[CredentialPrompt, ...]) -> tuple[str, ...] | None:
        secrets = [i for i, p in enumerate(prompts) if not p.echo]
        saved = self._saved_password() if len(secrets) == 1 else None
        if saved is not None:
            values = [p.default for p in prompts]
            values[secrets[0]] = saved
            with self._lock:
                self._saved_used = self._gave_secret = True
            return tuple(values)
        if secrets:
            if self._asks >= MAX_PASSWORD_ASKS:
                self.failure = f"the password was refused {self._asks} times"
                return None
            self._asks += 1
        asker = self._asker
        if asker is None:
            self.failure = "the host asks for a password and vmgui cannot ask for one here"
            return None
        reason = self._remember_unavailable() if secrets else "nothing to remember"
        request = CredentialRequest(self.uri, prompts, self._asks or 1, reason)
        answer = self._ask(lambda: asker.ask_credentials(request))
        if answer is None or len(answer.values) != len(prompts):
            self.failure = self.failure or "the password request was cancelled"
            return None
        if answer.remember and len(secrets) == 1 and not reason:
            if self._same_user(prompts, answer.values):
                self._to_remember = answer.values[secrets[0]]
            else:  # it is saved for the URI's user: under another name it would be wrong
                _log.warning("%s: password not saved: typed for another user", self.uri)
        if secrets:
            with self._lock:
                self._gave_secret = True
        return answer.values

    def _same_user(self, prompts: tuple[CredentialPrompt, ...], values: tuple[str, ...]) -> bool:
        names = [v for p, v in zip(prompts, values, strict=True) if p.kind is PromptKind.USER_NAME]
        return all(name == self.user for name in names)

    def _saved_password(self) -> str | None:
        if self._secrets is None or self._saved_tried:
            return None
        self._saved_tried = True
        if self._secrets.refused(self.uri, self.user):
            return None
        try:
            return self._secrets.get(self.uri, self.user)
        except VmguiError as exc:
            _log.info("%s: no saved password: %s", self.uri, exc)
            return None

    def _remember_unavailable(self) -> str:
        if self._secrets is None:
            return "no Secret Service is configured for vmgui"
        return self._secrets.unavailable_reason()

    def _ask(self, make: Callable[[], Coroutine[Any, Any, _T]]) -> _T | None:
        loop = self._loop
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:  # waiting here would deadlock the loop
                _log.error("%s: a credential question was asked on the loop's thread", self.uri)
                return None
        with self._lock:
            if self._cancelled or loop is None or loop.is_closed():
                return None
            future = asyncio.run_coroutine_threadsafe(make(), loop)
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            return None
        except Exception:
            _log.exception("%s: the credential dialog failed", self.uri)
            return None
        finally:
            with self._lock:
                self._pending.discard(future)


def _keyscan(host: str, port: str, key_type: str = "") -> str:
    keyscan = shutil.which("ssh-keyscan")
    if keyscan is None:
        return ""
    types = ["-t", key_type] if key_type else []
    try:
        done = subprocess.run(
            [keyscan, "-T", "5", *types, "-p", port or "22", "--", host.strip("[]")],
            capture_output=True,
            text=True,
            timeout=KEYSCAN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _log.info("ssh-keyscan %s:%s failed: %s", host, port, exc)
        return ""
    return done.stdout
