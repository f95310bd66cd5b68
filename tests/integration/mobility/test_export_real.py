"""Export to a ``.vmgui`` file and import on the second host (real daemons): the copy boots and
its disks hash as in the file; damaged files are refused before anything is created; a
cancelled job leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import blake3
import libvirt
import pytest

from tests.integration.helpers import Run, connect
from tests.integration.lab import POOL_DIR, READY
from tests.integration.mobility.conftest import Host2, MobLab, console_of, seed_block, wait_for
from vmgui.cli import main
from vmgui.core.provisioning import Progress, ProgressCallback, ProvisionError, Step
from vmgui.core.vmguifile import MANIFEST, parse_manifest
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt.export import export_guest
from vmgui.virt.importer import import_guest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def _names(conn: libvirt.virConnect) -> set[str]:
    return {d.name() for d in conn.listAllDomains(0)}


def _volumes(conn: libvirt.virConnect, stem: str) -> list[str]:
    found = []
    for pool in conn.listAllStoragePools(0):
        pool.refresh(0)
        found += [v.name() for v in pool.listAllVolumes(0) if v.name().startswith(stem)]
    return found


@pytest.fixture(scope="module")
def exported(mob: MobLab, tmp_path_factory: pytest.TempPathFactory, mrun: Run) -> Path:
    """One guest exported once for the module (shut off, linked to the lab's base image)."""
    guest = mob.guest()
    host, _rec = connect(mrun, mob.lab.uri)
    try:
        path = tmp_path_factory.mktemp("export") / f"{guest.name}.vmgui"
        reports: list[Progress] = []
        result = mrun(export_guest(host, guest.uuid, path, progress=reports.append))
    finally:
        mrun(host.close())
    assert [t.step for t in result.timings] == [Step.VALIDATE, Step.COPY, Step.EXPORT, Step.CLEANUP]
    assert any(r.step is Step.EXPORT and r.done_bytes for r in reports)
    # the temporary flattened copy is gone from the host
    assert not [p for p in POOL_DIR.glob("vmgui-export-*") if guest.name in p.name]
    return path


def test_export_file_layout(exported: Path) -> None:
    with tarfile.open(exported) as tar:
        names = tar.getnames()
    manifest = parse_manifest(_member(exported, MANIFEST))
    vda = _member(exported, "disks/vda.qcow2")
    assert names == ["domain.xml", "disks/vda.qcow2", "disks/vdb.raw", "manifest.json"]
    disk = manifest.disks[0]
    assert (disk.target, disk.format, disk.virtual_size) == ("vda", "qcow2", 32 << 20)
    assert manifest.version == 2 and disk.algorithm == "blake3"
    assert blake3.blake3(vda).hexdigest() == disk.checksum and vda[:4] == b"QFI\xfb"
    assert b"backing" not in vda[:4096]  # flattened: no backing file name in the header
    assert manifest.disks[1].readonly and manifest.disks[1].format == "raw"
    # the file is about the data, not the virtual size
    assert exported.stat().st_size < 2 * (manifest.total_size + (1 << 20))


def test_direct_read_and_stream_write_the_same_disks(
    mob: MobLab, tmp_path: Path, mrun: Run
) -> None:
    """On this machine the export reads the files directly; libvirt's stream (what a remote
    host gets) writes the very same members."""
    guest = mob.guest()
    host, _rec = connect(mrun, mob.lab.uri)
    files = {}
    try:
        for direct in (True, False):
            files[direct] = tmp_path / f"{direct}.vmgui"
            mrun(export_guest(host, guest.uuid, files[direct], direct=direct))
    finally:
        mrun(host.close())
    manifests = {d: parse_manifest(_member(f, MANIFEST)) for d, f in files.items()}
    assert manifests[True].disks == manifests[False].disks
    for disk in manifests[True].disks:
        assert _member(files[True], disk.member) == _member(files[False], disk.member)
        assert blake3.blake3(_member(files[True], disk.member)).hexdigest() == disk.checksum


def test_import_on_second_host_boots_and_matches(exported: Path, host2: Host2, mrun: Run) -> None:
    dest, _ = connect(mrun, host2.uri)
    try:
        result = mrun(import_guest(dest, exported, start=True), timeout=180)
    finally:
        mrun(dest.close())
    manifest = parse_manifest(_member(exported, MANIFEST))
    assert result.name == manifest.guest and result.started
    vda = host2.outside(result.disk_path)
    # the imported disk is the exported one, byte for byte (an independent SHA-256 of both)
    assert _sha256(vda) == hashlib.sha256(_member(exported, manifest.disks[0].member)).hexdigest()
    dom = host2.conn.lookupByName(result.name)
    details = parse_domain_xml(dom.XMLDesc(0))
    log = next(line for line in dom.XMLDesc(0).splitlines() if ".log" in line)
    log_path = log.split("path='")[1].split("'")[0]
    wait_for(lambda: READY in console_of(str(host2.outside(log_path))), 90)
    assert f'"local-hostname": "{manifest.guest}"' in seed_block(
        console_of(str(host2.outside(log_path)))
    )
    assert details.uuid  # kept (no clash on that host)
    dom.destroy()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "version"])
