"""Batch provisioning: vmgui's own time beyond libvirt's calls, and a batch vs 20 single runs.

(a) Test driver (node50.xml), from a local image (an uploader that only creates volumes: the
    test driver has no streams): a batch of 20 with the pipeline at 1 and at its default, and
    the same 20 as 20 single :class:`Provisioner` runs in the same process. "libvirt" is the
    wall time during which at least one worker was inside a libvirt call (every call goes
    through ``HostConnection.call``); "own" is the rest. Targets (DESIGN.md / issue 13): own
    time ≤ 2 s for 20, and per guest ≤ 1.5x the one-guest run's own time.
(b) Real daemon (qemu:///system): 5 tiny guests started (TCG, 128 MiB) as one batch, vs one
    single run of the same guest: own time per guest.
(c) Real daemon: 20 guests defined (``--no-start``: 20 running TCG guests would swamp the 2
    cores) by one ``vmgui-cli provision --count 20`` vs 20 ``vmgui-cli provision`` processes.

Guests are ``vmgui-bench-batch-*`` in pool ``vmgui-batch-bench``; everything is removed
afterwards (also after an error). Run: ``python -m tests.benchmarks.bench_batch [--no-real]``
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import libvirt

from tests.benchmarks.benchlib import fmt_ms, fmt_s, print_table
from tests.labclean import remove_lab
from tests.testdriver.helpers import CreateOnlyUploader
from vmgui.core.batch import make_batch
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.provisioning import USER_NETWORK, LocalImage, ProvisionPlan, VirtType
from vmgui.virt.batch import DEFAULT_PIPELINE, BatchProvisioner
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.provision import Provisioner

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
PREFIX = "vmgui-bench-batch-"
POOL = "vmgui-batch-bench"
POOL_PATH = f"/var/lib/libvirt/images/{POOL}"
TINY = Path("/var/tmp/vmgui-tiny-guest/tiny.qcow2")


class TimedHost(HostConnection):
    """A host that records when each libvirt call ran on its workers."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri, NullObserver(), keepalive=None)
        self.spans: list[tuple[float, float]] = []

    async def call(
        self, fn: Callable[[libvirt.virConnect], T], summary: str, *, slow: bool = False
    ) -> T:
        def timed(conn: libvirt.virConnect) -> T:
            t0 = time.perf_counter()
            try:
                return fn(conn)
            finally:
                self.spans.append((t0, time.perf_counter()))

        return await super().call(timed, summary, slow=slow)


