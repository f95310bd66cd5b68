"""The destination's libvirtd killed (SIGKILL) in the middle of a move or an import (real
daemons): the source guest is intact, still defined (and running after a live move's try),
nothing half-made stays on the source, the error says what happened in one line and lists
what the destination keeps, which is what the destination really has when its daemon is back;
then ``vmgui-cli cleanup --yes`` removes exactly that (the rollback wrote it down for later).

Each test starts its own second host (its own state dir and TCP port), so the session's
``second_host`` is untouched; the killed daemon is started again in the same namespace, with
the same state, to see what it kept.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.helpers import Run, connect
from tests.integration.lab import POOL_DIR, READY
from tests.integration.mobility.conftest import MobGuest, MobLab, clean_host, wait_for
from tests.services.common import ServiceUnavailableError, pid_alive
from tests.services.secondhost import SecondHost, open_connection
from vmgui.cli import main
from vmgui.core.leftovers import LeftoverBook
from vmgui.core.provisioning import Progress, ProvisionError, Step
from vmgui.virt.export import export_guest
from vmgui.virt.importer import import_guest
from vmgui.virt.migrate import move_guest

STATE = Path("/var/lib/vmgui-mob-kill-host")
PORT = 16539
DATA = 160 << 20  # a data disk big enough to be mid-way when the first progress comes


class Doomed:
    """A second host whose libvirtd a test kills, then starts again with the same state."""

    def __init__(self, host: SecondHost) -> None:
        self.host = host
        self.uri = host.uri_tcp
        self._argv: list[str] = []

    def _libvirtd(self) -> int:
        return int((self.host.state_dir / "pids" / "libvirtd.pid").read_text().strip())

    def kill(self) -> None:
        """SIGKILL its libvirtd (only the daemon: its virtlogd and guests stay)."""
        pid = self._libvirtd()
        self._argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        subprocess.run(["kill", "-KILL", str(pid)], check=True)
        wait_for(lambda: not pid_alive(pid), 10)

    def revive(self) -> libvirt.virConnect:
        """Start the killed libvirtd again in the host's namespace; a connection to it."""
        virtlogd = int((self.host.state_dir / "pids" / "virtlogd.pid").read_text().strip())
        subprocess.run(["nsenter", "-t", str(virtlogd), "-m", "-u", "--", *self._argv], check=True)
        deadline = 30.0
        while True:
            try:
                return open_connection(self.uri)
            except libvirt.libvirtError:
                deadline -= 0.1
                assert deadline > 0, "the revived libvirtd does not answer"
                subprocess.run(["sleep", "0.1"], check=True)


@pytest.fixture
def doomed() -> Iterator[Doomed]:
    """A second host of this test's own (made afresh, removed after)."""
    try:
        host = SecondHost.start(STATE, hostname="vmgui-mob-doomed", tcp_port=PORT)
    except ServiceUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        conn = open_connection(host.uri_tcp)
        try:  # the lab pool's folder there: where a live move's disks go
            pool = conn.storagePoolDefineXML(
                f"<pool type='dir'><name>vmgui-mob-kill</name><target><path>{POOL_DIR}</path>"
                "</target></pool>",
                0,
            )
            pool.build(0)
            pool.create(0)
        finally:
            conn.close()
        yield Doomed(host)
    finally:
        host.stop()


def _with_data_disk(mob: MobLab, guest: MobGuest) -> str:
    """Add a raw ``vdc`` of :data:`DATA` bytes, all written (the stream carries all of it)."""
    path = POOL_DIR / f"{guest.name}-data.img"
    with path.open("wb") as out:
        block = b"\x5a" * (1 << 20)
        for _ in range(DATA >> 20):
            out.write(block)
    mob.add_disk(guest, path, "<target dev='vdc' bus='virtio'/>")
    return str(path)


def _kill_at(doomed: Doomed, step: Step) -> Callable[[Progress], None]:
    """A progress callback that kills the destination's daemon once ``step`` moved bytes."""
    killed: list[bool] = []

    def seen(p: Progress) -> None:
        if p.step is step and p.done_bytes and not killed:
            killed.append(True)
            doomed.kill()

    return seen


def _source_state(conn: libvirt.virConnect, guest: MobGuest) -> tuple[str, list[str]]:
    dom = conn.lookupByUUIDString(guest.uuid)
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), sorted(p.name for p in POOL_DIR.iterdir())


def _what_is_there(conn: libvirt.virConnect, stem: str) -> tuple[set[str], set[str]]:
    guests = {d.name() for d in conn.listAllDomains(0) if d.name().startswith(stem)}
    volumes = set()
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        pool.refresh(0)
        volumes |= {str(v.path()) for v in pool.listAllVolumes(0) if v.name().startswith(stem)}
    return guests, volumes


