"""All-or-nothing jobs on a host: named steps, each timed and reported, and one rollback.

A :class:`Transaction` runs a list of steps and remembers what they created. If a step fails,
or the awaiting task is cancelled, it removes exactly that, newest first, and raises one error
(:class:`~vmgui.core.provisioning.ProvisionError`, naming the step). Provisioning
(:mod:`vmgui.virt.provision`) and linked clones (:mod:`vmgui.virt.templates`) are such lists;
so are the next flows: import, migration, batch provisioning.

How to write a flow on it::

    class _Import:
        def __init__(self, host: HostConnection, name: str, progress: ProgressCallback | None):
            self.txn = Transaction(host, f"Could not import {name}", progress)
            self.name = name
            self.disk = ""

        async def run(self) -> ProvisionResult:
            timings = await self.txn.run([
                (Step.VALIDATE, self._validate),
                (Step.UPLOAD, self._upload),
                (Step.DEFINE, self._define),
            ])
            return ProvisionResult(..., timings=timings)

        async def _upload(self) -> str:          # a step: returns its note ("" or "cached"...)
            self.disk = await self.txn.create_volume(make_volume, f"Could not create {name}")
            ...
            return ""

The rules a flow follows:

* A step is an ``async`` callable taking no arguments and returning a short note ("cached",
  "reused", "skipped", or ""), which lands in its :class:`~vmgui.core.provisioning.StepTiming`.
  Keep the flow's state on the flow's object (attributes), not in closures.
* Steps are members of :class:`~vmgui.core.provisioning.Step`; a new flow adds the ones it
  lacks there (each with a label). Each step is reported to the progress callback when it
  starts (its label, 0.0) and ends ("label: done", 1.0); :meth:`Transaction.report` sends the
  reports in between (transfers: bytes, speed, ETA).
* Record what you create **as soon as it exists**: :meth:`~Transaction.create_volume` and
  :meth:`~Transaction.create_domain` run the creating call on the host's worker and record its
  result even when the task is cancelled while the call runs; :meth:`~Transaction.created_volume`
  records a volume something else made (an uploader); :meth:`~Transaction.on_rollback` records
  any other undo, an ``async`` callable (e.g. removing a copy from another host).
* Never record what you found: a cached base image, a volume being imported, a template's
  disks. The rollback removes only what was recorded, so those always stay.
* Errors: a :class:`~vmgui.core.errors.VmguiError` from a step keeps its summary, details and
  hint; an ``OSError`` reads "A local file could not be used"; anything else "Unexpected error".
  The rollback is shielded: cancelling the task while it runs does not interrupt it (the
  cancellation propagates once it is done). What it could not remove is logged and listed in
  :attr:`ProvisionError.left_behind <vmgui.core.provisioning.ProvisionError.left_behind>`.
* A volume or guest it could not remove because its host's connection was lost is written to
  the :class:`~vmgui.core.leftovers.LeftoverBook` (``later=`` of :meth:`~Transaction.on_rollback`;
  :meth:`~Transaction.created_volume` and :meth:`~Transaction.created_domain` do it themselves):
  vmgui offers to remove it when it reaches the host again (:mod:`vmgui.virt.leftovers`). A job
  that makes the same thing again takes it over: its entry is struck.
* Batch provisioning: one transaction per guest (a failed guest leaves nothing behind, the
  others stay); :meth:`Transaction.rollback` undoes a finished transaction too, when a batch is
  meant to be all-or-nothing as a whole.
* Tests and benchmarks wrap every step with a :class:`StepRunner` (to inject a failure or a
  cancel after a given step).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import libvirt

from vmgui.core.errors import VmguiError
from vmgui.core.leftovers import Leftover, LeftoverBook, guest_leftover, volume_leftover
from vmgui.core.model import ConnectionState
from vmgui.core.provisioning import (
    Progress,
    ProgressCallback,
    ProvisionError,
    Step,
    StepTiming,
)
from vmgui.core.validation import host_display_name
from vmgui.virt.connection import HostConnection
from vmgui.virt.provhost import remove_domain_blocking
from vmgui.virt.storage import call_keeping, delete_volume_blocking

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

StepFn = Callable[[], Awaitable[str]]
"""One step: does its work and returns its note ("" when there is nothing to say)."""

Undo = Callable[[], Awaitable[None]]
"""Removes one thing a transaction created."""


class StepRunner(Protocol):
    """Runs one step (e.g. to time or log it, or to inject a fault in tests)."""

    async def __call__(self, step: Step, run: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``run`` for ``step`` and return its result."""
        ...