def busy(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds within [start, end] covered by at least one span."""
    total, reach = 0.0, start
    for a, b in sorted(spans):
        a, b = max(a, reach), min(b, end)
        if b > a:
            total += b - a
            reach = b
    return total


def _template(image: Path, pool: str, **kwargs: Any) -> ProvisionPlan:
    values: dict[str, Any] = {
        "name": "x",
        "source": LocalImage(image),
        "vcpus": 1,
        "memory_mib": 128,
        "disk_bytes": 1 << 30,
        "virt_type": VirtType.QEMU,
        "network": USER_NETWORK,
        "pool": pool,
        "cloud_init": CloudInitConfig("bench", user="tester"),
        "graphics": False,
    }
    values.update(kwargs)
    return ProvisionPlan(**values)


async def _measure(host: TimedHost, job: Callable[[], Any]) -> tuple[float, float]:
    """(wall, libvirt) seconds of ``job``."""
    host.spans.clear()
    t0 = time.perf_counter()
    await job()
    t1 = time.perf_counter()
    return t1 - t0, busy(host.spans, t0, t1)


async def _testdriver(image: Path) -> list[list[str]]:
    rows = []
    runs = (("warm-up (not counted)", DEFAULT_PIPELINE), ("batch of 20", 1))
    for label, pipeline in (*runs, ("batch of 20", DEFAULT_PIPELINE)):
        host = TimedHost(f"test://{ROOT}/tests/fixtures/node50.xml")
        await host.connect()
        engine = BatchProvisioner(
            {host.uri: host}, uploader=CreateOnlyUploader(), pipeline=pipeline
        )
        plan = make_batch(_template(image, "default-pool"), "web-{n}", 20, host.uri)
        wall, lib = await _measure(host, partial(engine.provision, plan))
        rows.append(
            [
                f"{label} (pipeline {pipeline})",
                fmt_s(wall),
                fmt_s(lib),
                fmt_s(wall - lib),
                fmt_ms((wall - lib) / 20),
            ]
        )
        await host.close()
    host = TimedHost(f"test://{ROOT}/tests/fixtures/node50.xml")
    await host.connect()
    single = Provisioner(host, uploader=CreateOnlyUploader())
    await single.provision(_template(image, "default-pool", name="warm"))  # base uploaded

    async def twenty() -> None:
        for n in range(1, 21):
            await single.provision(_template(image, "default-pool", name=f"one-{n}"))

    wall, lib = await _measure(host, twenty)
    rows.append(
        [
            "20 single runs (reference)",
            fmt_s(wall),
            fmt_s(lib),
            fmt_s(wall - lib),
            fmt_ms((wall - lib) / 20),
        ]
    )
    await host.close()
    return rows


def _cleanup() -> None:
    conn = libvirt.open("qemu:///system")
    try:
        remove_lab(conn, PREFIX, POOL)
    finally:
        conn.close()
    shutil.rmtree(POOL_PATH, ignore_errors=True)


async def _real() -> list[list[str]]:
    host = TimedHost("qemu:///system")
    await host.connect()
    rows = []
    try:
        single = Provisioner(host)
        plan = _template(TINY, POOL, pool_path=POOL_PATH)
        await single.provision(replace(plan, name=f"{PREFIX}warm", start=False))  # the base
        wall, lib = await _measure(
            host, lambda: single.provision(replace(plan, name=f"{PREFIX}one"))
        )
        rows.append(
            [
                "1 tiny guest, single run",
                fmt_s(wall),
                fmt_s(lib),
                fmt_s(wall - lib),
                fmt_s(wall - lib),
            ]
        )
        engine = BatchProvisioner({host.uri: host})
        batch = make_batch(plan, PREFIX + "{n}", 5, host.uri)
        wall, lib = await _measure(host, lambda: engine.provision(batch))
        rows.append(
            [
                "batch of 5 tiny guests",
                fmt_s(wall),
                fmt_s(lib),
                fmt_s(wall - lib),
                fmt_ms((wall - lib) / 5),
            ]
        )
    finally:
        await host.close()
    return rows


def _cli(count: int) -> list[list[str]]:
    base = [
        sys.executable, "-m", "vmgui.cli", "provision", "--connect", "qemu:///system",
        "--image", str(TINY), "--virt-type", "qemu", "--network", "user", "--pool", POOL,
        "--pool-path", POOL_PATH, "--memory", "128", "--vcpus", "1", "--disk", "1",
        "--no-graphics", "--no-start",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(
        [*base, "--count", str(count), "--name", PREFIX + "b{n}"], check=True, capture_output=True
    )
    batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in range(1, count + 1):
        subprocess.run([*base, "--name", f"{PREFIX}s{n}"], check=True, capture_output=True)
    singles = time.perf_counter() - t0
    return [
        [f"vmgui-cli provision --count {count}", fmt_s(batch), "1.00x"],
        [f"{count} x vmgui-cli provision", fmt_s(singles), f"{singles / batch:.2f}x"],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-real", action="store_true", help="test driver only")
    args = parser.parse_args(argv)
    headers = ["run", "wall", "libvirt", "vmgui's own", "own per guest"]
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "tiny.qcow2"
        header = bytearray(64 * 1024)
        header[:4] = b"QFI\xfb"
        struct.pack_into(">I", header, 4, 3)
        struct.pack_into(">Q", header, 24, 1 << 30)
        image.write_bytes(bytes(header))
        rows = asyncio.run(_testdriver(image))
    print_table(
        "(a) test driver: batch of 20 vs 20 single runs "
        "(targets: own ≤ 2 s for 20; per guest ≤ 1.5x a single run's)",
        headers,
        rows,
    )
    if args.no_real:
        return 0
    _cleanup()
    try:
        real = asyncio.run(_real())
        print_table(
            "(b) real daemon: 5 tiny guests started "
            "(target: per guest ≤ 1.5x the single run's own time)",
            headers,
            real,
        )
        _cleanup()
        print_table(
            "(c) real daemon: 20 guests defined, wall time (subprocesses)",
            ["run", "wall", "vs batch"],
            _cli(20),
        )
    finally:
        _cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
