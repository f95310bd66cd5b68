"""The real test services work: second libvirt host, loopback sshd, delay relay, Secret Service.

Every figure a later README quotes is printed here (run with ``-s`` to see them). Guests and
pools made on the main daemon are named ``vmgui-svc-*`` and always removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.lab import GUEST_TIMEOUT, READY
from tests.integration.tinyguest.domain import tiny_domain_xml
from tests.services.common import pid_alive, port_open, wait_for
from tests.services.delayrelay import DelayRelay
from tests.services.fixtures import free_port, tiny_image
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.fixtures import second_host as second_host
from tests.services.fixtures import secret_service as secret_service
from tests.services.keyring_service import SecretService
from tests.services.secondhost import IMAGES, SecondHost, open_connection
from tests.services.sshd import LoopbackSshd

pytestmark = pytest.mark.integration

MAIN = "qemu:///system"
MIGRATE = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_NON_SHARED_DISK
)


@pytest.fixture(scope="module")
def main_conn() -> Iterator[libvirt.virConnect]:
    """A plain connection to the main daemon."""
    conn = open_connection(MAIN)
    yield conn
    conn.close()


def _host_uuid(conn: libvirt.virConnect) -> str:
    return str(ET.fromstring(conn.getCapabilities()).findtext("host/uuid"))


def _remove_domain(conn: libvirt.virConnect, name: str) -> None:
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    with contextlib.suppress(libvirt.libvirtError):
        dom.destroy()
    with contextlib.suppress(libvirt.libvirtError):
        dom.undefine()


def _wait_ready(log: Path) -> None:
    def ready() -> bool:
        with contextlib.suppress(OSError):
            return READY in log.read_text(errors="replace")
        return False

    assert wait_for(ready, GUEST_TIMEOUT, interval=0.2), f"no {READY} in {log}"


def _dir_pool(conn: libvirt.virConnect, name: str, path: str) -> libvirt.virStoragePool:
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{path}</path>"
        "<permissions><mode>0755</mode></permissions></target></pool>",
        0,
    )
    pool.build(0)
    pool.create(0)
    return pool


def _remove_pool(conn: libvirt.virConnect, name: str, folder: Path) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        pool = conn.storagePoolLookupByName(name)
        with contextlib.suppress(libvirt.libvirtError):
            pool.destroy()
        pool.undefine()
    shutil.rmtree(folder, ignore_errors=True)


# -- second host -------------------------------------------------------------------------------


def test_second_host_is_another_host(
    second_host: SecondHost, main_conn: libvirt.virConnect
) -> None:
    conn = open_connection(second_host.uri_tcp)
    try:
        assert conn.getHostname() == second_host.hostname != main_conn.getHostname()
        assert _host_uuid(conn) == second_host.host_uuid != _host_uuid(main_conn)
        assert isinstance(conn.listAllDomains(0), list)
        pool = conn.storagePoolLookupByName("default")
        assert pool.isActive()
        assert ET.fromstring(pool.XMLDesc(0)).findtext("target/path") == IMAGES
        if tiny_image().is_file():
            pool.refresh(0)
            assert tiny_image().name in pool.listVolumes()
    finally:
        conn.close()


def test_guest_runs_on_second_host_in_its_own_cgroup(second_host: SecondHost) -> None:
    if not tiny_image().is_file():
        pytest.fail(f"the tiny guest image {tiny_image()} is missing", pytrace=False)
    name = f"vmgui-svc-{secrets.token_hex(3)}"
    disk, log = f"{IMAGES}/{name}.qcow2", f"{IMAGES}/{name}.log"
    conn = open_connection(second_host.uri_tcp)
    try:
        shutil.copyfile(tiny_image(), second_host.outside(disk))
        dom = conn.defineXML(tiny_domain_xml(name, disk, log))
        started = time.perf_counter()
        dom.create()
        _wait_ready(second_host.outside(log))
        print(f"\nguest booted on the second host in {time.perf_counter() - started:.1f} s")
        pid = int(second_host.outside(f"/run/libvirt/qemu/{name}.pid").read_text())
        assert pid in second_host.pids()
        cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        cpu = next(line for line in cgroups.splitlines() if line.split(":")[1] == "cpu")
        assert cpu.split(":")[2].startswith(f"/{second_host.cgroup_name}/machine"), cgroups
        assert name in [d.name() for d in conn.listAllDomains(0)]
    finally:
        _remove_domain(conn, name)
        conn.close()
        with contextlib.suppress(FileNotFoundError):
            second_host.outside(disk).unlink()


def test_live_migration_to_second_host_and_back(
    second_host: SecondHost, main_conn: libvirt.virConnect
) -> None:
    if not tiny_image().is_file():
        pytest.fail(f"the tiny guest image {tiny_image()} is missing", pytrace=False)
    name = f"vmgui-svc-{secrets.token_hex(3)}"
    folder = f"/var/lib/libvirt/images/{name}"
    disk, log = f"{folder}/disk.qcow2", f"{folder}/console.log"
    remote = open_connection(second_host.uri_tcp)
    try:
        main_pool = _dir_pool(main_conn, name, folder)
        _dir_pool(remote, name, folder)  # destination disks are pre-created in it
        shutil.copyfile(tiny_image(), disk)
        main_pool.refresh(0)
        dom = main_conn.defineXML(tiny_domain_xml(name, disk, log, memory_mib=96))
        dom.create()
        _wait_ready(Path(log))

        started = time.perf_counter()
        there = dom.migrate3(remote, {}, MIGRATE)
        print(f"\nlive migration to the second host: {time.perf_counter() - started:.2f} s")
        assert there.isActive() and there.isPersistent()
        assert there.info()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert name not in [d.name() for d in main_conn.listAllDomains(0)]
        assert second_host.outside(disk).is_file()
        main_pool.storageVolLookupByName("disk.qcow2").delete(0)  # the way back re-creates it

        started = time.perf_counter()
        params = {libvirt.VIR_MIGRATE_PARAM_URI: "tcp://127.0.0.1"}
        back = there.migrate3(main_conn, params, MIGRATE)
        print(f"live migration back to the main host: {time.perf_counter() - started:.2f} s")
        assert back.isActive() and back.isPersistent()
        assert back.info()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert name not in [d.name() for d in remote.listAllDomains(0)]
        assert Path(disk).is_file()
    finally:
        for conn in (main_conn, remote):
            _remove_domain(conn, name)
        _remove_pool(remote, name, second_host.outside(folder))
        _remove_pool(main_conn, name, Path(folder))
        remote.close()


# -- sshd and relay ----------------------------------------------------------------------------


@pytest.fixture
def marker_guest(main_conn: libvirt.virConnect) -> Iterator[str]:
    """A defined (never started) guest on the main host that a remote listing must show."""
    name = f"vmgui-svc-{secrets.token_hex(3)}"
    main_conn.defineXML(tiny_domain_xml(name, "/nonexistent/vmgui-svc.qcow2", "/dev/null"))
    yield name
    _remove_domain(main_conn, name)


def _open_timed(uri: str) -> tuple[libvirt.virConnect, float]:
    started = time.perf_counter()
    conn = open_connection(uri)
    return conn, time.perf_counter() - started


def test_qemu_ssh_with_key_and_no_tty_reaches_the_main_host(
    loopback_sshd: LoopbackSshd, main_conn: libvirt.virConnect, marker_guest: str
) -> None:
    uri = loopback_sshd.uri_ssh()
    assert "no_tty=1" in uri and "keyfile=" in uri
    conn, seconds = _open_timed(uri)
    try:
        print(f"\nqemu+ssh open: {seconds * 1000:.0f} ms")
        assert _host_uuid(conn) == _host_uuid(main_conn)
        assert marker_guest in [d.name() for d in conn.listAllDomains(0)]
        helpers = [
            Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in loopback_sshd.connection_pids()
            if pid_alive(pid)
        ]
        assert any(b"virt-ssh-helper" in cmd for cmd in helpers), helpers
    finally:
        conn.close()
    # Without the wrapper ssh reads root's known_hosts, which lacks this key: BatchMode refuses.
    with pytest.raises(libvirt.libvirtError, match=r"(?i)host key verification failed"):
        open_connection(uri.replace(f"command={loopback_sshd.ssh_wrapper}", "command=ssh"))


def test_qemu_libssh2_needs_every_host_key_type(
    loopback_sshd: LoopbackSshd, main_conn: libvirt.virConnect, marker_guest: str, tmp_path: Path
) -> None:
    conn, seconds = _open_timed(loopback_sshd.uri_libssh2())
    try:
        print(f"\nqemu+libssh2 open: {seconds * 1000:.0f} ms")
        assert _host_uuid(conn) == _host_uuid(main_conn)
        assert marker_guest in [d.name() for d in conn.listAllDomains(0)]
    finally:
        conn.close()
    rsa_only = tmp_path / "known_hosts"
    rsa_only.write_text(loopback_sshd.known_hosts_line("rsa") + "\n")
    with pytest.raises(libvirt.libvirtError):
        open_connection(loopback_sshd.uri_libssh2(known_hosts=str(rsa_only)))


def _first_failure(conn: libvirt.virConnect) -> libvirt.libvirtError | None:
    """The error of the first failing call within ~2.5 s (the client notices an EOF soon)."""
    for _ in range(50):
        try:
            conn.listAllDomains(0)
        except libvirt.libvirtError as exc:
            return exc
        time.sleep(0.05)
    return None


def test_kill_connections_cuts_live_links(loopback_sshd: LoopbackSshd) -> None:
    conn = open_connection(loopback_sshd.uri_ssh())
    try:
        assert loopback_sshd.kill_connections() > 0
        failure = _first_failure(conn)
        print(f"\nafter kill_connections: {failure}")
        assert failure is not None, "the link survived kill_connections()"
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
    again = open_connection(loopback_sshd.uri_ssh())  # the listener stayed
    again.close()


def _banner_and_rtt(port: int) -> tuple[float, float]:
    """(connect -> server banner, client banner -> server KEXINIT) in seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.perf_counter()
        data = b""
        while b"\n" not in data:
            data += sock.recv(256)
        banner = time.perf_counter() - started
        assert data.startswith(b"SSH-2.0-")
        sent = time.perf_counter()
        sock.sendall(b"SSH-2.0-vmgui_svc_probe\r\n")
        rest = data.split(b"\n", 1)[1]
        while len(rest) < 6:  # packet length + padding + message type
            rest += sock.recv(4096)
        assert rest[5] == 20  # SSH_MSG_KEXINIT
        return banner, time.perf_counter() - sent


