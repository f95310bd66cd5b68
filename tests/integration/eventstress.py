"""Blocking calls on worker threads while libvirt events flow (DESIGN.md, "Threading", fact 2).

With ``libvirtaio`` on the asyncio loop this very load made the process segfault against a real
libvirtd. vmgui's design (libvirt's default event implementation on its own thread, one worker
thread per connection) must survive it: every call returns, every lifecycle change is seen.

:func:`stress` runs in the pytest process (test_event_stress.py); ``python -m
tests.integration.eventstress URI UUID`` runs it in a subprocess, so that a segfault shows as
a return code instead of killing pytest. The guest ``UUID`` must be running; it is left running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import libvirt

from tests.conftest import wait_until
from tests.integration.helpers import Recorder, transitions
from vmgui.core.model import GuestState
from vmgui.virt.connection import HostConnection
from vmgui.virt.events import ensure_event_loop

#: The observer must have seen at least this many PAUSED → RUNNING transitions (refreshes are
#: coalesced, so not necessarily one per cycle).
MIN_TRANSITIONS = 5

Call = Callable[[libvirt.virConnect], int]


@dataclass(slots=True)
class StressResult:
    """What happened, per vmgui connection (two of them, each with its own worker)."""

    cycles_done: int = 0
    issued: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    transitions: list[int] = field(default_factory=list)
    final_states: list[str] = field(default_factory=list)
    observer_threads: list[str] = field(default_factory=list)
    toggler_error: str = ""
    seconds: float = 0.0

    def problems(self, cycles: int, calls: int) -> list[str]:
        """What went wrong ([] when the run holds up)."""
        found = []
        if self.toggler_error:
            found.append(f"the outside toggler failed: {self.toggler_error}")
        if self.cycles_done != cycles:
            found.append(f"only {self.cycles_done} of {cycles} suspend/resume cycles ran")
        for i, (issued, returned) in enumerate(zip(self.issued, self.returned, strict=True)):
            if returned != issued or returned < calls:
                found.append(f"connection {i}: {returned} of {issued} calls returned ({calls}+)")
        for i, count in enumerate(self.transitions):
            if count < MIN_TRANSITIONS:
                found.append(
                    f"connection {i}: its observer saw {count} paused→running transitions "
                    f"(fewer than {MIN_TRANSITIONS}) for {cycles} cycles"
                )
        for i, state in enumerate(self.final_states):
            if state != GuestState.RUNNING.label:
                found.append(f"connection {i}: final state {state}, expected running")
        if len(self.observer_threads) != 1:
            found.append(f"observers ran on several threads: {self.observer_threads}")
        return found


def _calls(uuid: str) -> list[tuple[str, Call]]:
    # Results are reduced to ints on the worker: no libvirt object is freed on the loop thread.
    return [
        ("listAllDomains", lambda c: len(c.listAllDomains(0))),
        # Stats of this guest only: other programs' guests may vanish mid-call on a shared host.
        ("domainListGetStats", lambda c: len(c.domainListGetStats([c.lookupByUUIDString(uuid)]))),
        ("XMLDesc", lambda c: len(c.lookupByUUIDString(uuid).XMLDesc(0))),
        ("getCapabilities", lambda c: len(c.getCapabilities())),
    ]


def _toggle(uri: str, uuid: str, cycles: int, gap: float, result: StressResult) -> None:
    """Suspend and resume the guest through a raw connection (another program, like virsh)."""
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(uuid)
        for _ in range(cycles):
            dom.suspend()
            time.sleep(gap)
            dom.resume()
            time.sleep(gap)
            result.cycles_done += 1
    except libvirt.libvirtError as exc:
        result.toggler_error = str(exc)
    finally:
        try:
            if conn.lookupByUUIDString(uuid).info()[0] == libvirt.VIR_DOMAIN_PAUSED:
                conn.lookupByUUIDString(uuid).resume()
        finally:
            conn.close()


async def stress(
    uri: str, uuid: str, *, cycles: int = 30, calls: int = 300, streams: int = 3, gap: float = 0.04
) -> StressResult:
    """Toggle the guest ``cycles`` times from outside while two vmgui connections each make
    at least ``calls`` blocking calls (``streams`` at a time); then report what was seen."""
    ensure_event_loop()
    started = time.monotonic()
    result = StressResult()
    recs = [Recorder(), Recorder()]
    hosts = [HostConnection(uri, rec) for rec in recs]
    try:
        for host in hosts:
            await host.connect()
        kinds = _calls(uuid)
        result.issued = [0, 0]
        result.returned = [0, 0]
        result.by_kind = dict.fromkeys((name for name, _fn in kinds), 0)
        toggler = threading.Thread(
            target=_toggle, args=(uri, uuid, cycles, gap, result), name="outside-toggler"
        )

        async def stream(index: int, offset: int) -> None:
            for name, fn in itertools.islice(itertools.cycle(kinds), offset, None):
                if result.returned[index] >= calls and not toggler.is_alive():
                    return
                result.issued[index] += 1
                await hosts[index].call(fn, f"stress call {name}")
                result.returned[index] += 1
                result.by_kind[name] += 1

        toggler.start()
        await asyncio.gather(*(stream(i, k) for i in range(2) for k in range(streams)))
        await asyncio.get_running_loop().run_in_executor(None, toggler.join)

        def settled() -> bool:
            return all(
                rec.last_state(uuid) is GuestState.RUNNING
                and host.guests[uuid].state is GuestState.RUNNING
                for host, rec in zip(hosts, recs, strict=True)
            )

        # The last resume's event must arrive; the loop may be a little behind the toggler.
        with contextlib.suppress(AssertionError):  # reported through final_states
            await wait_until(settled, 5.0)
        result.transitions = [
            transitions(rec, uuid, GuestState.PAUSED, GuestState.RUNNING) for rec in recs
        ]
        result.final_states = [
            state.label if (state := rec.last_state(uuid)) else "unknown" for rec in recs
        ]
        result.observer_threads = sorted(set().union(*(rec.threads for rec in recs)))
    finally:
        for host in hosts:
            await host.close()
    result.seconds = round(time.monotonic() - started, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run :func:`stress` and print its result as JSON; exit 1 on problems."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("uri")
    parser.add_argument("uuid")
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    result = asyncio.run(stress(args.uri, args.uuid, cycles=args.cycles, calls=args.calls))
    print(json.dumps(asdict(result)))
    problems = result.problems(args.cycles, args.calls)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
