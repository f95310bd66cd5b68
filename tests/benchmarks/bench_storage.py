"""Opening Host → Storage… and Networks… on a host with 1000 volumes (test driver).

* Time from ``StorageWindow.start()`` until the pool table and the first pool's 1000 volumes
  are shown, and the Qt thread's CPU time meanwhile (``time.thread_time()`` on the Qt thread:
  the libvirt calls run on the host's worker, so this is what the window itself costs).
* The same for the Networks window (networks, guests attached, leases tried).
* Event → repaint: a pool defined behind the window's back until its row is shown (events,
  no polling; includes the 100 ms debounce).

Several fresh windows each; median / max. Run: ``python -m tests.benchmarks.bench_storage
[--runs 5] [--volumes 1000]``. The first run includes the first libvirt calls of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.benchmarks.benchlib import med_max, print_table

T = TypeVar("T")
GIB = 1 << 30
MIB = 1 << 20


class _Shell:
    """The little of a Shell the windows use (errors fail the benchmark)."""

    def __init__(self, parent: Any) -> None:
        self._parent = parent

    @property
    def dialog_parent(self) -> Any:
        return self._parent

    def notify(self, text: str, msecs: int = 0) -> None:
        pass

    def show_error(self, error: Exception) -> None:
        raise RuntimeError(f"unexpected error: {error}")

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return asyncio.ensure_future(coro)


def _node(volumes: int, directory: Path) -> str:
    from tests.fixtures.genfixture import Volume, node_domains, node_uri, render_node

    base = Volume("bench-base.qcow2", 20 * GIB, 512 * MIB, "qcow2")
    extra = [base] + [
        Volume(f"bench-{i:04d}.qcow2", 10 * GIB, MIB, "qcow2", base.path if i % 2 == 0 else None)
        for i in range(volumes)
    ]
    path = directory / "storage-node.xml"
    path.write_text(render_node(node_domains(50, 25), extra_volumes=extra), encoding="utf-8")
    return node_uri(path)


async def _until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError("not populated in time")
        await asyncio.sleep(0.001)


async def _storage_run(uri: str, volumes: int) -> tuple[float, float, float]:
    from tests.testdriver.helpers import Recorder
    from vmgui.core.xml.build import dir_pool_xml
    from vmgui.ui.dialogs import QtDialogs
    from vmgui.ui.storage.window import StorageWindow
    from vmgui.virt.connection import HostConnection

    host = HostConnection(uri, Recorder(), keepalive=None)
    await host.connect()
    window = StorageWindow(host, _Shell(None), QtDialogs())
    window.show()
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        window.start()
        # the guests' own disks are in the pool too
        await _until(lambda: window.volumes.rowCount() >= volumes)
        populated = time.perf_counter() - wall
        qt_cpu = time.thread_time() - cpu

        def define(conn: Any) -> None:
            conn.storagePoolDefineXML(dir_pool_xml("bench-event", "/bench-event"), 0)

        started = time.perf_counter()
        await host.call(define, "define")
        await _until(lambda: "bench-event" in [p.name for p in window.pools.rows])
        event = time.perf_counter() - started
        return populated, qt_cpu, event
    finally:
        window.close()
        await host.close()


async def _networks_run(uri: str) -> tuple[float, float]:
    from tests.testdriver.helpers import Recorder
    from vmgui.ui.dialogs import QtDialogs
    from vmgui.ui.networks.window import NetworksWindow
    from vmgui.virt.connection import HostConnection

    host = HostConnection(uri, Recorder(), keepalive=None)
    await host.connect()
    window = NetworksWindow(host, _Shell(None), QtDialogs())
    window.show()
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        await window.start()
        return time.perf_counter() - wall, time.thread_time() - cpu
    finally:
        window.close()
        await host.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--volumes", type=int, default=1000)
    args = parser.parse_args(argv)

    from vmgui.app import use_unix_event_dispatcher

    use_unix_event_dispatcher()  # before the QApplication
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    tmp = Path(tempfile.mkdtemp(prefix="vmgui-bench-storage-"))
    try:
        uri = _node(args.volumes, tmp)
        storage = [
            loop.run_until_complete(_storage_run(uri, args.volumes)) for _ in range(args.runs)
        ]
        networks = [loop.run_until_complete(_networks_run(uri)) for _ in range(args.runs)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(
        f"Storage view, {args.volumes} volumes + 50 guests (test driver), {args.runs} runs",
        ["figure", "median / max", "target"],
        [
            ["start -> pools and volumes shown", med_max([s[0] for s in storage]), "-"],
            ["Qt-thread CPU meanwhile", med_max([s[1] for s in storage]), "-"],
            ["pool defined elsewhere -> row shown", med_max([s[2] for s in storage]), "events"],
        ],
    )
    print_table(
        f"Networks view (test driver), {args.runs} runs",
        ["figure", "median / max", "target"],
        [
            ["start -> networks shown", med_max([n[0] for n in networks]), "-"],
            ["Qt-thread CPU meanwhile", med_max([n[1] for n in networks]), "-"],
        ],
    )
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
