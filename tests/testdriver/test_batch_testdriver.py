"""Batch provisioning on libvirt's test driver: 20 guests, rollback, keep, cancel, refusals.

The test driver has no streams: the uploader only creates the volumes (and keeps the seeds'
bytes, so the tests read each guest's cloud-init meta-data back).
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import pycdlib
import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import CreateOnlyUploader
from vmgui.core.batch import (
    BatchError,
    BatchPlan,
    BatchProgress,
    GuestPhase,
    make_batch,
)
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.provisioning import LocalImage, ProvisionPlan, Step, VirtType
from vmgui.virt.batch import BatchProvisioner
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.opening import open_connection
from vmgui.virt.storage import UploadProgress

Run = Callable[..., Any]
T = TypeVar("T")
POOL = "default-pool"
SECOND = "test+tcp://second.example/default"  # a second private test-driver host


class SeedKeeper(CreateOnlyUploader):
    """Creates the volumes and keeps every seed's bytes by volume name."""

    def __init__(self) -> None:
        super().__init__()
        self.seeds: dict[str, bytes] = {}

    async def upload(
        self,
        host: HostConnection,
        pool: str,
        name: str,
        source: Path | bytes,
        fmt: str,
        progress: UploadProgress | None = None,
    ) -> str:
        if isinstance(source, bytes):
            self.seeds[name] = source
        return await super().upload(host, pool, name, source, fmt, progress)


class FailAt:
    """Fails guest ``index`` at ``step`` (before the step runs), or cancels ``task`` there."""

    def __init__(self, index: int, step: Step, task: list[asyncio.Task[Any]] | None = None):
        self.index, self.step, self.task = index, step, task

    async def __call__(self, index: int, step: Step, run: Callable[[], Awaitable[T]]) -> T:
        if (index, step) == (self.index, self.step):
            if self.task is None:
                raise RuntimeError("injected failure")
            self.task[0].cancel()
        return await run()


def _meta_data(iso_bytes: bytes) -> dict[str, str]:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(iso_bytes))
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, joliet_path="/meta-data")
    iso.close()
    data: dict[str, str] = json.loads(out.getvalue())
    return data


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    conn = HostConnection(fixture_uri(), NullObserver(), keepalive=None)
    arun(conn.connect())
    yield conn
    arun(conn.close())


@pytest.fixture
def second(arun: Run) -> Iterator[HostConnection]:
    conn = HostConnection(
        SECOND, NullObserver(), keepalive=None, opener=lambda _u: open_connection(fixture_uri())
    )
    arun(conn.connect())
    yield conn
    arun(conn.close())


@pytest.fixture
def image(tmp_path: Path) -> Path:
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 24, 1 << 30)
    path = tmp_path / "tiny.qcow2"
    path.write_bytes(bytes(header))
    return path


def _template(image: Path, **kwargs: Any) -> ProvisionPlan:
    values: dict[str, Any] = {
        "name": "ignored",
        "source": LocalImage(image),
        "vcpus": 1,
        "memory_mib": 256,
        "disk_bytes": 2 << 30,
        "virt_type": VirtType.QEMU,
        "pool": POOL,
        "cloud_init": CloudInitConfig("web.example.com", user="alice"),
        "graphics": False,
    }
    values.update(kwargs)
    return ProvisionPlan(**values)


def _state(arun: Run, host: HostConnection) -> tuple[set[str], set[str]]:
    def read(conn: libvirt.virConnect) -> tuple[set[str], set[str]]:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        running = {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
        return running | {d.name() for d in conn.listAllDomains(0)}, set(pool.listVolumes())

    result: tuple[set[str], set[str]] = arun(host.call(read, "state"))
    return result


def _running(arun: Run, host: HostConnection) -> set[str]:
    names: set[str] = arun(
        host.call(
            lambda c: {d.name() for d in c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)},
            "running",
        )
    )
    return names


def _web(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith("web-")}


def test_a_batch_of_20_from_one_image(arun: Run, host: HostConnection, image: Path) -> None:
    uploader = SeedKeeper()
    reports: list[BatchProgress] = []
    plan = make_batch(_template(image), "web-{n}", 20, host.uri)
    engine = BatchProvisioner({host.uri: host}, uploader=uploader)
    result = arun(engine.provision(plan, reports.append))

    names = [f"web-{n}" for n in range(1, 21)]
    assert result.ok and [r.name for r in result.made] == names
    assert result.summary() == f"20 guests made on {host.uri}"
    assert _web(_running(arun, host)) == set(names)
    bases = [u for u, _size in uploader.uploads if u.startswith("vmgui-base-")]
    assert len(bases) == 1  # the base image went up once
    metas = [_meta_data(uploader.seeds[f"{n}-seed.iso"]) for n in names]
    assert [m["local-hostname"] for m in metas] == names
    assert len({m["instance-id"] for m in metas}) == 20
    assert all(m["instance-id"].startswith(f"iid-{n}-") for m, n in zip(metas, names, strict=True))
    # Per-guest reports: each guest ran its steps and ended FINISHED; shared steps are index 0.
    assert {r.index for r in reports} == set(range(21))
    ends = [r for r in reports if r.phase is GuestPhase.FINISHED]
    assert [r.index for r in ends] == list(range(1, 21))  # committed in order
    assert {r.step for r in reports if r.index == 5} >= {Step.OVERLAY, Step.SEED, Step.START}
    assert {r.step for r in reports if r.index == 0} >= {Step.VALIDATE, Step.POOL, Step.UPLOAD}


