"""Clones of any shut-off guest on the real daemon: full (copied on the host) and linked (an
overlay) both boot, with a seed of their own that carries the new host name."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.helpers import OpenHost, Run
from tests.integration.lab import POOL_DIR, READY
from tests.integration.mobility.conftest import MobLab, console_of, seed_block, wait_for
from vmgui.cli import main
from vmgui.core.provisioning import Progress, Step
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt.clone import clone_guest


@pytest.mark.parametrize("linked", [False, True], ids=["full", "linked"])
def test_clone_boots_with_new_identity_and_seed(
    mob: MobLab, open_host: OpenHost, mrun: Run, linked: bool
) -> None:
    source = mob.guest()
    host, _rec = open_host()
    name = mob.new_name()
    reports: list[Progress] = []
    result = mrun(clone_guest(host, source.uuid, name, linked=linked, progress=reports.append))

    conn = mob.lab.conn()
    src_xml = conn.lookupByUUIDString(source.uuid).XMLDesc(0)
    dom = conn.lookupByName(name)
    clone = parse_domain_xml(dom.XMLDesc(0))
    src = parse_domain_xml(src_xml)
    assert clone.uuid != src.uuid and clone.uuid == result.uuid
    assert {n.mac for n in clone.nics}.isdisjoint({n.mac for n in src.nics})
    vda = next(d for d in clone.disks if d.target == "vda")
    assert vda.path == f"{POOL_DIR}/{name}-vda.qcow2" == result.disk_path
    seed = next(d for d in clone.disks if d.target == "vdb")
    assert seed.path == f"{POOL_DIR}/{name}-seed.iso" != source.seed and seed.readonly
    backing = conn.storageVolLookupByPath(vda.path).XMLDesc(0)
    assert (source.disk in backing) is linked
    steps = [t.step for t in result.timings]
    assert steps == [
        Step.VALIDATE,
        Step.OVERLAY if linked else Step.COPY,
        Step.SEED,
        Step.DEFINE,
        Step.START,
    ]
    if not linked:
        assert any(r.step is Step.COPY and r.done_bytes > 0 for r in reports)

    # It boots, and its seed names it; its serial console has a log of its own.
    log = POOL_DIR / f"{name}.log"
    assert f"path='{log}'" in dom.XMLDesc(0) and source.log not in dom.XMLDesc(0)
    dom.create()
    wait_for(lambda: READY in console_of(str(log)), 90)
    meta = seed_block(console_of(str(log)))
    assert f'"local-hostname": "{name}"' in meta and f'"instance-id": "iid-{name}"' in meta
    dom.destroy()
    # The source is untouched and still boots from its own disk.
    assert conn.lookupByUUIDString(source.uuid).XMLDesc(0) == src_xml


def test_cancelled_clone_leaves_nothing(mob: MobLab, open_host: OpenHost, mrun: Run) -> None:
    source = mob.guest()
    host, _rec = open_host()
    name = mob.new_name()

    async def cancel_during_copy() -> None:
        copying = asyncio.Event()

        def seen(p: Progress) -> None:
            if p.step is Step.COPY:
                copying.set()

        task = asyncio.ensure_future(clone_guest(host, source.uuid, name, progress=seen))
        await copying.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    mrun(cancel_during_copy())
    assert not any(POOL_DIR.glob(f"{name}*"))
    assert name not in [d.name() for d in mob.lab.conn().listAllDomains(0)]


def test_cli_clone_from_and_refusals(mob: MobLab, capsys: pytest.CaptureFixture[str]) -> None:
    source = mob.guest(seed=False)
    uri = ["--connect", mob.lab.uri]
    name = mob.new_name()
    assert main(["clone", *uri, "--from", source.name, "--name", name, "--linked", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == name and data["notes"]["seed"] == "skipped"
    assert main(["clone", *uri, "--from", source.name, "--name", name]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"A guest named '{name}' already exists" in err
    mob.lab.conn().lookupByName(source.name).create()
    assert main(["clone", *uri, "--from", source.name, "--name", mob.new_name()]) == 1
    assert f"{source.name} is running" in capsys.readouterr().err