def test_damaged_file_is_refused_before_anything_is_created(
    exported: Path, host2: Host2, tmp_path: Path, mrun: Run, damage: str
) -> None:
    data = bytearray(exported.read_bytes())
    bad = tmp_path / f"{damage}.vmgui"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
        expected = "truncated"
    elif damage == "corrupt":
        at = data.index(b"QFI\xfb") + 200_000
        data[at] ^= 0xFF
        bad.write_bytes(bytes(data))
        expected = "is corrupt: its BLAKE3 is"
    else:
        with tarfile.open(exported) as src, tarfile.open(bad, "w") as out:
            for member in src.getmembers():
                blob = _member(exported, member.name)
                if member.name == MANIFEST:
                    doc = json.loads(blob)
                    doc["version"] = 99
                    blob = json.dumps(doc).encode()
                    member.size = len(blob)
                out.addfile(member, io.BytesIO(blob))
        expected = "format version 99"
    before_names, before_vols = _names(host2.conn), _volumes(host2.conn, host2.stem)
    dest, _ = connect(mrun, host2.uri)
    try:
        with pytest.raises(ProvisionError) as info:
            mrun(import_guest(dest, bad, name=f"{host2.stem}-bad"))
    finally:
        mrun(dest.close())
    assert info.value.step is Step.VALIDATE
    assert expected in str(info.value), str(info.value)
    assert _names(host2.conn) == before_names
    assert _volumes(host2.conn, host2.stem) == before_vols


def test_cancelled_import_and_export_remove_what_they_made(
    exported: Path, mob: MobLab, host2: Host2, tmp_path: Path, mrun: Run
) -> None:
    dest, _ = connect(mrun, host2.uri)
    name = f"{host2.stem}-cancelled"

    async def cancel_at(step: Step, job: Callable[[ProgressCallback], Awaitable[object]]) -> None:
        started = asyncio.Event()

        def seen(p: Progress) -> None:
            if p.step is step and p.done_bytes:
                started.set()

        task = asyncio.ensure_future(job(seen))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        mrun(
            cancel_at(Step.UPLOAD, lambda cb: import_guest(dest, exported, name=name, progress=cb))
        )
    finally:
        mrun(dest.close())
    assert not _volumes(host2.conn, name) and name not in _names(host2.conn)

    guest = mob.guest()
    src, _ = connect(mrun, mob.lab.uri)
    target = tmp_path / "cancel.vmgui"
    try:
        mrun(cancel_at(Step.EXPORT, lambda cb: export_guest(src, guest.uuid, target, progress=cb)))
    finally:
        mrun(src.close())
    assert list(tmp_path.iterdir()) == []
    assert not [p for p in POOL_DIR.glob("vmgui-export-*") if guest.name in p.name]


def test_cli_export_import_rename_on_clash(
    mob: MobLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guest = mob.guest(seed=False)
    uri = ["--connect", mob.lab.uri]
    file = tmp_path / "g.vmgui"
    assert main(["export", guest.name, str(file), *uri, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(file) and data["disks"][0]["target"] == "vda"
    assert main(["import", str(file), *uri, "--new-identity", "--pool", "vmgui-it-pool"]) == 0
    out = capsys.readouterr().out
    assert f"{guest.name}-2 (" in out and "warning: " in out
    copy = mob.lab.conn().lookupByName(f"{guest.name}-2")
    assert copy.UUIDString() != guest.uuid
    assert main(["import", str(file), *uri, "--name", guest.name, "--pool", "vmgui-it-pool"]) == 1
    assert f"A guest named '{guest.name}' already exists" in capsys.readouterr().err
    assert main(["export", guest.name, str(file), *uri]) == 1
    assert "already exists" in capsys.readouterr().err


def test_installer_iso_is_left_out_and_import_says_so(
    mob: MobLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guest = mob.guest()
    iso = mob.add_cdrom(guest)
    uri = ["--connect", mob.lab.uri]
    file = tmp_path / "g.vmgui"
    assert main(["export", guest.name, str(file), *uri]) == 0
    note = f"hdc: {iso} (read-only cdrom, not copied); an import keeps the drive, empty"
    assert f"left out: {note}" in capsys.readouterr().out
    assert parse_manifest(_member(file, MANIFEST)).left_out == (note,)
    with tarfile.open(file) as tar:
        assert tar.getnames() == ["domain.xml", "disks/vda.qcow2", "disks/vdb.raw", "manifest.json"]
    name = f"{guest.name}-copy"
    assert (
        main(
            ["import", str(file), *uri, "--name", name, "--new-identity", "--pool", "vmgui-it-pool"]
        )
        == 0
    )
    assert f"warning: not included in the file: {note}" in capsys.readouterr().out
    disks = {
        d.target: d for d in parse_domain_xml(mob.lab.conn().lookupByName(name).XMLDesc(0)).disks
    }
    assert disks["hdc"].device == "cdrom" and disks["hdc"].path == ""
    assert disks["vdb"].path.endswith(f"{name}-seed.iso")