def test_delay_relay_adds_100_ms_round_trip(loopback_sshd: LoopbackSshd) -> None:
    with DelayRelay.start(loopback_sshd.port, delay_up=0.05, delay_down=0.05) as relay:
        direct_banner, direct_rtt = _banner_and_rtt(loopback_sshd.port)
        slow_banner, slow_rtt = _banner_and_rtt(relay.port)
        print(
            f"\nssh banner direct {direct_banner * 1000:.0f} ms, through the relay "
            f"{slow_banner * 1000:.0f} ms; banner->KEXINIT round trip direct "
            f"{direct_rtt * 1000:.0f} ms, through the relay {slow_rtt * 1000:.0f} ms"
        )
        assert 0.095 <= slow_rtt - direct_rtt <= 0.3
        assert 0.045 <= slow_banner - direct_banner <= 0.25
        loopback_sshd.trust_port(relay.port)
        conn, seconds = _open_timed(loopback_sshd.uri_ssh(port=relay.port))
        try:
            started = time.perf_counter()
            conn.getHostname()
            call = time.perf_counter() - started
            print(f"qemu+ssh at 100 ms RTT: open {seconds:.2f} s, one call {call * 1000:.0f} ms")
            assert call >= 0.095
        finally:
            conn.close()


# -- Secret Service ----------------------------------------------------------------------------

