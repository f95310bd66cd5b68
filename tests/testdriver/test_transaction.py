"""The transaction engine on libvirt's test driver: steps, timings, reports, rollback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import libvirt
import pytest

from tests.conftest import fixture_uri
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import Progress, ProvisionError, Step, StepTiming
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.storage import create_volume_blocking
from vmgui.virt.transaction import StepFn, Transaction

Run = Callable[..., Any]
POOL = "default-pool"
FOREIGN = "/var/lib/libvirt/images/guest-01.qcow2"  # a guest's disk the transaction never made


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    conn = HostConnection(fixture_uri(), NullObserver(), keepalive=None)
    arun(conn.connect())
    yield conn
    arun(conn.close())


def _volumes(arun: Run, host: HostConnection) -> set[str]:
    def read(conn: libvirt.virConnect) -> set[str]:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        return {str(v.path()) for v in pool.listAllVolumes(0)}

    result: set[str] = arun(host.call(read, "volumes"))
    return result


def _domains(arun: Run, host: HostConnection) -> set[str]:
    result: set[str] = arun(host.call(lambda c: {d.name() for d in c.listAllDomains(0)}, "list"))
    return result


def _make_volume(name: str) -> Callable[[libvirt.virConnect], str]:
    return lambda c: create_volume_blocking(c, POOL, name, 1 << 20, "qcow2")


def _define(name: str) -> Callable[[libvirt.virConnect], str]:
    xml = (
        f"<domain type='test'><name>{name}</name><memory unit='MiB'>128</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    return lambda c: str(c.defineXML(xml).UUIDString())


def _fail(exc: BaseException) -> StepFn:
    async def step() -> str:
        raise exc

    return step


def test_steps_run_in_order_timed_and_reported(arun: Run, host: HostConnection) -> None:
    clock = FakeClock()
    reports: list[Progress] = []
    ran: list[Step] = []
    txn = Transaction(host, "Could not make it", reports.append, clock=clock)

    def step(which: Step, seconds: float, note: str) -> StepFn:
        async def run() -> str:
            ran.append(which)
            txn.report("halfway", 0.5, (5, 10, 2.0, 2.5))
            clock.now += seconds
            return note

        return run

    timings = arun(
        txn.run(
            [
                (Step.VALIDATE, step(Step.VALIDATE, 0.25, "")),
                (Step.OVERLAY, step(Step.OVERLAY, 1.5, "cached")),
                (Step.START, step(Step.START, 0.125, "skipped")),
            ]
        )
    )
    assert ran == [Step.VALIDATE, Step.OVERLAY, Step.START]
    assert timings == (
        StepTiming(Step.VALIDATE, 0.25, ""),
        StepTiming(Step.OVERLAY, 1.5, "cached"),
        StepTiming(Step.START, 0.125, "skipped"),
    )
    assert txn.timings == timings
    expected: list[Progress] = []
    for which in ran:
        expected += [
            Progress(which, which.label, 0.0),
            Progress(which, "halfway", 0.5, 5, 10, 2.0, 2.5),
            Progress(which, f"{which.label}: done", 1.0),
        ]
    assert reports == expected


def test_failure_rolls_back_newest_first_and_only_what_it_made(
    arun: Run, host: HostConnection
) -> None:
    before_volumes, before_domains = _volumes(arun, host), _domains(arun, host)
    assert FOREIGN in before_volumes
    undone: list[str] = []
    txn = Transaction(host, "Could not make txn-1")
    made: dict[str, str] = {}

    async def create() -> str:
        made["disk"] = await txn.create_volume(_make_volume("txn-1.qcow2"), "disk")
        txn.on_rollback("first mark", _note(undone, "first mark"))
        made["seed"] = await host.call(_make_volume("txn-1-seed.iso"), "seed")
        txn.created_volume(made["seed"])
        # Made on the host meanwhile, but not by this transaction: it must stay.
        made["other"] = await host.call(_make_volume("someone-else.qcow2"), "other")
        return ""

    async def define() -> str:
        made["uuid"] = await txn.create_domain(_define("txn-1"), "define", "txn-1")
        txn.on_rollback("last mark", _note(undone, "last mark"))
        return ""

    with pytest.raises(ProvisionError) as info:
        arun(
            txn.run(
                [
                    (Step.OVERLAY, create),
                    (Step.DEFINE, define),
                    (Step.START, _fail(RuntimeError("no luck"))),
                ]
            )
        )
    error = info.value
    assert error.step is Step.START
    assert error.summary == "Could not make txn-1 (step start): Unexpected error: RuntimeError"
    assert error.details == "no luck"
    assert error.left_behind == ()
    assert txn.created == ()  # all of it undone, once
    assert [t.step for t in txn.timings] == [Step.OVERLAY, Step.DEFINE, Step.START]
    # Newest first: the last undo ran before the guest went, the first after the seed.
    assert undone == ["last mark", "first mark"]
    assert _domains(arun, host) == before_domains
    assert _volumes(arun, host) == before_volumes | {made["other"]}


def _note(log: list[str], what: str) -> Callable[[], Any]:
    async def undo() -> None:
        log.append(what)

    return undo


def test_rollback_order_is_reverse_of_creation(arun: Run, host: HostConnection) -> None:
    order: list[str] = []
    txn = Transaction(host, "Could not")

    async def create() -> str:
        for name in ("a", "b", "c"):
            txn.on_rollback(name, _note(order, name))
        return ""

    with pytest.raises(ProvisionError):
        arun(txn.run([(Step.VALIDATE, create), (Step.SEED, _fail(OSError("disk full")))]))
    assert order == ["c", "b", "a"]


def test_cancel_rolls_back_and_the_rollback_is_shielded(arun: Run, host: HostConnection) -> None:
    """A second cancel while the rollback runs does not stop it; the cancel comes after."""
    before = _volumes(arun, host)
    txn = Transaction(host, "Could not")
    in_rollback = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow_undo() -> None:
        in_rollback.set()
        await release.wait()
        finished.append("slow undo")

    async def create() -> str:
        await txn.create_volume(_make_volume("txn-c1.qcow2"), "disk")
        txn.on_rollback("slow", slow_undo)
        await asyncio.Event().wait()  # until cancelled
        return ""

    async def scenario() -> None:
        task = asyncio.ensure_future(txn.run([(Step.OVERLAY, create)]))
        await asyncio.sleep(0.05)
        assert not in_rollback.is_set()
        task.cancel()  # the first cancel starts the rollback
        await in_rollback.wait()
        task.cancel()  # a second one, while the rollback waits in its undo
        await asyncio.sleep(0.05)
        assert not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    arun(scenario())
    assert finished == ["slow undo"]
    assert txn.created == ()
    assert _volumes(arun, host) == before  # the volume made before the undo is gone too


def test_rollback_failures_are_reported_and_the_rest_still_undone(
    arun: Run, host: HostConnection
) -> None:
    before = _volumes(arun, host)
    txn = Transaction(host, "Could not make txn-f")

    async def refuse() -> None:
        raise VmguiError("Could not delete it", "the volume is busy")

    async def crash() -> None:
        raise OSError("read-only file system")

    async def create() -> str:
        await txn.create_volume(_make_volume("txn-f.qcow2"), "disk")
        txn.on_rollback("volume busy.qcow2", refuse)
        txn.on_rollback("file /tmp/x", crash)
        return ""

    async def fail() -> str:
        raise VmguiError("The host said no", "quota exceeded", "Free some space.")

    with pytest.raises(ProvisionError) as info:
        arun(txn.run([(Step.OVERLAY, create), (Step.DEFINE, fail)]))
    error = info.value
    assert error.left_behind == (
        "file /tmp/x (OSError: read-only file system)",
        "volume busy.qcow2 (the volume is busy)",
    )
    assert error.summary == "Could not make txn-f (step define): The host said no"
    assert error.hint == "Free some space."
    assert error.details == (
        "quota exceeded; clean-up left behind: file /tmp/x (OSError: read-only file system), "
        "volume busy.qcow2 (the volume is busy)"
    )
    assert _volumes(arun, host) == before  # the volume recorded first was still deleted


def test_a_local_file_error_reads_as_such(arun: Run, host: HostConnection) -> None:
    txn = Transaction(host, "Could not make it")
    with pytest.raises(ProvisionError) as info:
        arun(txn.run([(Step.DOWNLOAD, _fail(FileNotFoundError("/x/image.qcow2")))]))
    assert info.value.step is Step.DOWNLOAD
    assert info.value.summary.endswith("(step download): A local file could not be used")
    assert info.value.details == "/x/image.qcow2"


def test_success_keeps_everything_until_an_explicit_rollback(
    arun: Run, host: HostConnection
) -> None:
    before = _volumes(arun, host)
    txn = Transaction(host, "Could not")
    paths: list[str] = []

    async def create() -> str:
        paths.append(await txn.create_volume(_make_volume("txn-ok.qcow2"), "disk"))
        return ""

    arun(txn.run([(Step.OVERLAY, create)]))
    assert _volumes(arun, host) == before | set(paths)
    assert txn.created == (f"volume {paths[0]}",)
    assert arun(txn.rollback()) == ()
    assert _volumes(arun, host) == before
    assert arun(txn.rollback()) == ()  # nothing twice


def test_cancel_during_the_rollback_of_a_failure_still_cancels(
    arun: Run, host: HostConnection
) -> None:
    txn = Transaction(host, "Could not")
    in_rollback = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow_undo() -> None:
        in_rollback.set()
        await release.wait()
        finished.append("undo")

    async def create() -> str:
        txn.on_rollback("slow", slow_undo)
        return ""

    async def scenario() -> None:
        task = asyncio.ensure_future(
            txn.run([(Step.OVERLAY, create), (Step.DEFINE, _fail(RuntimeError("boom")))])
        )
        await in_rollback.wait()
        task.cancel()
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    arun(scenario())
    assert finished == ["undo"]