@pytest.mark.parametrize("keep", [False, True])
def test_a_failure_at_guest_13(arun: Run, host: HostConnection, image: Path, keep: bool) -> None:
    domains, volumes = _state(arun, host)
    plan = make_batch(_template(image), "web-{n}", 20, host.uri, keep_finished=keep)
    engine = BatchProvisioner(
        {host.uri: host}, uploader=CreateOnlyUploader(), step_runner=FailAt(13, Step.DEFINE)
    )
    with pytest.raises(BatchError) as info:
        arun(engine.provision(plan))
    result = info.value.result
    after_domains, after_volumes = _state(arun, host)
    failed = [g for g in result.guests if g.phase is GuestPhase.FAILED]
    assert [(g.item.name, g.step) for g in failed] == [("web-13", Step.DEFINE)]
    if keep:
        kept = {f"web-{n}" for n in range(1, 13)}
        assert _web(after_domains) == kept and _web(_running(arun, host)) == kept
        assert str(info.value).startswith(
            "12 of 20 made; web-13 failed at define: Unexpected error: RuntimeError; "
            "the 12 finished guests were kept"
        )
        assert {g.phase for g in result.guests[13:]} <= {
            GuestPhase.ROLLED_BACK,
            GuestPhase.NOT_MADE,
        }
    else:
        assert after_domains == domains
        new = after_volumes - volumes
        assert len(new) == 1 and next(iter(new)).startswith("vmgui-base-")  # the base stays
        assert result.made == () and "0 of 20 made; web-13 failed at define" in str(info.value)
        assert "every guest this run made was removed" in str(info.value)


def test_cancel_mid_batch_rolls_back(arun: Run, host: HostConnection, image: Path) -> None:
    domains, volumes = _state(arun, host)
    task: list[asyncio.Task[Any]] = []
    engine = BatchProvisioner(
        {host.uri: host}, uploader=CreateOnlyUploader(), step_runner=FailAt(8, Step.SEED, task)
    )
    run = engine.start(make_batch(_template(image), "web-{n}", 20, host.uri))

    async def go() -> None:
        task.append(asyncio.ensure_future(run.execute()))
        await task[0]

    with pytest.raises(asyncio.CancelledError):
        arun(go())
    assert run.result is not None and run.result.cancelled and run.result.made == ()
    assert "0 of 20 made; cancelled" in run.result.summary()
    after_domains, after_volumes = _state(arun, host)
    assert after_domains == domains
    assert {v for v in after_volumes - volumes if not v.startswith("vmgui-base-")} == set()


def test_cancel_with_keep_leaves_the_finished(arun: Run, host: HostConnection, image: Path) -> None:
    task: list[asyncio.Task[Any]] = []
    engine = BatchProvisioner(
        {host.uri: host}, uploader=CreateOnlyUploader(), step_runner=FailAt(6, Step.DEFINE, task)
    )
    plan = make_batch(_template(image), "web-{n}", 10, host.uri, keep_finished=True)
    run = engine.start(plan)

    async def go() -> None:
        task.append(asyncio.ensure_future(run.execute()))
        await task[0]

    with pytest.raises(asyncio.CancelledError):
        arun(go())
    assert run.result is not None
    assert run.result.summary() == "5 of 10 made; cancelled; the 5 finished guests were kept"
    assert _web(_running(arun, host)) == {f"web-{n}" for n in range(1, 6)}


def _refused(arun: Run, host: HostConnection, plan: BatchPlan, *words: str) -> BatchError:
    before = _state(arun, host)
    engine = BatchProvisioner({host.uri: host}, uploader=CreateOnlyUploader())
    with pytest.raises(BatchError) as info:
        arun(engine.provision(plan))
    text = str(info.value)
    for word in words:
        assert word in text
    assert _state(arun, host) == before  # nothing was created, not even the base
    return info.value


def test_a_plan_that_does_not_fit_is_refused_first(
    arun: Run, host: HostConnection, image: Path
) -> None:
    # 20 x 4 GiB on a 64 GiB host: each guest fits, all of them do not.
    big = make_batch(_template(image, memory_mib=4096), "web-{n}", 20, host.uri)
    _refused(arun, host, big, "The batch does not fit", "20 guests need 80.0 GiB", "64.0 GiB")

    # A name clash at web-7: refused before anything is made, web-7 named.
    xml = "<domain type='test'><name>web-7</name><memory>1024</memory><os><type>hvm</type></os>"
    xml += "</domain>"
    arun(host.call(lambda c: c.defineXML(xml), "define"))
    error = _refused(
        arun, host, make_batch(_template(image), "web-{n}", 20, host.uri), "web-7 already exists"
    )
    assert all(g.phase is GuestPhase.NOT_MADE for g in error.result.guests)


def test_two_hosts_with_a_fixed_assignment(
    arun: Run, host: HostConnection, second: HostConnection, image: Path
) -> None:
    uploader = CreateOnlyUploader()
    uris = [host.uri] * 3 + [second.uri] * 2
    plan = make_batch(_template(image), "web-{n}", 5, uris)
    engine = BatchProvisioner({host.uri: host, second.uri: second}, uploader=uploader)
    result = arun(engine.provision(plan))
    assert [(r.name, r.host_uri) for r in result.made] == list(
        zip([f"web-{n}" for n in range(1, 6)], uris, strict=True)
    )
    assert _web(_running(arun, host)) == {"web-1", "web-2", "web-3"}
    assert _web(_running(arun, second)) == {"web-4", "web-5"}
    assert sum(u.startswith("vmgui-base-") for u, _ in uploader.uploads) == 2  # once per host
    assert result.summary() == f"5 guests made on {host.uri}, {second.uri}"
