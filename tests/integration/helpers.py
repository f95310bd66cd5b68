"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import itertools
import warnings
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from tests.conftest import wait_until
from tests.testdriver.helpers import Recorder
from vmgui.core.model import GuestState
from vmgui.virt.connection import HostConnection

Run = Callable[..., Any]
OpenHost = Callable[..., tuple[HostConnection, Recorder]]

#: After a missed deadline, how long to keep watching to tell a late change from a lost one.
LATE_TIMEOUT = 30.0

__all__ = [
    "OpenHost",
    "Recorder",
    "Run",
    "SharedHostDelayWarning",
    "connect",
    "excuse_late_change",
    "promptly",
    "reaches",
    "states_seen",
    "transitions",
]


def connect(run: Run, uri: str, **kwargs: Any) -> tuple[HostConnection, Recorder]:
    """A connected HostConnection to ``uri`` and the Recorder that observes it."""
    rec = Recorder()
    host = HostConnection(uri, rec, **kwargs)
    run(host.connect())
    return host, rec


def states_seen(rec: Recorder, uuid: str, since: int = 0) -> list[GuestState]:
    """The states the observer was told for one guest (guest_changed), from record ``since``."""
    return [g.state for g in rec.changed[since:] if g.uuid == uuid]


def transitions(rec: Recorder, uuid: str, old: GuestState, new: GuestState) -> int:
    """How often the observed state of a guest went from ``old`` to ``new``."""
    seen = states_seen(rec, uuid)
    return sum(1 for a, b in itertools.pairwise(seen) if a is old and b is new)


async def promptly(
    what: str,
    predicate: Callable[[], bool],
    timeout: float,
    rec: Recorder,
    ours: AbstractSet[str],
    describe: Callable[[], str] = lambda: "",
) -> None:
    """Await ``predicate`` within ``timeout`` s; a late one fails unless others explain it.

    Args:
        what: what should happen, for the failure message.
        predicate: whether it happened.
        timeout: the deadline in seconds.
        rec: the observer of the host the change goes through.
        ours: the UUIDs of the guests concerned (changes of others count as interference).
        describe: what was seen at the deadline, for the failure message.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    changed_before, removed_before = len(rec.changed), len(rec.removed)
    try:
        await wait_until(predicate, timeout)
    except AssertionError as exc:
        facts = f"{what} did not happen within {timeout} s{describe()}"
        try:  # late or lost?
            await wait_until(predicate, LATE_TIMEOUT)
        except AssertionError:
            raise AssertionError(f"{facts}; still not {LATE_TIMEOUT:.0f} s later") from exc
        others = {g.name for g in rec.changed[changed_before:] if g.uuid not in ours}
        others.update(u for u in rec.removed[removed_before:] if u not in ours)
        excuse_late_change(f"{facts}; it happened after {loop.time() - started:.2f} s", others)


async def reaches(
    host: HostConnection, rec: Recorder, uuid: str, state: GuestState, since: int, timeout: float
) -> None:
    """Await the observer being told ``state`` (after record ``since``) and the host showing it."""

    def done() -> bool:
        guest = host.guests.get(uuid)
        return (
            guest is not None
            and guest.state is state
            and state in states_seen(rec, uuid, since)
            and rec.last_state(uuid) is state
        )

    def describe() -> str:
        shown = host.guests.get(uuid)
        return (
            f": the host showed {shown.state.label if shown else 'nothing'}, the observer had "
            f"been told {[s.label for s in states_seen(rec, uuid, since)]}"
        )

    await promptly(f"{uuid} reaching {state.label}", done, timeout, rec, {uuid}, describe)


class SharedHostDelayWarning(UserWarning):
    """A change reached vmgui late while other programs' guests changed on the shared host."""


def excuse_late_change(facts: str, others: Iterable[str]) -> None:
    """Fail for a late change, unless other guests changed meanwhile: then only warn.

    One worker serialises a host's calls (DESIGN.md, "Threading"), so on a daemon shared with
    other programs a refresh of our guest can wait behind a read of theirs that libvirt holds
    while it destroys it (measured: 2 s). CI runs this suite alone; there any delay fails.
    """
    names = sorted(others)
    if not names:
        raise AssertionError(f"{facts}; no other guest changed meanwhile")
    warnings.warn(
        SharedHostDelayWarning(f"{facts}; other guests changed meanwhile: {', '.join(names)}"),
        stacklevel=2,
    )
