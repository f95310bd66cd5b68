"""An OpenSSH server on 127.0.0.1 for remote-host tests (RECIPES.md §5).

Its own ``sshd_config``, host keys (ed25519 and rsa), pid file and log live in one folder; it lets
in one dedicated test user (:data:`TEST_USER`, created if missing, in group ``libvirt``, password
:data:`TEST_PASSWORD`) with a fresh ed25519 client key or the password. The remote end of
``qemu+ssh`` / ``qemu+libssh2`` runs ``virt-ssh-helper`` (from libvirt-daemon) as that user against
a libvirt daemon, so ``qemu+ssh://vmgui-svc@127.0.0.1:PORT/system`` is that host seen remotely:
the main one by default, or any daemon socket given as ``upstream`` (e.g. the second host's).
The server runs in its own mount namespace where ``/run/libvirt`` holds a
:class:`~tests.services.groupsocket.GroupSocket` in front of that daemon (the main libvirtd would
ask polkit, which cannot work here without a system bus).

OpenSSH's ``ssh`` reads ``known_hosts`` from the home directory in the password database (never
``$HOME``) and libvirt passes no ``known_hosts`` to it, so :meth:`LoopbackSshd.uri_ssh` names a
small ``ssh`` wrapper in :attr:`LoopbackSshd.folder` (URI parameter ``command``) that runs
``/usr/bin/ssh -F`` with this server's own client config: root's ``~/.ssh`` is never read or
written. ``qemu+libssh2`` takes ``known_hosts=`` itself.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from tests.services.common import (
    ServiceUnavailableError,
    Stoppable,
    descendants,
    end_pids,
    pid_alive,
    port_open,
    remove_tree,
    require,
    wait_for,
)
from tests.services.groupsocket import MAIN_SOCKET, GroupSocket

TEST_USER = "vmgui-svc"
TEST_PASSWORD = "vmgui-svc-Pass-7"
ADDRESS = "127.0.0.1"
DEFAULT_PORT = 2222
HOST_KEY_TYPES = ("ed25519", "rsa")
_PACKAGE = "openssh-server"
_NS_SCRIPT = Path(__file__).with_name("sshd_ns.py")
_PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it (the package makes it at boot)

_WRAPPER = '#!/bin/sh\nexec /usr/bin/ssh -F "$(dirname "$0")/ssh_config" "$@"\n'


def _check_path(path: Path) -> str:
    text = str(path)
    if any(c.isspace() or c in "\"'#\\%" for c in text):
        raise ValueError(f"sshd folder must have a plain path (no blanks, quotes, # or %): {text}")
    return text


def ensure_test_user(user: str = TEST_USER, password: str = TEST_PASSWORD) -> None:
    """Create ``user`` if missing (with a home, shell /bin/sh), put it in group ``libvirt`` and
    set its password (idempotent; the user stays for later runs).

    Raises:
        ServiceUnavailableError: the tools or the ``libvirt`` group are missing.
    """
    useradd = require("useradd", "passwd")
    usermod = require("usermod", "passwd")
    chpasswd = require("chpasswd", "passwd")
    try:
        grp.getgrnam("libvirt")
    except KeyError:
        raise ServiceUnavailableError(
            "group libvirt is missing: install the Debian package libvirt-daemon-system"
        ) from None
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(
            [useradd, "--create-home", "--shell", "/bin/sh", "--groups", "libvirt", user],
            check=True,
            capture_output=True,
        )
    else:
        subprocess.run([usermod, "--append", "--groups", "libvirt", user], check=True)
    subprocess.run([chpasswd], input=f"{user}:{password}\n", text=True, check=True)


class LoopbackSshd(Stoppable):
    """A running ``sshd -D`` on 127.0.0.1 (see the module docstring); :meth:`start` makes one.

    Attributes:
        folder: its config, keys, pid file and log (removed by :meth:`stop`).
        port: the TCP port on 127.0.0.1.
        user: the test user it lets in.
        password: that user's password.
        client_key: the private ed25519 key authorised for the user (no passphrase).
        known_hosts: a file with this server's host keys of every type.
        log: sshd's log file.
    """

    def __init__(self, folder: Path, port: int, user: str, password: str) -> None:
        self.folder = folder
        self.port = port
        self.user = user
        self.password = password
        self.client_key = folder / "client_ed25519"
        self.known_hosts = folder / "known_hosts"
        self.log = folder / "sshd.log"
        self.config = folder / "sshd_config"
        self.ssh_wrapper = folder / "ssh"
        self.upstream = MAIN_SOCKET
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: GroupSocket | None = None

    @classmethod
    def start(
        cls,
        tmpdir: Path,
        port: int = DEFAULT_PORT,
        *,
        user: str = TEST_USER,
        password: str = TEST_PASSWORD,
        upstream: Path = MAIN_SOCKET,
        timeout: float = 10.0,
    ) -> LoopbackSshd:
        """Start an sshd on ``127.0.0.1:port`` with its files in ``tmpdir/sshd-PORT``.

        Args:
            tmpdir: where its folder is made (any mode: the test user never reads it).
            port: the TCP port on 127.0.0.1.
            user: the test user (created if missing).
            password: the password set for it.
            upstream: the libvirt daemon socket the remote end reaches as ``qemu:///system``.
            timeout: seconds to wait for it to listen.

        Raises:
            ServiceUnavailableError: not root, a package is missing, or the port is taken.
        """
        if os.geteuid() != 0:
            raise ServiceUnavailableError("the loopback sshd needs root (it switches users)")
        sshd = require("/usr/sbin/sshd", _PACKAGE)
        keygen = require("ssh-keygen", "openssh-client")
        require("ssh", "openssh-client")
        require("virt-ssh-helper", "libvirt-daemon")
        unshare = require("unshare", "util-linux")
        require("mount", "mount")
        if port_open(ADDRESS, port):
            raise ServiceUnavailableError(f"{ADDRESS}:{port} is taken: another sshd running?")
        server = cls(tmpdir / f"sshd-{port}", port, user, password)
        server.upstream = upstream
        try:
            ensure_test_user(user, password)
            server._write_files(keygen)
            server._socket = GroupSocket.start(server.folder / "run", upstream)
            server._run(unshare, sshd, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _keygen(self, keygen: str, kind: str, path: Path) -> None:
        subprocess.run(
            [keygen, "-q", "-t", kind, "-N", "", "-C", f"vmgui-svc-{kind}", "-f", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
        )

    def _write_files(self, keygen: str) -> None:
        folder = _check_path(self.folder)
        self.folder.mkdir(parents=True, mode=0o700)
        for kind in HOST_KEY_TYPES:
            self._keygen(keygen, kind, self.folder / f"ssh_host_{kind}_key")
        self._keygen(keygen, "ed25519", self.client_key)
        (self.folder / "authorized_keys").write_text(
            self.client_key.with_suffix(".pub").read_text()
        )
        self.known_hosts.write_text(
            "".join(self.known_hosts_line(k) + "\n" for k in HOST_KEY_TYPES)
        )
        host_keys = "".join(f"HostKey {folder}/ssh_host_{k}_key\n" for k in HOST_KEY_TYPES)
        self.config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {ADDRESS}\n"
            f"{host_keys}"
            f"PidFile {folder}/sshd.pid\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "PermitRootLogin no\n"
            f"AllowUsers {self.user}\n"
            # Read as root: the user need not reach this folder (pytest's are 0700).
            "AuthorizedKeysFile none\n"
            f"AuthorizedKeysCommand /usr/bin/cat {folder}/authorized_keys\n"
            "AuthorizedKeysCommandUser root\n"
            "LogLevel VERBOSE\n"
        )
        (self.folder / "ssh_config").write_text(
            "Host *\n"
            f"  UserKnownHostsFile {folder}/known_hosts\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            f"  IdentityFile {self.client_key}\n"
            "  IdentitiesOnly yes\n"
        )
        self.ssh_wrapper.write_text(_WRAPPER)
        self.ssh_wrapper.chmod(0o755)

    def _run(self, unshare: str, sshd: str, timeout: float) -> None:
        _PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        check = subprocess.run([sshd, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise ServiceUnavailableError(f"sshd refused its config: {check.stderr.strip()}")
        assert self._socket is not None
        self._process = subprocess.Popen(
            [
                unshare,
                "--mount",
                "--propagation",
                "private",
                "--",
                sys.executable,
                "-I",
                str(_NS_SCRIPT),
                str(self._socket.path.parent),
                sshd,
                "-D",
                "-f",
                str(self.config),
                "-E",
                str(self.log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process
        if not wait_for(
            lambda: port_open(ADDRESS, self.port) or process.poll() is not None, timeout
        ):
            raise ServiceUnavailableError(f"sshd did not listen on {self.port}: {self._log_tail()}")
        if process.poll() is not None:
            raise ServiceUnavailableError(f"sshd exited ({process.returncode}): {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip()[-800:]
        except OSError:
            return "(no log)"

    # -- use --------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The listening sshd's pid while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def known_hosts_line(self, key_type: str = "ed25519", port: int | None = None) -> str:
        """This server's ``known_hosts`` line for one host key type (``ed25519`` or ``rsa``).

        ``port``: the port the client dials, if not :attr:`port` (a relay in front of it).
        """
        public = (self.folder / f"ssh_host_{key_type}_key.pub").read_text().split()
        return f"[{ADDRESS}]:{port or self.port} {public[0]} {public[1]}"

    def trust_port(self, port: int) -> None:
        """Also trust this server's host keys at ``127.0.0.1:port`` in :attr:`known_hosts`."""
        lines = "".join(self.known_hosts_line(k, port) + "\n" for k in HOST_KEY_TYPES)
        with self.known_hosts.open("a") as out:
            out.write(lines)

    def uri_ssh(
        self, *, no_tty: bool = True, port: int | None = None, path: str = "/system", **params: str
    ) -> str:
        """A ``qemu+ssh`` URI for the test user with the client key and this server's host keys.

        ``no_tty=True`` adds ``no_tty=1`` (BatchMode: key only, no prompt). ``command`` names the
        ``ssh`` wrapper that reads :attr:`known_hosts`. ``port``: dial another port (a relay; see
        :meth:`trust_port`). Extra ``params`` (e.g. ``proxy="native"``) override or add.
        """
        query = {"keyfile": str(self.client_key), "command": str(self.ssh_wrapper)}
        if no_tty:
            query["no_tty"] = "1"
        return self._uri("ssh", port, path, {**query, **params})

    def uri_libssh2(self, *, port: int | None = None, path: str = "/system", **params: str) -> str:
        """A ``qemu+libssh2`` URI with the ed25519 client key and :attr:`known_hosts`.

        Pass e.g. ``sshauth="password"`` or another ``known_hosts=`` to override.
        """
        query = {
            "keyfile": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "sshauth": "privkey",
        }
        return self._uri("libssh2", port, path, {**query, **params})

    def _uri(self, transport: str, port: int | None, path: str, query: dict[str, str]) -> str:
        joined = "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items())
        return f"qemu+{transport}://{self.user}@{ADDRESS}:{port or self.port}{path}?{joined}"

    def connection_pids(self) -> list[int]:
        """The processes serving live connections (every descendant of the listener)."""
        return [] if self.pid is None else descendants(self.pid)

    def kill_connections(self) -> int:
        """Cut every live link at once (SIGKILL their sshd processes); the listener stays.

        Returns:
            How many processes were killed.
        """
        pids = self.connection_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(pid_alive(p) for p in pids), 5.0)
        return len(pids)

    def stop(self) -> None:
        """End the server and its connections and remove its folder (idempotent)."""
        pids = self.connection_pids()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(5)
            self._process = None
        end_pids(pids, grace=2.0)
        if self._socket is not None:
            self._socket.stop()
            self._socket = None
        remove_tree(self.folder)