async def run_step(step: Step, run: Callable[[], Awaitable[_T]]) -> _T:
    """The default :class:`StepRunner`: just run the step."""
    return await run()


@dataclass(frozen=True, slots=True)
class _Created:
    what: str  # "volume /path", "guest web1": for the rollback's report
    undo: Undo
    later: Leftover | None  # written down when ``on`` is gone at rollback time
    on: HostConnection


class Transaction:
    """Runs named steps on a host, records what they create, and undoes it on failure.

    Args:
        host: the host the steps work on (created volumes and domains live there).
        failed: the summary's start when it fails, e.g. "Could not create web1"; the error
            reads "Could not create web1 (step define): <the step's summary>".
        progress: gets every :class:`~vmgui.core.provisioning.Progress`, on the loop's thread.
        clock: monotonic clock for the step timings.
        runner: wraps every step (default :func:`run_step`).
        leftovers: where what a lost host keeps is written down (default: the user's book).
    """

    def __init__(
        self,
        host: HostConnection,
        failed: str,
        progress: ProgressCallback | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
        runner: StepRunner | None = None,
        leftovers: LeftoverBook | None = None,
    ) -> None:
        self.host = host
        self.leftovers = leftovers or LeftoverBook()
        #: What the last rollback wrote down for later (its hosts were gone).
        self.pending: tuple[Leftover, ...] = ()
        self.failed = failed
        self._progress = progress
        self._clock = clock
        self._runner: StepRunner = runner or run_step
        self._timings: list[StepTiming] = []
        self._created: list[_Created] = []
        self._step: Step | None = None

    @property
    def timings(self) -> tuple[StepTiming, ...]:
        """The steps run so far, in order (a failed step is included)."""
        return tuple(self._timings)

    @property
    def created(self) -> tuple[str, ...]:
        """What the rollback would remove, oldest first ("volume /path", "guest web1")."""
        return tuple(c.what for c in self._created)

    async def run(self, steps: Sequence[tuple[Step, StepFn]]) -> tuple[StepTiming, ...]:
        """Run ``steps`` in order; on failure or cancel, roll back first.

        Returns:
            The timings of all steps.

        Raises:
            ProvisionError: a step failed (after the rollback; ``left_behind`` lists what it
                could not remove).
            asyncio.CancelledError: the task was cancelled (after the same rollback).
        """
        try:
            for step, fn in steps:
                await self.step(step, fn)
        except Exception as exc:
            left = await self.rollback()
            step = self._step or steps[0][0]
            raise as_provision_error(exc, step, self.failed, left, self.pending) from exc
        except BaseException:
            await self.rollback()
            raise
        return self.timings

    async def step(self, step: Step, fn: StepFn) -> None:
        """Run one step: report its start, time it, report its end (no rollback here)."""
        self._step = step
        t0 = self._clock()
        self.report(step.label, 0.0)
        note = ""
        try:
            note = await self._runner(step, fn)
        finally:
            self._timings.append(StepTiming(step, self._clock() - t0, note))
        self.report(f"{step.label}: done", 1.0)

    def report(
        self,
        message: str,
        fraction: float | None = None,
        transfer: tuple[int, int | None, float | None, float | None] | None = None,
    ) -> None:
        """Report progress within the running step.

        Args:
            message: what happens, for people.
            fraction: 0..1 within the step, or None when unknown.
            transfer: (bytes done, bytes in all or None, speed or None, ETA or None).
        """
        if self._progress is None or self._step is None:
            return
        done, total, speed, eta = transfer or (0, None, None, None)
        self._progress(Progress(self._step, message, fraction, done, total, speed, eta))

    # -- what the steps create ------------------------------------------------------------

    async def create_volume(self, fn: Callable[[libvirt.virConnect], str], summary: str) -> str:
        """Run ``fn`` (creates a volume, returns its path) on the worker and record the volume.

        The volume is recorded even when the task is cancelled while ``fn`` runs.
        """
        return await call_keeping(self.host, fn, summary, self.created_volume)

    async def create_domain(
        self, fn: Callable[[libvirt.virConnect], str], summary: str, name: str
    ) -> str:
        """Run ``fn`` (defines a guest, returns its UUID) on the worker and record the guest.

        The guest is recorded even when the task is cancelled while ``fn`` runs.
        """
        return await call_keeping(
            self.host, fn, summary, lambda uuid: self.created_domain(uuid, name)
        )

    def created_volume(self, path: str) -> None:
        """Record a volume this transaction made (the rollback deletes it)."""
        self.on_rollback(
            f"volume {path}",
            lambda: self._delete_volume(path),
            later=volume_leftover(self.host.uri, path, self.failed),
        )

    def created_domain(self, uuid: str, name: str) -> None:
        """Record a guest this transaction defined (the rollback destroys and undefines it)."""
        self.on_rollback(
            f"guest {name}",
            lambda: self._remove_domain(uuid, name),
            later=guest_leftover(self.host.uri, uuid, name, self.failed),
        )

    def on_rollback(
        self,
        what: str,
        undo: Undo,
        *,
        later: Leftover | None = None,
        on: HostConnection | None = None,
    ) -> None:
        """Record any other undo; ``what`` names the thing in the report ("copy on host2").

        Args:
            what: the thing, for people.
            undo: removes it.
            later: the thing for the leftover book, when ``undo`` fails because its host
                ``on`` (default: the transaction's) is not connected at rollback time.
            on: the host the thing is on.
        """
        if later is not None:
            self._take_over(later)
        self._created.append(_Created(what, undo, later, on or self.host))

    def _take_over(self, item: Leftover) -> None:
        try:
            self.leftovers.forget([item])
        except (VmguiError, OSError) as exc:
            _log.warning("leftover book: %s", exc)

    async def _delete_volume(self, path: str) -> None:
        await self.host.call(lambda c: delete_volume_blocking(c, path), f"Could not delete {path}")

    async def _remove_domain(self, uuid: str, name: str) -> None:
        await self.host.call(lambda c: remove_domain_blocking(c, uuid), f"Could not remove {name}")

    # -- rollback ---------------------------------------------------------------------------

    async def rollback(self) -> tuple[str, ...]:
        """Undo everything recorded, newest first; each thing at most once.

        Shielded: cancelling the awaiting task does not interrupt the rollback; the
        cancellation is raised once it is done.

        Returns:
            What could not be removed, each with the reason.

        Raises:
            asyncio.CancelledError: the task was cancelled while the rollback ran.
        """
        task = asyncio.ensure_future(self._rollback())
        cancelled = False
        while True:
            try:
                left = await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():  # pragma: no cover - nothing cancels the inner task
                    raise
                cancelled = True
                continue
            if cancelled:
                raise asyncio.CancelledError
            return left

    async def _rollback(self) -> tuple[str, ...]:
        left: list[str] = []
        later: list[Leftover] = []
        while self._created:
            item = self._created.pop()
            try:
                await item.undo()
            except Exception as exc:
                reason = (
                    exc.details or exc.summary
                    if isinstance(exc, VmguiError)
                    else f"{type(exc).__name__}: {exc}"
                )
                left.append(f"{item.what} ({reason})")
                if item.later is not None and item.on.state is not ConnectionState.CONNECTED:
                    later.append(item.later)
        if left:
            _log.error("%s: rollback left %s", self.failed, left)
        if later:
            try:
                self.leftovers.add(later)
                self.pending = tuple(later)
            except (VmguiError, OSError) as exc:
                _log.error("%s: could not write down %s: %s", self.failed, later, exc)
        return tuple(left)


def as_provision_error(
    exc: BaseException,
    step: Step,
    failed: str,
    left: tuple[str, ...],
    pending: tuple[Leftover, ...] = (),
) -> ProvisionError:
    """The one error a failed transaction raises.

    Args:
        exc: what the step raised.
        step: the step that failed.
        failed: the summary's start, e.g. "Could not create web1".
        left: what the rollback could not remove.
        pending: what of it was written down for when its host is back.
    """
    if isinstance(exc, VmguiError):
        summary, details, hint = exc.summary, exc.details, exc.hint
    elif isinstance(exc, OSError):
        summary, details, hint = "A local file could not be used", str(exc), ""
    else:
        summary, details, hint = f"Unexpected error: {type(exc).__name__}", str(exc), ""
    if left:
        details = f"{details}; clean-up left behind: {', '.join(left)}".lstrip("; ")
    for uri in dict.fromkeys(item.uri for item in pending):
        later = (
            f"vmgui offers to remove what is left on {host_display_name(uri)} once it is back "
            f"(or: vmgui-cli cleanup --connect {uri})"
        )
        hint = f"{hint} {later}".strip() if hint else later
    return ProvisionError(
        step, f"{failed} (step {step.value}): {summary}", details, hint, left_behind=left
    )
