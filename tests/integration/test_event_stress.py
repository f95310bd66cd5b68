"""The segfault regression: blocking calls on workers while a real libvirtd sends events.

DESIGN.md, "Threading", fact 2: with libvirtaio on the asyncio loop and calls on worker
threads, the process segfaulted against a real libvirtd. See :mod:`tests.integration.eventstress`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.eventstress import stress
from tests.integration.helpers import Run
from tests.integration.lab import Lab, TinyGuest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CYCLES = 30
CALLS = 300


@pytest.fixture(scope="module")
def running(lab: Lab) -> Iterator[TinyGuest]:
    """A running tiny guest (suspend/resume needs no finished boot)."""
    guest = lab.define_guest()
    lab.domain(guest).create()
    yield guest
    lab.remove_guest(guest)


def test_calls_on_workers_while_events_flow(running: TinyGuest, lab: Lab, mrun: Run) -> None:
    result = mrun(stress(lab.uri, running.uuid, cycles=CYCLES, calls=CALLS), 300.0)
    assert not result.problems(CYCLES, CALLS), result
    assert all(count > 0 for count in result.by_kind.values()), result.by_kind


def test_calls_on_workers_while_events_flow_in_a_subprocess(running: TinyGuest, lab: Lab) -> None:
    """The same load in a child process: a crash is a failed return code, not a dead pytest."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "faulthandler",
            "-m",
            "tests.integration.eventstress",
            lab.uri,
            running.uuid,
            f"--cycles={CYCLES}",
            f"--calls={CALLS}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        pytest.fail(
            f"the stress subprocess died from {name} (return code {proc.returncode})"
            + (" — the segfault of DESIGN.md fact 2 is back" if name == "SIGSEGV" else "")
            + f"\nstderr:\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["cycles_done"] == CYCLES
    assert min(result["returned"]) >= CALLS