_CLIENT = """
import sys
from keyring.backends.SecretService import Keyring
k = Keyring()
k.priority  # raises RuntimeError when the service is unusable
k.set_password("vmgui-svc-test", "alice", sys.argv[1])
print(k.get_password("vmgui-svc-test", "alice"))
k.delete_password("vmgui-svc-test", "alice")
print(k.get_password("vmgui-svc-test", "alice"))
"""


def _client(env: dict[str, str], secret: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLIENT, secret],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_service_round_trips_a_secret(secret_service: SecretService) -> None:
    secret = secrets.token_urlsafe(12)
    started = time.perf_counter()
    done = _client({**os.environ, **secret_service.env}, secret)
    print(f"\nkeyring client round trip: {time.perf_counter() - started:.2f} s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [secret, "None"]
    stored = list((secret_service.data / "keyrings").iterdir())
    assert stored, "gnome-keyring wrote no keyring file"
    assert all(secret.encode() not in path.read_bytes() for path in stored)  # encrypted
    # The same client without the service's bus refuses (no silent plain-file fallback).
    no_bus = {**os.environ, **secret_service.env, "DBUS_SESSION_BUS_ADDRESS": "unix:path=/none"}
    refused = _client(no_bus, secret)
    assert refused.returncode != 0 and secret not in refused.stdout


# -- stop leaves nothing -------------------------------------------------------------------------


def _timed(label: str, started: float) -> None:
    print(f"{label}: {time.perf_counter() - started:.2f} s")


def _start_guest(host: SecondHost) -> int:
    """Start a tiny guest on ``host`` (not waiting for its boot); return its QEMU's pid."""
    conn = open_connection(host.uri_tcp)
    try:
        disk, log = f"{IMAGES}/{tiny_image().name}", f"{IMAGES}/vmgui-svc-stop.log"
        conn.defineXML(tiny_domain_xml("vmgui-svc-stop", disk, log)).create()
        return int(host.outside("/run/libvirt/qemu/vmgui-svc-stop.pid").read_text())
    finally:
        conn.close()


def test_every_service_stops_without_leftovers(second_host: SecondHost, tmp_path: Path) -> None:
    print()
    # A second host on its own state dir and port, "crashed" (never stopped), then replaced.
    state, port = Path("/var/lib/vmgui-svc-stoptest"), free_port()  # fixed: found after a crash
    started = time.perf_counter()
    crashed = SecondHost.start(state, tcp_port=port, seed_files=[tiny_image()])
    _timed("second host start", started)
    qemu = _start_guest(crashed)
    stale = crashed.pids()
    assert qemu in stale and all(pid_alive(pid) for pid in stale)
    started = time.perf_counter()
    host = SecondHost.start(state, tcp_port=port, seed_files=[tiny_image()])  # ends the stale one
    _timed("second host start over a crashed one (with a running guest)", started)
    assert not any(pid_alive(pid) for pid in stale)
    qemu = _start_guest(host)
    pids, cgroups = host.pids(), host.cgroups()
    assert qemu in pids and cgroups
    started = time.perf_counter()
    host.stop()
    _timed("second host stop", started)
    host.stop()  # idempotent
    assert not any(pid_alive(pid) for pid in pids)
    assert not state.exists() and not any(c.exists() for c in cgroups)
    assert not port_open("127.0.0.1", port)
    assert second_host.pids(), "the session's second host was touched"

    started = time.perf_counter()
    sshd = LoopbackSshd.start(tmp_path, port=free_port())
    _timed("sshd start", started)
    conn = open_connection(sshd.uri_ssh())  # a live link while it stops
    links, listener = sshd.connection_pids(), sshd.pid
    assert links and listener is not None
    started = time.perf_counter()
    sshd.stop()
    _timed("sshd stop", started)
    sshd.stop()
    with contextlib.suppress(libvirt.libvirtError):
        conn.close()
    assert not any(pid_alive(pid) for pid in [listener, *links])
    assert not sshd.folder.exists() and not port_open("127.0.0.1", sshd.port)

    started = time.perf_counter()
    service = SecretService.start(tmp_path)
    _timed("secret service start", started)
    pids = service.pids()
    assert len(pids) >= 2 and service.bus_socket.exists()
    started = time.perf_counter()
    service.stop()
    _timed("secret service stop", started)
    service.stop()
    assert not any(pid_alive(pid) for pid in pids)
    assert not service.bus_socket.exists() and not service.folder.exists()

    relay = DelayRelay.start(sshd.port)
    relay.stop()
    relay.stop()
    assert not port_open("127.0.0.1", relay.port)
