"""A real Secret Service for headless tests: gnome-keyring on a private D-Bus session bus.

RECIPES.md §6: ``dbus-daemon --session`` on a socket in the service's folder, then
``gnome-keyring-daemon --foreground --unlock --components=secrets`` with the password on stdin
(it creates and unlocks a ``login`` keyring in a fresh ``XDG_DATA_HOME``). :meth:`start` returns
only once the daemon owns ``org.freedesktop.secrets`` — a client call before that would make
D-Bus activate a second, locked daemon. :attr:`SecretService.env` holds what a client process
needs (``DBUS_SESSION_BUS_ADDRESS``, ``XDG_RUNTIME_DIR``, ``XDG_DATA_HOME``); a client uses the
``keyring.backends.SecretService.Keyring`` backend directly (never ``keyring.get_keyring()``: with
``keyrings.alt`` installed and no bus it silently writes secrets to a plain file).

Use::

    with SecretService.start(tmp_path) as service:
        subprocess.run([sys.executable, "-c", CLIENT], env={**os.environ, **service.env})
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.services.common import (
    ServiceUnavailableError,
    Stoppable,
    descendants,
    end_pids,
    remove_tree,
    require,
    wait_for,
)

BUS_NAME = "org.freedesktop.secrets"
DEFAULT_PASSWORD = "vmgui-svc-keyring"


class SecretService(Stoppable):
    """A running bus + gnome-keyring (see the module docstring); :meth:`start` makes one.

    Attributes:
        folder: the bus socket, runtime and data folders (removed by :meth:`stop`).
        bus_socket: the session bus's socket file.
        env: the environment a client process needs.
        password: the ``login`` keyring's password.
    """

    def __init__(self, folder: Path, password: str) -> None:
        self.folder = folder
        self.password = password
        self.bus_socket = folder / "bus"
        self.runtime = folder / "runtime"
        self.data = folder / "data"
        self.env = {
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.bus_socket}",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_DATA_HOME": str(self.data),
        }
        self._bus: subprocess.Popen[bytes] | None = None
        self._keyring: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(
        cls, tmpdir: Path, password: str = DEFAULT_PASSWORD, timeout: float = 10.0
    ) -> SecretService:
        """Start the bus and the keyring daemon with their files in ``tmpdir/secret-service``.

        Raises:
            ServiceUnavailableError: a package is missing or the service did not come up.
        """
        dbus_daemon = require("dbus-daemon", "dbus-daemon")
        dbus_send = require("dbus-send", "dbus-bin")
        gnome_keyring = require("gnome-keyring-daemon", "gnome-keyring")
        service = cls(tmpdir / "secret-service", password)
        try:
            service._run(dbus_daemon, dbus_send, gnome_keyring, timeout)
        except BaseException:
            service.stop()
            raise
        return service

    def _child_env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "HOME", "USER", "LOGNAME")
        return {**{k: v for k, v in os.environ.items() if k in keep}, **self.env}

    def _run(self, dbus_daemon: str, dbus_send: str, gnome_keyring: str, timeout: float) -> None:
        self.folder.mkdir(mode=0o700, parents=True)
        self.runtime.mkdir(mode=0o700)
        self.data.mkdir(mode=0o700)
        env = self._child_env()
        with (self.folder / "dbus.log").open("ab") as log:
            self._bus = subprocess.Popen(
                [
                    dbus_daemon,
                    "--session",
                    "--nofork",
                    "--nopidfile",
                    f"--address={self.env['DBUS_SESSION_BUS_ADDRESS']}",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        bus = self._bus
        if not wait_for(lambda: self.bus_socket.exists() or bus.poll() is not None, timeout):
            raise ServiceUnavailableError(f"dbus-daemon made no socket within {timeout} s")
        if bus.poll() is not None:
            raise ServiceUnavailableError(f"dbus-daemon exited: {self._log_tail('dbus')}")
        with (self.folder / "keyring.log").open("ab") as log:
            self._keyring = subprocess.Popen(
                [gnome_keyring, "--foreground", "--unlock", "--components=secrets"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        assert self._keyring.stdin is not None
        self._keyring.stdin.write(self.password.encode())
        self._keyring.stdin.close()
        keyring = self._keyring

        def owned() -> bool:
            if keyring.poll() is not None:
                return True
            return self.name_has_owner(dbus_send)

        if not wait_for(owned, timeout, interval=0.05) or keyring.poll() is not None:
            raise ServiceUnavailableError(
                f"gnome-keyring-daemon did not take {BUS_NAME} within {timeout} s: "
                f"{self._log_tail('keyring')}"
            )

    def name_has_owner(self, dbus_send: str = "dbus-send") -> bool:
        """Whether something owns ``org.freedesktop.secrets`` on this bus now."""
        done = subprocess.run(
            [
                dbus_send,
                f"--bus={self.env['DBUS_SESSION_BUS_ADDRESS']}",
                "--dest=org.freedesktop.DBus",
                "--type=method_call",
                "--print-reply",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                f"string:{BUS_NAME}",
            ],
            env=self._child_env(),
            capture_output=True,
            text=True,
        )
        return done.returncode == 0 and "boolean true" in done.stdout

    def _log_tail(self, name: str) -> str:
        try:
            text = (self.folder / f"{name}.log").read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        return text[-800:] or "(no output)"

    def pids(self) -> list[int]:
        """The bus, the keyring daemon and anything they started, while running."""
        found: set[int] = set()
        for process in (self._bus, self._keyring):
            if process is not None and process.poll() is None:
                found |= {process.pid, *descendants(process.pid)}
        return sorted(found)

    def stop(self) -> None:
        """End the keyring daemon, the bus and what the bus started; remove the folder
        (idempotent)."""
        end_pids(self.pids(), grace=3.0)
        for process in (self._keyring, self._bus):
            if process is not None:
                process.wait(5)
        self._keyring = self._bus = None
        remove_tree(self.folder)
