"""Batch provisioning: N guests from one image over one or several hosts, all or none.

A :class:`BatchRun` goes through the :class:`~vmgui.core.batch.BatchPlan` in phases:

1. **validate** — each host's room (guest names, pool volumes and space, CPUs, memory) is read
   in one worker call per host and the whole plan is checked
   (:func:`~vmgui.core.batch.check_batch`); then each host's first plan is validated as a
   single run would be (network, pool, domain type, the image). Nothing exists yet.
2. **download** — once for the batch (a catalog image; a local file is hashed once).
3. **pool** — each host's pool is prepared and must hold every guest's seed and new disk
   (plus the base image when it is not there yet).
4. **upload** — the base image, once per host, concurrently across hosts.
5. **guests** — per host a pipeline: while guest *k* is defined and started (libvirt calls,
   serialised on the host's worker), up to ``pipeline - 1`` later guests prepare their overlay
   and seed (the seed ISO is built on a thread). Guests are defined and started in order, so a
   host's guests come up ``web-1, web-2, …``. Hosts run concurrently.

Each guest is its own :class:`~vmgui.virt.transaction.Transaction`. The first failure stops
the batch: guests not finished are cancelled and roll themselves back; then, unless the plan
keeps finished guests, every finished guest is rolled back too (never the base images).
Cancelling the awaiting task does the same (the rollback is shielded) and
:attr:`BatchRun.result` says what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import libvirt

from vmgui.core.batch import (
    BatchError,
    BatchItem,
    BatchPlan,
    BatchPlanError,
    BatchProgress,
    BatchProgressCallback,
    BatchResult,
    GuestOutcome,
    GuestPhase,
    HostRoom,
    batch_problems,
    pool_shortfall,
)
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import Progress, ProvisionPlan, ProvisionResult, Step
from vmgui.core.units import plural
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader
from vmgui.virt.provision import Provisioner, ProvisionRun
from vmgui.virt.storage import Uploader
from vmgui.virt.transaction import as_provision_error

_T = TypeVar("_T")

#: The steps a batch's guests share, run once (download) or once per host.
SHARED_STEPS = (Step.VALIDATE, Step.DOWNLOAD, Step.POOL, Step.UPLOAD)
#: The steps each guest runs: prepared ahead ...
PREPARE_STEPS = (Step.OVERLAY, Step.SEED)
#: ... then committed in order on its host.
COMMIT_STEPS = (Step.DEFINE, Step.START)
#: Guests of one host in flight at once (one committing, the others preparing).
DEFAULT_PIPELINE = 2


class BatchStepRunner(Protocol):
    """Runs one step of a batch (tests inject a failure or a cancel at a given guest).

    ``index`` is the guest (1..N), or 0 for a step the guests share.
    """

    async def __call__(self, index: int, step: Step, run: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``run`` for guest ``index``'s ``step`` and return its result."""
        ...


class _Bound:
    """A :class:`~vmgui.virt.transaction.StepRunner` for one guest of a batch."""

    def __init__(self, runner: BatchStepRunner, index: int) -> None:
        self._runner = runner
        self._index = index

    async def __call__(self, step: Step, run: Callable[[], Awaitable[_T]]) -> _T:
        return await self._runner(self._index, step, run)


async def _run_step(index: int, step: Step, run: Callable[[], Awaitable[_T]]) -> _T:
    return await run()


def room_blocking(conn: libvirt.virConnect, label: str, pool: str) -> HostRoom:
    """What a host has for a batch into ``pool`` (one worker call)."""
    _model, memory_mib, cpus = conn.getInfo()[:3]
    memory_kib = int(memory_mib) * 1024
    with contextlib.suppress(libvirt.libvirtError, KeyError):
        memory_kib = int(conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)["total"])
    names = frozenset(str(d.name()) for d in conn.listAllDomains(0))
    volumes: frozenset[str] = frozenset()
    available: int | None = None
    with contextlib.suppress(libvirt.libvirtError):
        handle = conn.storagePoolLookupByName(pool)
        if handle.isActive():
            handle.refresh(0)
            volumes = frozenset(str(v) for v in handle.listVolumes())
            available = int(handle.info()[3])
    return HostRoom(label, int(cpus), memory_kib, names, volumes, available)


