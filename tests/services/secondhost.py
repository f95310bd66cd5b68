"""A second real libvirt host on this machine (RECIPES.md §1).

``libvirtd`` + ``virtlogd`` run in their own mount and UTS namespace: fresh folders under one state
dir replace ``/run/libvirt``, ``/var/lib/libvirt``, ``/etc/libvirt``, ``/var/log/libvirt`` and
``/var/cache/libvirt``, private cgroup subtrees replace each hierarchy's root, the host name is
:data:`HOSTNAME`, and the daemon has its own host UUID. It listens on ``qemu+tcp`` at
127.0.0.1:16519 (``auth_tcp="none"``: test machines only), migrates through 127.0.0.2 on ports
outside the main daemon's, and has an active ``default`` dir pool at ``/var/lib/libvirt/images``
(inside the namespace; :meth:`SecondHost.outside` maps such a path to where it is on this
machine). Needs root.

Use::

    host = SecondHost.start(Path("/var/lib/vmgui-svc-secondhost"), seed_files=[tiny_image])
    try:
        conn = open_connection(host.uri_tcp)
        ...
    finally:
        host.stop()
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import libvirt

from tests.services.common import (
    ServiceUnavailableError,
    Stoppable,
    end_pids,
    pid_alive,
    port_open,
    read_pid,
    remove_tree,
    require,
    wait_for,
)
from tests.services.secondhost_ns import BINDS
from vmgui.virt.events import ensure_event_loop

HOSTNAME = "vmgui-svc-host2"
TCP_ADDRESS = "127.0.0.1"
TCP_PORT = 16519
MIGRATION_HOST = "127.0.0.2"
#: Port ranges away from the main daemon's, which hands them out from the bottom of its defaults
#: (migration 49152-49215, VNC from 5900, websockets from 5700).
MIGRATION_PORTS = (49400, 49463)
DISPLAY_PORTS = (6900, 6999)
WEBSOCKET_PORTS = (6800, 6899)
IMAGES = "/var/lib/libvirt/images"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")
_NS_SCRIPT = Path(__file__).with_name("secondhost_ns.py")
_SUBDIRS = ("run", "lib", "etc", "log", "cache")
_PACKAGE = "libvirt-daemon-system"

_DEFAULT_POOL = (
    "<pool type='dir'>\n"
    "  <name>default</name>\n"
    f"  <target><path>{IMAGES}</path>\n"
    "    <permissions><mode>0755</mode></permissions>\n"
    "  </target>\n"
    "</pool>\n"
)


def open_connection(uri: str) -> libvirt.virConnect:
    """``libvirt.open(uri)`` after registering the event loop (vmgui needs it before any open)."""
    ensure_event_loop()
    return libvirt.open(uri)


def _libvirtd_conf(host_uuid: str, tcp_port: int, settings: Mapping[str, str | int]) -> str:
    values: dict[str, str | int] = {
        "listen_tls": 0,
        "listen_tcp": 1,
        "listen_addr": TCP_ADDRESS,
        "tcp_port": str(tcp_port),
        "auth_tcp": "none",
        "unix_sock_rw_perms": "0700",
        "host_uuid": host_uuid,
        "log_outputs": "3:file:/var/log/libvirt/libvirtd.log",
    }
    values.update(settings)
    return "".join(
        f"{key} = {value}\n" if isinstance(value, int) else f'{key} = "{value}"\n'
        for key, value in values.items()
    )


def _qemu_conf() -> str:
    return (
        f'migration_host = "{MIGRATION_HOST}"\n'
        f"migration_port_min = {MIGRATION_PORTS[0]}\n"
        f"migration_port_max = {MIGRATION_PORTS[1]}\n"
        f"remote_display_port_min = {DISPLAY_PORTS[0]}\n"
        f"remote_display_port_max = {DISPLAY_PORTS[1]}\n"
        f"remote_websocket_port_min = {WEBSOCKET_PORTS[0]}\n"
        f"remote_websocket_port_max = {WEBSOCKET_PORTS[1]}\n"
    )


def cgroup_hierarchies() -> list[Path]:
    """The cgroup v1 and v2 hierarchies mounted under /sys/fs/cgroup on this machine."""
    found: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fstype = post.split()[0] if post else ""
        mount_point = Path(pre.split()[4])
        if fstype in ("cgroup", "cgroup2") and mount_point.parent == CGROUP_ROOT:
            found.append(mount_point)
    return found


class SecondHost(Stoppable):
    """A running second libvirtd (see the module docstring); :meth:`start` makes one.

    Attributes:
        state_dir: where all its state lives (removed by :meth:`stop`).
        hostname: what its ``getHostname()`` answers.
        host_uuid: the host UUID it reports (differs from the main daemon's).
        tcp_port: its TCP port on 127.0.0.1 (16519 unless started with another).
        uri_tcp: ``qemu+tcp://127.0.0.1:16519/system``.
        uri_unix: its Unix socket (root only), for set-up without the TCP listener.
        images: the ``default`` pool's folder on this machine (``/var/lib/libvirt/images`` inside).
    """

    #: How errors name this kind of host ("the second libvirt host did not start").
    KIND = "second"

    def __init__(
        self,
        state_dir: Path,
        hostname: str = HOSTNAME,
        host_uuid: str = "",
        tcp_port: int = TCP_PORT,
        settings: Mapping[str, str | int] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.tcp_port = tcp_port
        self.settings = dict(settings or {})
        self.environ = dict(environ or {})
        self.hostname = hostname
        self.host_uuid = host_uuid
        self.uri_tcp = f"qemu+tcp://{TCP_ADDRESS}:{tcp_port}/system"
        self.uri_unix = f"qemu+unix:///system?socket={self.state_dir / 'run' / 'libvirt-sock'}"
        self.images = self.state_dir / "lib" / "images"
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10]
        self.cgroup_name = f"vmgui-svc-{digest}"
        self._stopped = False

    # -- start ------------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        hostname: str = HOSTNAME,
        seed_files: Iterable[Path] = (),
        tcp_port: int = TCP_PORT,
        settings: Mapping[str, str | int] | None = None,
        environ: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> SecondHost:
        """Start a second host with its state in ``state_dir`` (made afresh).

        A stale instance of an earlier run with the same ``state_dir`` (processes, cgroups,
        files) is ended and removed first. On any failure everything started is removed again.

        Args:
            state_dir: the folder for all its state; it must not hold anything else.
            hostname: its host name.
            seed_files: files copied into its ``default`` pool (e.g. the tiny guest image).
            tcp_port: its TCP port on 127.0.0.1.
            settings: ``libvirtd.conf`` settings over the defaults (e.g. ``listen_tls``);
                ints are written bare, strings quoted.
            environ: extra environment of the daemons (e.g. ``SASL_CONF_PATH``).
            timeout: seconds to wait for the daemon to listen.

        Raises:
            ServiceUnavailableError: not root, a binary is missing, the port is taken, or the
                daemon did not come up (the message says which, with its log's tail).
        """
        if os.geteuid() != 0:
            raise ServiceUnavailableError("the second libvirt host needs root")
        binaries = [
            require("unshare", "util-linux"),
            require("mount", "mount"),
            require("libvirtd", _PACKAGE),
            require("virtlogd", _PACKAGE),
        ]
        host = cls(state_dir, hostname, str(uuid.uuid4()), tcp_port, settings, environ)
        host.stop()  # a crashed run's leftovers
        host._stopped = False
        if port_open(TCP_ADDRESS, tcp_port):
            raise ServiceUnavailableError(
                f"{TCP_ADDRESS}:{tcp_port} is taken by another process: a second libvirt host "
                "started with another state dir? (stop it first)"
            )
        try:
            host._prepare(list(seed_files))
            host._launch(binaries[2], binaries[3], timeout)
            host._define_default_pool()
        except BaseException:
            host.stop()
            raise
        return host

    def _prepare(self, seed_files: list[Path]) -> None:
        self.state_dir.mkdir(mode=0o755, parents=True)
        self.state_dir.chmod(0o755)  # qemu (libvirt-qemu) must reach the images
        for sub in (*_SUBDIRS, "pids"):
            (self.state_dir / sub).mkdir(mode=0o755)
        (self.state_dir / "etc" / "libvirtd.conf").write_text(
            _libvirtd_conf(self.host_uuid, self.tcp_port, self.settings)
        )
        (self.state_dir / "etc" / "qemu.conf").write_text(_qemu_conf())
        caps = self.state_dir / "cache" / "qemu" / "capabilities"
        caps.mkdir(parents=True)
        for cached in CAPS_CACHE.glob("*.xml"):  # first capabilities call 0.1 s, not 8 s
            shutil.copy2(cached, caps / cached.name)
        self.images.mkdir(mode=0o755)
        for seed in seed_files:
            target = self.images / seed.name
            shutil.copyfile(seed, target)
            target.chmod(0o644)
        for hierarchy in cgroup_hierarchies():
            subtree = hierarchy / self.cgroup_name
            subtree.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset children start empty
                if (subtree / name).exists():
                    (subtree / name).write_text((hierarchy / name).read_text())

    def _namespace_command(self) -> list[str]:
        """What runs in the new namespaces, before the script's arguments (a subclass may put
        a wrapper first)."""
        return [sys.executable, "-I", str(_NS_SCRIPT)]

    def _hierarchies(self) -> list[str]:
        """The cgroup hierarchies the daemon gets subtrees in."""
        return [str(h) for h in cgroup_hierarchies()]

    def _launch(self, libvirtd: str, virtlogd: str, timeout: float) -> None:
        argv = [
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
            *self._namespace_command(),
            str(self.state_dir),
            self.hostname,
            self.cgroup_name,
            virtlogd,
            libvirtd,
            *self._hierarchies(),
        ]
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.environ},
        )
        if done.returncode != 0:
            raise ServiceUnavailableError(
                f"the {self.KIND} libvirt host did not start (exit {done.returncode}): "
                f"{done.stderr.strip()[-800:]}{self._log_tail()}"
            )
        if not wait_for(lambda: port_open(TCP_ADDRESS, self.tcp_port), timeout):
            raise ServiceUnavailableError(
                f"the {self.KIND} libvirtd is not listening on {TCP_ADDRESS}:{self.tcp_port} after "
                f"{timeout} s{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            text = (self.state_dir / "log" / "libvirtd.log").read_text(errors="replace")
        except OSError:
            return ""
        return "; libvirtd.log: " + text.strip()[-800:] if text.strip() else ""

    def _define_default_pool(self) -> None:
        conn = open_connection(self.uri_unix)
        try:
            pool = conn.storagePoolDefineXML(_DEFAULT_POOL, 0)
            pool.create(0)
            pool.setAutostart(1)
        finally:
            conn.close()

    # -- use --------------------------------------------------------------------------------------

    def outside(self, inside: str) -> Path:
        """Where a path inside the namespace (e.g. a volume of the default pool) is here."""
        for sub, target in BINDS.items():
            if inside == target or inside.startswith(target + "/"):
                return self.state_dir / sub / inside[len(target) :].lstrip("/")
        return Path(inside)  # not private: the same file on both hosts

    def pids(self) -> list[int]:
        """Every live process of the host: its daemons (pid files), whatever runs in its mount
        namespace, and whatever sits in its cgroup subtrees — its guests' QEMUs, which libvirt
        runs in a mount namespace of their own, and which outlive a crashed daemon."""
        found = {pid for pid in self._daemon_pids() if pid is not None}
        for subtree in self.cgroups():
            for dirpath, _dirs, _files in os.walk(subtree):
                with contextlib.suppress(OSError, ValueError):
                    found |= {int(p) for p in Path(dirpath, "cgroup.procs").read_text().split()}
        with contextlib.suppress(OSError):
            ns = (self.state_dir / "ns").read_text().strip()
            if ns and ns != os.readlink("/proc/self/ns/mnt"):
                for entry in Path("/proc").iterdir():
                    if entry.name.isdigit():
                        with contextlib.suppress(OSError):
                            if os.readlink(entry / "ns" / "mnt") == ns:
                                found.add(int(entry.name))
        return sorted(pid for pid in found if pid_alive(pid))

    def _daemon_pids(self) -> list[int | None]:
        """The daemons' pids, each only if that process names its pid file (not a reused pid)."""
        found: list[int | None] = []
        for daemon in ("libvirtd", "virtlogd"):
            pidfile = self.state_dir / "pids" / f"{daemon}.pid"
            pid = read_pid(pidfile)
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                argv = []
            found.append(pid if str(pidfile).encode() in argv else None)
        return found

    def cgroups(self) -> list[Path]:
        """The host's private cgroup subtrees that exist now."""
        return [
            h / self.cgroup_name for h in cgroup_hierarchies() if (h / self.cgroup_name).is_dir()
        ]

    # -- stop -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """End every process of the host, remove its cgroups and its state dir (idempotent).

        Guests first (their daemon still cleans up after them), then the daemons, then SIGKILL
        whatever is left, by pid.

        Raises:
            RuntimeError: something could not be removed (the message says what).
        """
        if self._stopped:
            return
        daemons = {pid for pid in self._daemon_pids() if pid is not None}
        end_pids([pid for pid in self.pids() if pid not in daemons], grace=5.0)
        end_pids(sorted(daemons), grace=5.0)
        end_pids(self.pids(), grace=2.0)
        problems: list[str] = []
        if left := self.pids():
            problems.append(f"processes still running: {left}")
        for subtree in self.cgroups():
            if not wait_for(functools.partial(_remove_cgroup, subtree), 3.0, interval=0.1):
                problems.append(f"cgroup {subtree} could not be removed")
        if problems:  # keep the state dir: the next start finds what is left through it
            problems.append(f"state dir {self.state_dir} kept")
        else:
            try:
                remove_tree(self.state_dir)
            except OSError as exc:
                problems.append(f"state dir {self.state_dir}: {exc}")
        self._stopped = not problems  # a failed stop may be retried
        if problems:
            raise RuntimeError("second libvirt host clean-up failed: " + "; ".join(problems))


def _remove_cgroup(top: Path) -> bool:
    """rmdir a cgroup subtree bottom-up; True once it is gone."""
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
    return not top.exists()
