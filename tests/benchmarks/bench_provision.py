"""Provisioning: create → running from a cached image, and overlay creation vs base size.

(a) ``Provisioner.provision`` of a tiny guest (emulated, 256 MiB, cloud-init seed) on
    ``qemu:///system`` from a catalog entry whose image is already downloaded and whose base
    volume is already on the host (a warm-up run puts both there). The wall time from the call
    to "running" is split into libvirt's own start call (``virDomainCreate``) and vmgui's own
    time (everything else: checks, checksum-file request, overlay, seed, define).
    Target (DESIGN.md): vmgui's own overhead ≤ 0.3 s.
(b) Creating a qcow2 overlay volume (through libvirt, ``<backingStore>``) on a 100 MiB and on
    a 10 GiB base (sparse raw volumes): copy-on-write makes it O(1), ratio ≤ 1.2 expected.

Guests are ``vmgui-pv-bench-*`` in pool ``vmgui-prov-bench``; everything is removed afterwards.

Run: ``python -m tests.benchmarks.bench_provision [--runs 5] [--overlays 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import benchlib
from tests.benchmarks.benchlib import fmt_s, med_max, median, print_table
from tests.imageserver import ImageServer
from tests.labclean import remove_lab

PREFIX = "vmgui-pv-bench-"
POOL = "vmgui-prov-bench"
POOL_PATH = Path("/var/lib/libvirt/images") / POOL
URI = "qemu:///system"


def _cleanup(conn: Any) -> None:
    remove_lab(conn, PREFIX, POOL)
    shutil.rmtree(POOL_PATH, ignore_errors=True)


async def _provision_runs(runs: int, tiny: Path, cache: Path) -> list[Any]:
    from vmgui.core.catalog import CatalogEntry, Checksum
    from vmgui.core.cloudinit import CloudInitConfig
    from vmgui.core.provisioning import USER_NETWORK, CatalogImage, ProvisionPlan, VirtType
    from vmgui.virt.connection import HostConnection, NullObserver
    from vmgui.virt.download import Downloader
    from vmgui.virt.provision import Provisioner

    digest = hashlib.sha256(tiny.read_bytes()).hexdigest()
    files: dict[str, Path | bytes] = {
        "/tiny.qcow2": tiny,
        "/SHA256SUMS": f"{digest}  tiny.qcow2\n".encode(),
    }
    results = []
    with ImageServer(files) as server:
        entry = CatalogEntry(
            "tiny",
            "Tiny",
            url=server.url("/tiny.qcow2"),
            checksum=Checksum("sha256", url=server.url("/SHA256SUMS")),
        )
        host = HostConnection(URI, NullObserver(), keepalive=None)
        await host.connect()
        engine = Provisioner(host, downloader=Downloader(cache))
        try:
            for i in range(runs + 1):  # run 0 downloads and uploads: the warm-up
                plan = ProvisionPlan(
                    name=f"{PREFIX}{i}",
                    source=CatalogImage(entry),
                    vcpus=1,
                    memory_mib=256,
                    disk_bytes=1 << 30,
                    virt_type=VirtType.QEMU,
                    network=USER_NETWORK,
                    pool=POOL,
                    pool_path=str(POOL_PATH),
                    cloud_init=CloudInitConfig(f"bench{i}", user="bench"),
                    graphics=False,
                )
                t0 = time.perf_counter()
                result = await engine.provision(plan)
                wall = time.perf_counter() - t0
                if i > 0:
                    results.append((wall, result))
                await host.call(partial(_destroy, result.uuid), "destroy")
        finally:
            await host.close()
    return results


def _destroy(uuid: str, conn: Any) -> None:
    conn.lookupByUUIDString(uuid).destroy()


def _overlay_times(conn: Any, sizes: dict[str, int], count: int) -> dict[str, list[float]]:
    from vmgui.virt.storage import create_volume_blocking

    pool = conn.storagePoolLookupByName(POOL)
    times: dict[str, list[float]] = {}
    for label, size in sizes.items():
        base = create_volume_blocking(conn, POOL, f"{PREFIX}base-{label}.img", size, "raw")
        times[label] = []
        for i in range(count + 1):
            name = f"{PREFIX}ov-{label}-{i}.qcow2"
            t0 = time.perf_counter()
            path = create_volume_blocking(conn, POOL, name, size, "qcow2", base, "raw")
            elapsed = time.perf_counter() - t0
            if i > 0:
                times[label].append(elapsed)
            conn.storageVolLookupByPath(path).delete(0)
        pool.storageVolLookupByName(f"{PREFIX}base-{label}.img").delete(0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--overlays", type=int, default=15)
    args = parser.parse_args(argv)

    tiny = benchlib.ensure_tiny_image()
    conn = benchlib.open_raw(URI)
    cache = Path(tempfile.mkdtemp(prefix="vmgui-bench-cache-"))
    _cleanup(conn)
    try:
        results = asyncio.run(_provision_runs(args.runs, tiny, cache))
        overlays = _overlay_times(conn, {"100 MiB": 100 << 20, "10 GiB": 10 << 30}, args.overlays)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
        conn = benchlib.open_raw(URI)  # a fresh one: libvirtd may have restarted meanwhile
        _cleanup(conn)
        conn.close()
        shutil.rmtree(cache, ignore_errors=True)

    walls = [w for w, _ in results]
    starts = [r.libvirt_start_seconds for _, r in results]
    own = [w - r.libvirt_start_seconds for w, r in results]
    rows = [
        ["create → running (wall)", med_max(walls), ""],
        ["  libvirt's start call", med_max(starts), "the floor"],
        ["  vmgui's own time", med_max(own), "target ≤ 0.300 s"],
    ]
    steps = [t.step for t in results[0][1].timings]
    for step in steps:
        values = [r.timing(step).seconds for _, r in results]
        notes = sorted({r.timing(step).note for _, r in results} - {""})
        rows.append([f"  step {step.value}", med_max(values, "ms"), ", ".join(notes)])
    print_table(
        f"(a) provision from a cached image, tiny guest, TCG, {args.runs} runs (median / max)",
        ["figure", "value", "note"],
        rows,
    )
    small, large = median(overlays["100 MiB"]), median(overlays["10 GiB"])
    print_table(
        f"(b) qcow2 overlay creation through libvirt, {args.overlays} runs (median / max)",
        ["base (sparse raw)", "overlay creation", "note"],
        [
            ["100 MiB", med_max(overlays["100 MiB"], "ms"), ""],
            ["10 GiB", med_max(overlays["10 GiB"], "ms"), ""],
            ["ratio 10 GiB / 100 MiB", f"{large / small:.2f}", "expected ≤ 1.2"],
        ],
    )
    verdict = "met" if median(own) <= 0.3 else "NOT met"
    print(f"\nvmgui's own overhead: {fmt_s(median(own))} median — target ≤ 0.3 s {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