@dataclass
class _Guest:
    item: BatchItem
    run: ProvisionRun
    phase: GuestPhase = GuestPhase.WAITING
    finished: bool = False  # all its steps ran (it may be rolled back later)
    step: Step | None = None
    error: str = ""


class BatchProvisioner:
    """Makes batches of guests on connected hosts.

    Args:
        hosts: the connected hosts by URI (every URI of a plan must be there).
        downloader: fetches catalog images (default: the XDG cache, the network).
        uploader: puts images and seeds into volumes (default: libvirt stream upload).
        step_runner: wraps every step with the guest's index (tests inject faults).
        pipeline: guests of one host in flight at once (at least 1).
        clock: monotonic clock for timings.
    """

    def __init__(
        self,
        hosts: Mapping[str, HostConnection],
        *,
        downloader: Downloader | None = None,
        uploader: Uploader | None = None,
        step_runner: BatchStepRunner | None = None,
        pipeline: int = DEFAULT_PIPELINE,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.hosts = hosts
        self.downloader = downloader or Downloader()
        self.uploader = uploader
        self.step_runner: BatchStepRunner = step_runner or _run_step
        self.pipeline = max(1, pipeline)
        self.clock = clock

    def start(self, plan: BatchPlan, progress: BatchProgressCallback | None = None) -> BatchRun:
        """A run of ``plan`` (nothing happens until :meth:`BatchRun.execute`)."""
        return BatchRun(self, plan, progress)

    async def provision(
        self, plan: BatchPlan, progress: BatchProgressCallback | None = None
    ) -> BatchResult:
        """Make every guest of ``plan`` (see :meth:`BatchRun.execute`)."""
        return await self.start(plan, progress).execute()


class BatchRun:
    """One batch: its guests' runs and their outcome.

    Attributes:
        result: the outcome, once :meth:`execute` has ended (also when it was cancelled).
    """

    def __init__(
        self, owner: BatchProvisioner, plan: BatchPlan, progress: BatchProgressCallback | None
    ) -> None:
        self.plan = plan
        self.result: BatchResult | None = None
        self._owner = owner
        self._progress = progress
        self._engines: dict[str, Provisioner] = {}
        for uri in plan.uris:
            if uri not in owner.hosts:
                raise VmguiError(f"Could not make the batch: {uri} is not connected")
            self._engines[uri] = Provisioner(
                owner.hosts[uri],
                downloader=owner.downloader,
                uploader=owner.uploader,
                clock=owner.clock,
            )
        self._guests = [
            _Guest(item, self._new_run(item.uri, item.plan, item.index)) for item in plan.items
        ]
        self._leads = {uri: self._new_run(uri, plan.on(uri)[0].plan, 0) for uri in plan.uris}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failure = ""
        self._cancelled = False
        self._shared: dict[Step, float] = {}

    def _new_run(self, uri: str, plan: ProvisionPlan, index: int) -> ProvisionRun:
        """A run for guest ``index`` (0: the host's shared steps; the download is the batch's)."""

        def on_progress(p: Progress) -> None:
            where = "" if index == 0 and p.step is Step.DOWNLOAD else uri
            self._report(BatchProgress(index, where, GuestPhase.RUNNING, p.step, p))

        runner = _Bound(self._owner.step_runner, index)
        run = ProvisionRun(self._engines[uri], plan, on_progress, runner)
        if index == 0:
            count = plural(len(self.plan.on(uri)), "guest")
            run.txn.failed = f"Could not make {count} on {run.host.display_name}"
        return run

    def _report(self, report: BatchProgress) -> None:
        if self._progress is not None:
            self._progress(report)

    # -- the run ------------------------------------------------------------------------------

    async def execute(self) -> BatchResult:
        """Make every guest, or none (or, keeping finished guests, as many as were finished).

        Returns:
            The outcome: every guest made.

        Raises:
            BatchError: a step failed; its :attr:`~BatchError.result` (also :attr:`result`)
                says which guest, where, and what is left (a plan that does not fit raises
                before anything is created; the details list every problem).
            asyncio.CancelledError: the task was cancelled (after the same clean-up).
        """
        main = asyncio.ensure_future(self._main())
        while True:
            try:
                result = await asyncio.shield(main)
            except asyncio.CancelledError:
                if main.cancelled():  # pragma: no cover - only _abort cancels, never main
                    raise
                if not self._cancelled:
                    self._cancelled = True
                    self._abort()
                continue
            break
        self.result = result
        if self._cancelled:
            raise asyncio.CancelledError
        if not result.ok:
            raise BatchError(result, self._details, self._hint)
        return result

    async def _main(self) -> BatchResult:
        started = self._owner.clock()
        self._details = self._hint = ""
        try:
            await self._prepare()
            await self._phase([self._host_guests(uri) for uri in self.plan.uris])
        except VmguiError as exc:  # a shared step failed, or the plan does not fit
            self._fail(exc.summary, exc.details, exc.hint)
        except asyncio.CancelledError:  # from _phase: the user cancelled
            self._cancelled = True
        left: list[str] = []
        if (self._failure or self._cancelled) and not self.plan.keep_finished:
            left = await self._roll_back_finished()
        for guest in self._guests:
            if not guest.phase.final:
                guest.phase = GuestPhase.NOT_MADE if guest.step is None else GuestPhase.ROLLED_BACK
        return BatchResult(
            guests=tuple(self._outcome(g) for g in self._guests),
            keep_finished=self.plan.keep_finished,
            cancelled=self._cancelled and not self._failure,
            failure=self._failure,
            shared_seconds=dict(self._shared),
            seconds=self._owner.clock() - started,
            left_behind=tuple(left),
        )

    def _outcome(self, guest: _Guest) -> GuestOutcome:
        result: ProvisionResult | None = guest.run.result() if guest.finished else None
        failed = guest.phase is GuestPhase.FAILED
        return GuestOutcome(
            guest.item, guest.phase, result, guest.step if failed else None, guest.error
        )

    def _fail(self, summary: str, details: str = "", hint: str = "") -> None:
        if not self._failure:
            self._failure, self._details, self._hint = summary, details, hint
        self._abort()

    def _abort(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _phase(self, coros: list[Coroutine[Any, Any, None]]) -> None:
        """Run ``coros`` concurrently, each its own task (:meth:`_abort` cancels them)."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks)
        finally:
            self._tasks.difference_update(tasks)
        errors = [e for t in tasks if not t.cancelled() and (e := t.exception()) is not None]
        for error in errors:
            if not isinstance(error, VmguiError):
                raise error  # a bug: let it be seen
        if errors:
            raise errors[0]
        if any(t.cancelled() for t in tasks) and not self._failure:
            raise asyncio.CancelledError

    # -- shared steps -----------------------------------------------------------------------

    async def _prepare(self) -> None:
        """Validate, download once, prepare every pool, upload the base once per host."""
        t0 = self._owner.clock()
        await self._phase([self._check_rooms()])
        await self._phase([self._shared_steps(uri, (Step.VALIDATE,)) for uri in self.plan.uris])
        self._timed(Step.VALIDATE, t0)
        first = self.plan.uris[0]
        t0 = self._owner.clock()
        await self._phase([self._shared_steps(first, (Step.DOWNLOAD,))])
        for uri in self.plan.uris[1:]:
            self._leads[uri].share(self._leads[first], host=False)
        self._timed(Step.DOWNLOAD, t0)
        t0 = self._owner.clock()
        await self._phase([self._shared_steps(uri, (Step.POOL,)) for uri in self.plan.uris])
        problems = []
        for uri, lead in self._leads.items():
            base = 0 if lead.base_reused or lead.image is None else lead.image.file_size
            short = pool_shortfall(lead.pool_available, len(self.plan.on(uri)), base)
            if short:
                problems.append(f"pool {lead.plan.pool!r} on {lead.host.display_name}: {short}")
        if problems:
            raise BatchPlanError(problems)
        self._timed(Step.POOL, t0)
        t0 = self._owner.clock()
        await self._phase([self._shared_steps(uri, (Step.UPLOAD,)) for uri in self.plan.uris])
        self._timed(Step.UPLOAD, t0)
        for guest in self._guests:
            guest.run.share(self._leads[guest.item.uri], host=True)

    def _timed(self, step: Step, t0: float) -> None:
        self._shared[step] = self._owner.clock() - t0

    async def _check_rooms(self) -> None:
        async def room(uri: str) -> tuple[str, HostRoom]:
            host = self._owner.hosts[uri]
            pool = self.plan.on(uri)[0].plan.pool
            found = await host.call(
                lambda c: room_blocking(c, host.display_name, pool),
                f"Could not check the batch against {host.display_name}",
            )
            return uri, found

        rooms = dict(await asyncio.gather(*(room(uri) for uri in self.plan.uris)))
        problems = batch_problems(self.plan, rooms)
        if problems:
            raise BatchPlanError(problems)

    async def _shared_steps(self, uri: str, steps: tuple[Step, ...]) -> None:
        lead = self._leads[uri]
        await lead.txn.run(lead.steps(steps))  # records nothing: the base image is a cache

    # -- the guests -------------------------------------------------------------------------

    async def _host_guests(self, uri: str) -> None:
        """Run the host's guests through the pipeline, in order."""
        guests = [g for g in self._guests if g.item.uri == uri]
        slots = asyncio.Semaphore(self._owner.pipeline)
        previous: asyncio.Future[None] | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            for guest in guests:
                await slots.acquire()
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                task = asyncio.ensure_future(self._guest(guest, previous, done, slots))
                self._tasks.add(task)
                tasks.append(task)
                previous = done
        finally:
            while not all(t.done() for t in tasks):  # let them roll back, even when cancelled
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait(tasks)
            self._tasks.difference_update(tasks)

    async def _guest(
        self,
        guest: _Guest,
        previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
        slots: asyncio.Semaphore,
    ) -> None:
        item, txn = guest.item, guest.run.txn
        guest.phase = GuestPhase.RUNNING
        try:
            for step, fn in guest.run.steps(PREPARE_STEPS):
                guest.step = step
                await txn.step(step, fn)
            if previous is not None:
                await asyncio.shield(previous)  # the host's guests are committed in order
            for step, fn in guest.run.steps(COMMIT_STEPS):
                guest.step = step
                await txn.step(step, fn)
        except Exception as exc:
            step = guest.step or PREPARE_STEPS[0]
            left = await txn.rollback()
            error = as_provision_error(exc, step, item.name, left)
            reason = error.summary.removeprefix(f"{item.name} (step {step.value}): ")
            guest.phase, guest.error = GuestPhase.FAILED, reason
            self._end(guest, f"failed at {step.value}: {reason}")
            self._fail(f"{item.name} failed at {step.value}: {reason}", error.details, error.hint)
        except asyncio.CancelledError:
            made = bool(txn.created)
            await txn.rollback()
            guest.phase = GuestPhase.ROLLED_BACK if made else GuestPhase.NOT_MADE
            self._end(guest, "rolled back" if made else "not made")
        else:
            guest.finished = True
            guest.phase = GuestPhase.FINISHED
            self._end(guest, "running" if item.plan.start else "defined")
        finally:
            if not done.done():
                done.set_result(None)
            slots.release()

    def _end(self, guest: _Guest, message: str) -> None:
        self._report(
            BatchProgress(guest.item.index, guest.item.uri, guest.phase, None, None, message)
        )

    async def _roll_back_finished(self) -> list[str]:
        """Remove every finished guest (all or none), newest first on each host."""

        async def host(uri: str) -> list[str]:
            left: list[str] = []
            for guest in reversed([g for g in self._guests if g.item.uri == uri]):
                if guest.phase is GuestPhase.FINISHED:
                    left.extend(await guest.run.txn.rollback())
                    guest.phase = GuestPhase.ROLLED_BACK
                    self._end(guest, "rolled back")
            return left

        lists = await asyncio.gather(*(host(uri) for uri in self.plan.uris))
        return [thing for found in lists for thing in found]
