"""The server side of vmgui's askpass helper (:mod:`vmgui.askpass`) for ``qemu+ssh``.

``qemu+ssh`` never calls libvirt's auth callback: libvirt runs ``ssh``, which asks its
questions through ``SSH_ASKPASS`` when ``DISPLAY`` is set and it has no terminal (measured,
RECIPES.md §5). libvirt builds ssh's environment from a short allow-list (PATH, HOME,
SSH_ASKPASS, DISPLAY, XAUTHORITY, SSH_AUTH_SOCK, KRB5CCNAME, the locale) read with
``getenv`` when it starts ssh; ``SSH_ASKPASS_REQUIRE`` is not on it.

So, once per process, :meth:`AskpassServer.instance` makes a private folder (0700, in
``$XDG_RUNTIME_DIR`` or the temp dir) holding a Unix socket (0600) and a wrapper script that
runs the helper with the socket and a random per-process token, and sets ``SSH_ASKPASS`` to
that wrapper (``DISPLAY`` only if unset). Setting the environment is the one process-wide
step: it happens once, on the asyncio thread, before the first ``qemu+ssh`` open is handed to a
worker, and the values never change afterwards, so no thread ever reads them half-written and
no connect sees another's. Every connect is told apart by the asking process instead: the
helper's peer pid (``SO_PEERCRED``) leads up to the ``ssh`` child this process started,
whose ``-l``/``-p``/host arguments name the host; the :class:`AuthSession` registered for it
answers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import shlex
import socket
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from vmgui import askpass as helper
from vmgui.core.validation import ValidationError, parse_uri
from vmgui.virt.credentials import AuthSession

_log = logging.getLogger(__name__)

_MAX_REQUEST = 65536


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Where an ssh process goes: user ("" = ssh's default), host, port (None = 22)."""

    user: str
    host: str
    port: int | None

    @classmethod
    def from_uri(cls, uri: str) -> SshTarget | None:
        """The target libvirt gives ssh for ``uri``, or None for a malformed URI."""
        try:
            parts = parse_uri(uri)
        except ValidationError:
            return None
        return cls(parts.user, parts.host.strip("[]"), parts.port)

    @classmethod
    def from_argv(cls, argv: list[str]) -> SshTarget | None:
        """The target of an ``ssh`` command line as libvirt builds it (``-l``, ``-p``, ``--``)."""
        try:
            end = argv.index("--")
        except ValueError:
            return None
        if end + 1 >= len(argv):
            return None
        user, port = "", None
        for flag, value in itertools.pairwise(argv[: end + 1]):
            if flag == "-l":
                user = value
            elif flag == "-p" and value.isdigit():
                port = int(value)
        return cls(user, argv[end + 1].strip("[]"), port)


class AskpassServer:
    """Answers vmgui-askpass requests with the registered sessions (one per process)."""

    _instance: AskpassServer | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        base = os.environ.get("XDG_RUNTIME_DIR") or None
        if base is not None and not os.access(base, os.W_OK):
            base = None
        self.folder = Path(tempfile.mkdtemp(prefix=f"vmgui-askpass-{os.getpid()}-", dir=base))
        self.socket_path = self.folder / "socket"
        self.wrapper = self.folder / "askpass"
        self._token = secrets.token_hex(16)
        self._sessions: list[tuple[SshTarget, AuthSession]] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._listener.bind(str(self.socket_path))
        finally:
            os.umask(old)
        self.socket_path.chmod(0o600)
        self._listener.listen(8)
        self._write_wrapper()
        threading.Thread(target=self._serve, name="vmgui-askpass", daemon=True).start()

    @classmethod
    def instance(cls) -> AskpassServer:
        """The process's server, started (and ``SSH_ASKPASS`` set) on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
                os.environ["SSH_ASKPASS"] = str(cls._instance.wrapper)
                # libvirt does not pass this one on; set for ssh run by other means.
                os.environ["SSH_ASKPASS_REQUIRE"] = "force"
                os.environ.setdefault("DISPLAY", ":0")
            return cls._instance

    def _write_wrapper(self) -> None:
        script = Path(helper.__file__)
        self.wrapper.write_text(
            "#!/bin/sh\n"
            f"VMGUI_ASKPASS_SOCKET={shlex.quote(str(self.socket_path))} "
            f"VMGUI_ASKPASS_TOKEN={self._token} "
            f'exec {shlex.quote(sys.executable)} -I {shlex.quote(str(script))} "$@"\n'
        )
        self.wrapper.chmod(0o700)

    # -- sessions -------------------------------------------------------------------------------

    def register(self, session: AuthSession) -> None:
        """Answer the ssh of ``session.uri`` through ``session`` until :meth:`unregister`."""
        target = SshTarget.from_uri(session.uri)
        if target is None:
            return
        with self._lock:
            self._sessions.append((target, session))

    def unregister(self, session: AuthSession) -> None:
        """Stop answering for ``session``."""
        with self._lock:
            self._sessions = [(t, s) for t, s in self._sessions if s is not session]

    def _session_for(self, target: SshTarget | None) -> AuthSession | None:
        with self._lock:
            for known, session in self._sessions:
                if known == target:
                    return session
            return None

    # -- serving --------------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # pragma: no cover - the listener never closes while we run
                _log.exception("askpass server stopped")
                return
            threading.Thread(
                target=self._handle, args=(conn,), name="vmgui-askpass-req", daemon=True
            ).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                answer = self._answer(conn)
                reply = {"answer": answer} if answer is not None else {"refused": True}
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except (OSError, ValueError) as exc:
                _log.info("askpass request failed: %s", exc)

    def _answer(self, conn: socket.socket) -> str | None:
        pid, uid, _gid = struct.unpack(
            "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        )
        data = b""
        while not data.endswith(b"\n") and len(data) < _MAX_REQUEST:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        request = json.loads(data or b"{}")
        if uid != os.getuid() or not secrets.compare_digest(
            str(request.get("token", "")), self._token
        ):
            _log.warning("askpass: refused a request from pid %d (uid %d)", pid, uid)
            return None
        target = _ssh_target_of(pid)
        session = self._session_for(target)
        if session is None:
            _log.warning("askpass: no connect in progress for %s", target)
            return None
        return session.answer_askpass(str(request.get("prompt", "")))


def _ssh_target_of(pid: int) -> SshTarget | None:
    """The target of the ssh child of this process that ``pid`` descends from."""
    me = os.getpid()
    for _ in range(8):
        parent = _parent_of(pid)
        if parent is None:
            return None
        if parent == me:
            with contextlib.suppress(OSError):
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                return SshTarget.from_argv(raw.decode(errors="replace").split("\0"))
            return None
        pid = parent
    return None


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
