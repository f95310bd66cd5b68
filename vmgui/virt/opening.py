"""Opening a libvirt connection: credentials, the askpass helper, and a deadline libvirt lacks.

* :func:`open_connection` (blocking, on a worker) passes libvirt an auth callback that answers
  through an :class:`~vmgui.virt.credentials.AuthSession` (or refuses everything), and for
  ``qemu+ssh`` registers the session with the :class:`~vmgui.virt.askpass.AskpassServer`.
* :func:`wait_for_open` (asyncio) waits for it with a deadline that pauses while a question is
  on screen: libvirt has no connect timeout (a blackholed host takes 135 s, RECIPES.md §5).
* :func:`open_error` turns the failure into one clear :class:`VmguiError`; refused keys,
  passwords and TLS certificates become :class:`~vmgui.virt.credentials.AuthenticationError`
  (for a certificate libvirt does not explain, :mod:`vmgui.virt.tlsprobe` finds the reason on
  the worker and :func:`open_connection` adds it to libvirt's error as a note).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from typing import TypeVar

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.tlsfiles import TlsProblem, libvirt_tls_problem
from vmgui.core.validation import ValidationError, parse_uri
from vmgui.virt import inspect, tlsprobe
from vmgui.virt.askpass import AskpassServer
from vmgui.virt.credentials import SUPPORTED_CREDENTIALS, AuthenticationError, AuthSession
from vmgui.virt.events import ensure_event_loop

_T = TypeVar("_T")

#: Seconds a connect may take, not counting the time a question waits for the user.
CONNECT_TIMEOUT = 20.0
_POLL = 0.1

_AUTH_CODES = (
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_CANCELLED,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
)
# What ssh itself prints when it gives up (libvirt reports them as a broken socket).
_SSH_REFUSALS = re.compile(
    r"Permission denied \(|Host key verification failed|Too many authentication failures"
    r"|REMOTE HOST IDENTIFICATION HAS CHANGED|No more authentication methods",
    re.I,
)


class OpenTimeoutError(VmguiError):
    """The host did not answer within the connect deadline."""


def is_ssh(uri: str) -> bool:
    """Whether libvirt opens ``uri`` by running OpenSSH (``qemu+ssh``)."""
    try:
        return parse_uri(uri).transport == "ssh"
    except ValidationError:
        return False


def open_connection(
    uri: str, session: AuthSession | None = None, askpass: AskpassServer | None = None
) -> libvirt.virConnect:
    """Open ``uri`` (blocking; never prompts on a terminal).

    Args:
        uri: the libvirt URI, used verbatim.
        session: answers the host's questions; None refuses them all (a host that needs
            credentials then fails with an authentication error instead of hanging).
        askpass: the askpass server ssh's questions go to (``qemu+ssh``); started on the
            asyncio thread beforehand (it sets ``SSH_ASKPASS`` once for the process).
    """
    ensure_event_loop()

    def refuse(_creds: list[list[object]], _data: object) -> int:
        return -1

    callback = session.on_libvirt_credentials if session is not None else refuse
    auth = [list(SUPPORTED_CREDENTIALS), callback, None]
    try:
        if session is None or askpass is None:
            return libvirt.openAuth(uri, auth, 0)
        askpass.register(session)
        try:
            return libvirt.openAuth(uri, auth, 0)
        finally:
            askpass.unregister(session)
    except libvirt.libvirtError as exc:
        # libvirt does not say why a server certificate failed: look again here, off the loop.
        problem = tlsprobe.diagnose(uri, exc.get_error_message() or str(exc))
        if problem is not None:
            exc.add_note(_TLS_NOTE.join(("", problem.details, problem.hint)))
        raise


async def wait_for_open(
    future: concurrent.futures.Future[_T], session: AuthSession, timeout: float, summary: str
) -> _T:
    """Await ``future`` (an open on a worker) for at most ``timeout`` s of non-prompt time.

    Raises:
        OpenTimeoutError: the deadline passed; the session is cancelled and the open
            abandoned (the caller drops its worker; a late connection is the caller's to close).
        VmguiError: the session was cancelled (the host was disconnected meanwhile).
        asyncio.CancelledError: the awaiting task was cancelled (the open is abandoned too).
    """
    waited = 0.0
    wrapped = asyncio.wrap_future(future)
    # An abandoned open's late failure is nobody's news.
    wrapped.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        while True:
            started = time.monotonic()
            done, _ = await asyncio.wait({wrapped}, timeout=_POLL)
            if done:
                return wrapped.result()
            if session.cancelled:
                raise VmguiError(summary, "the connect was cancelled")
            if not session.prompting:
                waited += time.monotonic() - started
            if waited >= timeout:
                session.cancel()
                raise OpenTimeoutError(
                    summary,
                    f"no answer within {timeout:.0f} s (is the host reachable?)",
                    "Check the host name, the network and the firewall, then connect again.",
                )
    except asyncio.CancelledError:
        session.cancel()
        raise


def open_error(exc: libvirt.libvirtError, session: AuthSession | None, summary: str) -> VmguiError:
    """The error to show for a failed open; refusals become :class:`AuthenticationError`.

    Certificate problems (``qemu+tls``) name the file or host name and the reason; they are
    refusals too: connecting again cannot help until the files change.
    """
    error = inspect.error_from_libvirt(exc, summary)
    message = error.details
    problem = _tls_problem(exc, message)
    if problem is not None:
        return AuthenticationError(summary, problem.details, problem.hint)
    if session is not None and session.failure:
        return AuthenticationError(summary, session.failure, error.hint or _AUTH_HINT)
    if exc.get_error_code() in _AUTH_CODES and session is not None and session.gave_password:
        return AuthenticationError(summary, session.refused(), _PASSWORD_HINT)
    if exc.get_error_code() in _AUTH_CODES or _SSH_REFUSALS.search(message):
        return AuthenticationError(summary, message, _AUTH_HINT)
    return error


def _tls_problem(exc: libvirt.libvirtError, message: str) -> TlsProblem | None:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, str) and note.startswith(_TLS_NOTE):
            _, details, hint = note.split(_TLS_NOTE)
            return TlsProblem(details, hint)
    return libvirt_tls_problem(message)


#: Separates the fields of the note :func:`open_connection` adds to a TLS failure.
_TLS_NOTE = "\x1fvmgui-tls\x1f"
_AUTH_HINT = "Check the user name, key, password and host key for this host, then connect again."
_PASSWORD_HINT = "Connect again and type the user name and password."
