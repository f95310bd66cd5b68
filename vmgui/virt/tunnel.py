"""SSH tunnels to a remote host's VNC displays: ``ssh -W`` over one multiplexed session per host.

A console on an ssh host (and, when the user takes the offer, on a tcp/tls host whose display
listens on its loopback only) reaches the display with OpenSSH's stdio forwarding: ``ssh -W
ADDRESS:PORT``, whose stdin and stdout are one end of a socketpair; the RFB session speaks over
the other end (:class:`Tunnel.socket`).

**One SSH session per host.** The first tunnel to a host starts a *master* (``ssh -M -N``,
its ControlPath in a private 0700 folder); every forward is a mux client of it
(``ControlMaster=no``, ``BatchMode=yes``: it never asks anything, the master did). The master
logs in as libvirt's ssh does for the URI (:func:`~vmgui.core.consoleroute.ssh_endpoint`:
user, port, ``keyfile``, ``known_hosts``, ``no_verify``, ``no_tty``, ``command``) and asks its
questions through vmgui's askpass helper (:mod:`vmgui.virt.askpass`), so host keys and
passwords reach vmgui's dialogs; ``StrictHostKeyChecking`` is left to ssh's configuration
as libvirt leaves it (``no`` only for ``no_verify=1``): an unknown key is asked, never
accepted silently. OpenSSH's ``ControlPersist`` is not used: it forks the master into the
background, out of vmgui's reach (never reaped by it); vmgui keeps the master as its own child
instead and ends it :data:`LINGER` seconds after its last tunnel closed (a reboot's reconnect
reuses it).

Every ssh is started with an argv list (never a shell), in a new session (no controlling
terminal: ssh cannot prompt on one), and is always reaped: a thread per child waits for it and
reads its stderr (the error shown when it fails). :meth:`SshTunnels.close` ends them all; an
``atexit`` hook ends whatever is left when the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from vmgui.core.consoleroute import SSH_TRANSPORTS, SshEndpoint, uri_transport
from vmgui.core.errors import VmguiError
from vmgui.virt.askpass import AskpassServer
from vmgui.virt.credentials import AuthSession, CredentialAsker
from vmgui.virt.passwords import SecretStore

_log = logging.getLogger(__name__)

#: Seconds a host's SSH session stays up after its last tunnel closed.
LINGER = 10.0
#: Seconds a login may take, not counting the time a question waits for the user.
CONNECT_TIMEOUT = 20.0
#: Seconds a probe for an SSH server may take (:func:`ssh_unavailable`).
PROBE_TIMEOUT = 3.0
_POLL = 0.02
_STOP_GRACE = 2.0
INSTALL_HINT = "Install the Debian package openssh-client."


def _common_options(endpoint: SshEndpoint) -> list[str]:
    """The login options both the master and its clients get (as libvirt's ssh would)."""
    argv: list[str] = []
    if endpoint.user:
        argv += ["-l", endpoint.user]
    if endpoint.port is not None:
        argv += ["-p", str(endpoint.port)]
    if endpoint.keyfile:
        argv += ["-i", endpoint.keyfile]
    if endpoint.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={endpoint.known_hosts}"]
    if endpoint.no_verify:
        argv += ["-o", "StrictHostKeyChecking=no"]
    return argv


def master_argv(endpoint: SshEndpoint, control_path: str) -> list[str]:
    """The master: logs in, holds the session, runs no command (``-N``)."""
    argv = [endpoint.command, *_common_options(endpoint)]
    if endpoint.batch:
        argv += ["-o", "BatchMode=yes"]
    return [
        *argv,
        "-M",
        "-N",
        "-T",
        "-S",
        control_path,
        "-o",
        "ControlPersist=no",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        f"ConnectTimeout={CONNECT_TIMEOUT:.0f}",
        "-o",
        "LogLevel=ERROR",
        "--",
        endpoint.host,
    ]


def forward_argv(endpoint: SshEndpoint, control_path: str, address: str, port: int) -> list[str]:
    """A mux client of the master: stdio forwarded to ``address:port`` as the host sees it."""
    target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return [
        endpoint.command,
        *_common_options(endpoint),
        "-S",
        control_path,
        "-o",
        "ControlMaster=no",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        "-W",
        target,
        "--",
        endpoint.host,
    ]


# -- children ------------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[_Child] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class _Child:
    """An ssh process, reaped by a thread of its own; ``done`` resolves on the loop."""

    def __init__(
        self, argv: list[str], loop: asyncio.AbstractEventLoop, stdio: int | IO[bytes] | None
    ) -> None:
        self.argv = argv
        self.stderr = ""
        self.returncode: int | None = None
        self.done: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self.proc = subprocess.Popen(
            argv,
            stdin=stdio if stdio is not None else subprocess.DEVNULL,
            stdout=stdio if stdio is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        threading.Thread(target=self._reap, name=f"ssh-reaper-{self.pid}", daemon=True).start()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    @property
    def running(self) -> bool:
        """Whether the process has not been reaped yet."""
        return not self.done.done()

    def _reap(self) -> None:
        stream = self.proc.stderr
        data = stream.read() if stream is not None else b""
        if stream is not None:
            stream.close()
        code = self.proc.wait()
        with _LIVE_LOCK:
            _LIVE.discard(self)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._finish, code, data)

    def _finish(self, code: int, data: bytes) -> None:
        self.returncode = code
        self.stderr = data.decode(errors="replace").strip()
        if not self.done.done():
            self.done.set_result(None)

    def stop(self) -> None:
        """SIGTERM it (the reaper reaps it)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()

    async def wait(self, timeout: float = _STOP_GRACE) -> None:
        """Await the reaper; SIGKILL after ``timeout`` s."""
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await asyncio.shield(self.done)

    def failure(self) -> str:
        """ssh's last error line, else its exit status."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
        return f"ssh exited with status {self.returncode}"


@atexit.register
def _stop_leftovers() -> None:
    """At exit: end every ssh child still running (a master of a window never closed)."""
    with _LIVE_LOCK:
        children = list(_LIVE)
    for child in children:
        child.stop()
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(1.0)


# -- tunnels -------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Master:
    endpoint: SshEndpoint
    control_path: Path
    child: _Child
    users: int = 0
    linger: asyncio.TimerHandle | None = None
    forwards: set[_Child] = field(default_factory=set)


class Tunnel:
    """One forwarded connection: :attr:`socket` is the display's byte stream.

    Args:
        sock: our end of the socketpair (non-blocking).
        child: the ``ssh -W`` process holding the other end.
    """

    def __init__(self, sock: socket.socket, child: _Child) -> None:
        self.socket = sock
        self._child = child

    @property
    def pid(self) -> int:
        """The forwarding ssh's process id."""
        return self._child.pid

    def release(self) -> None:
        """End the forward (the RFB session closed): close the socket, stop its ssh."""
        with contextlib.suppress(OSError):
            self.socket.close()
        self._child.stop()

    async def failure(self, timeout: float = 1.0) -> str:
        """Why the forward ended, if it has ended within ``timeout`` s ("" if it still runs)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._child.done), timeout)
        return self._child.failure() if not self._child.running else ""


class SshTunnels:
    """The tunnels of this process: one SSH master per host, forwards multiplexed over it.

    Args:
        asker: answers the masters' host-key and password questions (vmgui's dialogs), or
            None to refuse them.
        secrets: saved passwords (read, and written when the user asks), or None.
        linger: seconds a master outlives its last tunnel.
        connect_timeout: seconds a login may take, not counting questions on screen.
    """

    def __init__(
        self,
        asker: CredentialAsker | None,
        secrets: SecretStore | None = None,
        *,
        linger: float = LINGER,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._asker = asker
        self._secrets = secrets
        self._linger = linger
        self._timeout = connect_timeout
        self._folder: Path | None = None
        self._count = 0
        self._masters: dict[SshEndpoint, _Master] = {}
        self._starting: dict[SshEndpoint, asyncio.Future[_Master]] = {}

    def pids(self) -> list[int]:
        """Every ssh child still running (masters and forwards)."""
        pids = []
        for master in self._masters.values():
            pids += [c.pid for c in (master.child, *master.forwards) if c.running]
        return pids

    async def open(self, endpoint: SshEndpoint, address: str, port: int, *, uri: str) -> Tunnel:
        """A forward to ``address:port`` as the host of ``endpoint`` sees it.

        Args:
            endpoint: how to log in to the host.
            address: the display's address on the host (e.g. 127.0.0.1).
            port: its TCP port.
            uri: the host's libvirt URI (saved passwords and the dialogs' title).

        Raises:
            VmguiError: ssh is missing, the login failed or was refused, or timed out.
        """
        master = await self._master(endpoint, uri)
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            argv = forward_argv(endpoint, str(master.control_path), address, port)
            child = await asyncio.to_thread(_Child, argv, loop, theirs.fileno())
        except OSError as exc:
            ours.close()
            self._linger_if_unused(master)
            summary = f"Could not open an SSH tunnel to {endpoint.label}"
            raise VmguiError(summary, str(exc)) from None
        finally:
            theirs.close()
        ours.setblocking(False)
        master.users += 1
        master.forwards.add(child)
        if master.linger is not None:
            master.linger.cancel()
            master.linger = None
        child.done.add_done_callback(lambda _f: self._forward_done(master, child))
        _log.info("ssh tunnel to %s:%d on %s (pid %d)", address, port, endpoint.label, child.pid)
        return Tunnel(ours, child)

    async def close(self) -> None:
        """End every master and forward and wait until they are reaped."""
        for future in self._starting.values():
            future.cancel()
        children = []
        for master in self._masters.values():
            if master.linger is not None:
                master.linger.cancel()
            children += [master.child, *master.forwards]
        self._masters.clear()
        for child in children:
            child.stop()
        for child in children:
            await child.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    # -- masters ---------------------------------------------------------------------------------

    async def _master(self, endpoint: SshEndpoint, uri: str) -> _Master:
        master = self._masters.get(endpoint)
        if master is not None and master.child.running:
            return master
        starting = self._starting.get(endpoint)
        if starting is None:
            task = asyncio.ensure_future(self._start_master(endpoint, uri))
            self._starting[endpoint] = task
            task.add_done_callback(lambda _t: self._starting.pop(endpoint, None))
            starting = task
        return await asyncio.shield(starting)

    def _control_path(self) -> Path:
        if self._folder is None:
            base = os.environ.get("XDG_RUNTIME_DIR") or None
            if base is not None and not os.access(base, os.W_OK):
                base = None
            self._folder = Path(tempfile.mkdtemp(prefix="vmgui-ssh-", dir=base))  # 0700
        self._count += 1
        return self._folder / f"c{self._count}"

    async def _start_master(self, endpoint: SshEndpoint, uri: str) -> _Master:
        summary = f"Could not open an SSH tunnel to {endpoint.label}"
        if shutil.which(endpoint.command) is None:
            raise VmguiError(summary, f"{endpoint.command} is not installed", INSTALL_HINT)
        loop = asyncio.get_running_loop()
        session = AuthSession(_session_uri(uri, endpoint), self._asker, loop, self._secrets)
        # On the loop's thread, before ssh starts: sets SSH_ASKPASS once (askpass.py).
        askpass = AskpassServer.instance() if self._asker is not None else None
        if askpass is not None:
            askpass.register(session)
        path = self._control_path()
        child: _Child | None = None
        try:
            child = await asyncio.to_thread(_Child, master_argv(endpoint, str(path)), loop, None)
            waited = 0.0
            while not path.exists():
                if not child.running:
                    detail = session.failure or child.failure()
                    raise VmguiError(summary, detail, _LOGIN_HINT)
                if waited >= self._timeout:
                    raise VmguiError(
                        summary, f"no SSH session within {self._timeout:.0f} s", _LOGIN_HINT
                    )
                await asyncio.sleep(_POLL)
                if not session.prompting:
                    waited += _POLL
        except BaseException:
            session.cancel()
            if child is not None:
                child.stop()
            raise
        finally:
            if askpass is not None:
                askpass.unregister(session)
        await asyncio.to_thread(session.remember_password)
        master = _Master(endpoint, path, child)
        self._masters[endpoint] = master
        child.done.add_done_callback(lambda _f: self._master_done(master))
        _log.info("ssh session to %s (pid %d)", endpoint.label, child.pid)
        return master

    def _forward_done(self, master: _Master, child: _Child) -> None:
        master.forwards.discard(child)
        master.users -= 1
        self._linger_if_unused(master)

    def _linger_if_unused(self, master: _Master) -> None:
        """A master without tunnels ends after the linger time (unless one comes)."""
        if master.users or master.linger is not None or not master.child.running:
            return
        if self._masters.get(master.endpoint) is master:
            loop = asyncio.get_running_loop()
            master.linger = loop.call_later(self._linger, self._retire, master)

    def _retire(self, master: _Master) -> None:
        master.linger = None
        if master.users == 0:
            _log.info("ssh session to %s ends (no tunnel left)", master.endpoint.label)
            master.child.stop()

    def _master_done(self, master: _Master) -> None:
        if self._masters.get(master.endpoint) is master:
            del self._masters[master.endpoint]
        with contextlib.suppress(OSError):
            master.control_path.unlink()
        if master.child.returncode not in (0, -15):
            _log.info("ssh session to %s ended: %s", master.endpoint.label, master.child.failure())


_LOGIN_HINT = "Check the user name, key, password and host key for this host, then retry."


def _session_uri(uri: str, endpoint: SshEndpoint) -> str:
    """The URI the askpass questions are asked for: the host's own for an ssh URI (its saved
    password applies; askpass matches the master by its ``-l``/``-p``/host, which come from
    it), else an ssh URI naming the tunnel's login."""
    if uri_transport(uri) in SSH_TRANSPORTS:
        return uri
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    login = f"{endpoint.user}@{host}" if endpoint.user else host
    return f"qemu+ssh://{login}/system"


async def ssh_unavailable(endpoint: SshEndpoint, port: int = 22) -> str:
    """Why an SSH tunnel to ``endpoint`` cannot be offered, or "" when an SSH server answers.

    Checks that the ssh program is installed and that ``host:port`` sends an SSH banner.
    """
    if shutil.which(endpoint.command) is None:
        return f"{endpoint.command} is not installed here"
    where = f"{endpoint.host}:{endpoint.port or port}"

    async def banner() -> bytes:
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port or port)
        try:
            return await reader.readline()
        finally:
            writer.close()

    try:
        line = await asyncio.wait_for(banner(), PROBE_TIMEOUT)
    except TimeoutError:
        return f"no SSH server answers on {where} within {PROBE_TIMEOUT:g} s"
    except OSError as exc:
        code = exc.errno or 0
        why = os.strerror(code) if code > 0 else (exc.strerror or str(exc))
        return f"no SSH server answers on {where} ({why})"
    if not line.startswith(b"SSH-"):
        return f"{where} does not speak SSH"
    return ""