def _check_reported(
    error: ProvisionError,
    name: str,
    doomed: Doomed,
    stem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One line; what the destination keeps once it is back is what the error listed, and
    what ``vmgui-cli cleanup`` removes."""
    text = str(error)
    assert "\n" not in text, text
    assert f"the connection to {name} was lost" in text, text
    assert f"vmgui-cli cleanup --connect {doomed.uri}" in text, text
    book = LeftoverBook()
    conn = doomed.revive()
    try:
        guests, volumes = _what_is_there(conn, stem)
        for path in volumes:
            assert any(path in left for left in error.left_behind), (path, error.left_behind)
        for name in guests:
            assert any(name in left for left in error.left_behind), (name, error.left_behind)
        assert volumes, "the job had made volumes there before the kill"
        written = {i.name for i in book.for_host(doomed.uri)}
        assert volumes | guests <= written, (volumes, guests, written)
        capsys.readouterr()
        assert main(["cleanup", "--connect", doomed.uri, "--yes", "--json"]) == 0
        removed = set(json.loads(capsys.readouterr().out)["removed"])
        # every volume it kept; a live move's incoming guest may have gone by itself meanwhile
        # (the revived daemon drops the transient domain whose QEMU it cannot reconnect to)
        kept = {f"volume {p}" for p in volumes}
        assert kept <= removed <= kept | {f"guest {g}" for g in guests}, (removed, kept, guests)
        assert _what_is_there(conn, stem) == (set(), set())
        assert book.for_host(doomed.uri) == []
    finally:
        clean_host(conn, stem)
        conn.close()


def test_offline_move_with_the_destination_killed(
    mob: MobLab, doomed: Doomed, mrun: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    guest = mob.guest()
    _with_data_disk(mob, guest)
    before = _source_state(mob.lab.conn(), guest)
    src, _ = connect(mrun, mob.lab.uri)
    dst, _ = connect(mrun, doomed.uri)
    try:
        with pytest.raises(ProvisionError) as info:
            mrun(
                move_guest(
                    src, dst, guest.uuid, pool="default", progress=_kill_at(doomed, Step.UPLOAD)
                ),
                timeout=120,
            )
    finally:
        mrun(src.close())
        with contextlib.suppress(Exception):
            mrun(dst.close())
    assert info.value.step is Step.UPLOAD, str(info.value)
    assert _source_state(mob.lab.conn(), guest) == before  # no flattened copy left, XML as it was
    _check_reported(info.value, dst.display_name, doomed, mob.stem, capsys)


def test_live_migration_with_the_destination_killed(
    mob: MobLab, doomed: Doomed, mrun: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    guest = mob.guest()
    dom = mob.lab.conn().lookupByUUIDString(guest.uuid)
    dom.create()
    wait_for(lambda: READY in guest.console())
    before = _source_state(mob.lab.conn(), guest)
    src, _ = connect(mrun, mob.lab.uri)
    dst, _ = connect(mrun, doomed.uri)
    try:
        job = move_guest(
            src, dst, guest.uuid, bandwidth_mib=1, progress=_kill_at(doomed, Step.MIGRATE)
        )
        with pytest.raises(ProvisionError) as info:
            mrun(job, timeout=120)
    finally:
        mrun(src.close())
        with contextlib.suppress(Exception):
            mrun(dst.close())
    assert info.value.step is Step.MIGRATE, str(info.value)
    wait_for(lambda: dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING, 30)
    assert dom.isActive() and dom.isPersistent()
    assert _source_state(mob.lab.conn(), guest) == before
    _check_reported(info.value, dst.display_name, doomed, mob.stem, capsys)


def test_import_with_the_host_killed(
    mob: MobLab, doomed: Doomed, mrun: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guest = mob.guest()
    _with_data_disk(mob, guest)
    file = tmp_path / "g.vmgui"
    src, _ = connect(mrun, mob.lab.uri)
    try:
        mrun(export_guest(src, guest.uuid, file), timeout=120)
    finally:
        mrun(src.close())
    dst, _ = connect(mrun, doomed.uri)
    name = f"{mob.stem}-imported"
    try:
        with pytest.raises(ProvisionError) as info:
            mrun(
                import_guest(dst, file, name=name, progress=_kill_at(doomed, Step.UPLOAD)),
                timeout=120,
            )
    finally:
        with contextlib.suppress(Exception):
            mrun(dst.close())
    assert info.value.step is Step.UPLOAD, str(info.value)
    assert file.is_file()  # the file is never touched
    _check_reported(info.value, dst.display_name, doomed, name, capsys)
