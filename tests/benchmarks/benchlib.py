"""Shared helpers for the benchmarks (not collected by pytest: no ``test_`` prefix).

* tables, statistics, machine load, RSS, and the PySide6 refcount guard;
* tiny real guests named ``vmgui-bench-*`` under ``qemu:///system`` (defined, started,
  cleaned up);
* 1000-domain test-driver nodes;
* re-exported: the X display and window watcher (:mod:`tests.benchmarks.benchx11`) and the
  slow-host relay (:mod:`tests.benchmarks.benchrelay`).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.benchmarks.benchrelay import SlowCapsRelay as SlowCapsRelay
from tests.benchmarks.benchx11 import WindowWatcher as WindowWatcher
from tests.benchmarks.benchx11 import display_reachable as display_reachable
from tests.benchmarks.benchx11 import x_display as x_display

ROOT = Path(__file__).resolve().parents[2]

PREFIX = "vmgui-bench-"
IMAGES = Path(os.environ.get("VMGUI_BENCH_IMAGES", "/var/lib/libvirt/images/vmgui-bench"))
TINY_BUILD = ROOT / "tests" / "integration" / "tinyguest" / "build.sh"
READY_MARKER = b"VMGUI-TINY-GUEST-READY"

# --------------------------------------------------------------------------------------------
# Statistics and tables


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return percentile(values, 50)


def fmt_s(value: float | None) -> str:
    """Seconds with milliseconds ("-" when unknown)."""
    return "-" if value is None or math.isnan(value) else f"{value:.3f} s"


def fmt_ms(value: float | None) -> str:
    """Milliseconds from seconds ("-" when unknown)."""
    return "-" if value is None or math.isnan(value) else f"{value * 1000:.1f} ms"


def med_max(values: Sequence[float], fmt: str = "s") -> str:
    """``median / max (n=N)`` of some timings."""
    if not values:
        return "- (no samples)"
    f = fmt_s if fmt == "s" else fmt_ms
    return f"{f(median(values))} / {f(max(values))} (n={len(values)})"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print an aligned plain-text table."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "+".join("-" * (w + 2) for w in widths)
    print(f"\n{title}")
    print(line)
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(line)
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(line, flush=True)


class RefcountWatch:
    """Ballast for ``True``/``None`` plus a report of the references they lose.

    PySide6 6.12.0 on Python 3.11 (not 3.12+, where these objects are immortal, and not
    PySide6 6.11.3): every ``SignalInstance.emit()`` returns ``True`` without a new reference,
    and ``QModelIndex.data()`` returning ``None`` does the same with ``None``. Each call takes
    one reference away. After a few thousand calls Python aborts with "Fatal Python error:
    bool_dealloc" (or none_dealloc). The ballast keeps a benchmark alive long enough to
    measure. :meth:`report` prints the loss so that the bug stays visible. A benchmark that
    used this ends with :func:`hard_exit`, because finalization would abort.
    """

    def __init__(self, ballast: int = 100_000) -> None:
        self._ballast = [True, None] * ballast
        self._start = self._counts()

    @staticmethod
    def _counts() -> tuple[int, int]:
        gc.collect()
        return sys.getrefcount(True), sys.getrefcount(None)

    def mark(self) -> None:
        """Start counting here (after the imports, which add references of their own)."""
        self._start = self._counts()

    def report(self) -> str:
        """E.g. "True -612, None -95 references since mark()"."""
        true_now, none_now = self._counts()
        return (
            f"True {true_now - self._start[0]:+d}, None {none_now - self._start[1]:+d} "
            "references over the measured part (a large negative number is the PySide6 "
            "6.12.0 refcount bug; see README)"
        )


def hard_exit(code: int = 0) -> None:
    """Flush and leave without interpreter finalization (see :class:`RefcountWatch`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


def background_load(seconds: float = 2.0) -> str:
    """How busy the machine is while this process sleeps: "37% of 2 cores (load 1.2)"."""
    busy0, total0 = _cpu_jiffies()
    time.sleep(seconds)
    busy1, total1 = _cpu_jiffies()
    share = (busy1 - busy0) / max(1, total1 - total0)
    return f"{share:.0%} of {os.cpu_count()} cores busy (loadavg {os.getloadavg()[0]:.2f})"


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB, from /proc/self/status."""
    fields: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(rest.split()[0]) / 1024
    return fields.get("VmRSS", math.nan), fields.get("VmHWM", math.nan)


@contextlib.contextmanager
def xdg_dirs() -> Iterator[dict[str, str]]:
    """Fresh XDG_*_HOME directories (removed afterwards)."""
    base = Path(tempfile.mkdtemp(prefix="vmgui-bench-xdg-"))
    try:
        yield {
            name: str(base / name.lower())
            for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# libvirt: the raw connection of the benchmark itself, tiny guests


def open_raw(uri: str = "qemu:///system") -> Any:
    """A plain libvirt connection for the benchmark's own set-up and stimuli.

    vmgui's event implementation is registered first (it must precede every open of the
    process, DESIGN.md fact 4).
    """
    import libvirt

    from vmgui.virt.events import ensure_event_loop

    ensure_event_loop()
    return libvirt.open(uri)


def ensure_tiny_image() -> Path:
    """Build (or reuse) ``tiny.qcow2`` in :data:`IMAGES`; returns its path."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    IMAGES.chmod(0o755)
    base = IMAGES / "tiny.qcow2"
    subprocess.run(["bash", str(TINY_BUILD), str(IMAGES)], check=True, stdout=subprocess.DEVNULL)
    return base


def live_connection(conn: Any, uri: str = "qemu:///system", wait: float = 20.0) -> Any:
    """``conn`` if it still works, else a new connection (retried while libvirtd restarts)."""
    import libvirt

    with contextlib.suppress(libvirt.libvirtError):
        if conn.isAlive():
            conn.getVersion()
            return conn
    deadline = time.monotonic() + wait
    while True:
        try:
            return libvirt.open(uri)
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def close_quietly(conn: Any) -> None:
    """Close a libvirt connection that may already be dead."""
    with contextlib.suppress(Exception):
        conn.close()


def remove_bench_guests(conn: Any, prefix: str = PREFIX) -> list[str]:
    """Destroy and undefine every domain named ``prefix*`` (default: all ``vmgui-bench-*``);
    remove their overlays and logs.

    Reconnects if ``conn`` died (another user of this machine may restart libvirtd).
    """
    import libvirt

    conn = live_connection(conn)
    removed = []
    for dom in conn.listAllDomains(0):
        name = dom.name()
        if not name.startswith(prefix):
            continue
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefineFlags(
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            )
        removed.append(name)
    if IMAGES.is_dir():
        for path in IMAGES.glob(prefix + "*"):
            path.unlink(missing_ok=True)
    return removed


class TinyGuests:
    """``count`` tiny guests ``vmgui-bench-<tag>-<i>`` (every second one without a balloon).

    Use as a context manager: everything defined here (and any stale ``vmgui-bench-*``
    domain from an interrupted run) is destroyed, undefined and its files removed on exit.
    """

    def __init__(self, conn: Any, count: int, tag: str) -> None:
        self.conn = conn
        self.prefix = f"{PREFIX}{tag}-"
        self.names = [f"{self.prefix}{i}" for i in range(count)]
        self.domains: dict[str, Any] = {}

    def __enter__(self) -> TinyGuests:
        from tests.integration.tinyguest.domain import tiny_domain_xml

        remove_bench_guests(self.conn, self.prefix)
        base = ensure_tiny_image()
        try:
            for i, name in enumerate(self.names):
                overlay = IMAGES / f"{name}.qcow2"
                qemu_img = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"]
                subprocess.run([*qemu_img, str(base), str(overlay)], check=True)
                xml = tiny_domain_xml(
                    name, str(overlay), str(IMAGES / f"{name}.log"), balloon=i % 2 == 0
                )
                self.domains[name] = self.conn.defineXML(xml)
        except BaseException:
            remove_bench_guests(self.conn, self.prefix)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        remove_bench_guests(self.conn, self.prefix)

    def start(self, count: int, batch: int = 2, timeout: float = 90.0) -> tuple[float, list[str]]:
        """Start the first ``count`` guests, ``batch`` at a time, each batch waiting for the
        ready marker (booting 8 TCG guests at once on 2 cores thrashes).

        Returns (seconds taken, names that never printed the marker within ``timeout``; those
        keep running).
        """
        t0 = time.monotonic()
        late: list[str] = []
        names = self.names[:count]
        for first in range(0, len(names), batch):
            group = names[first : first + batch]
            for name in group:
                self._create(name)
            late += self._wait_ready(group, timeout)
        return time.monotonic() - t0, late

    def _create(self, name: str) -> None:
        """Start one guest; if libvirtd restarted under us (another user of the machine),
        reconnect and try once more."""
        import libvirt

        try:
            self.domains[name].create()
        except libvirt.libvirtError:
            if self.conn.isAlive():
                raise
            self.conn = live_connection(self.conn, wait=60)
            self.domains = {n: self.conn.lookupByName(n) for n in self.names}
            if not self.domains[name].isActive():
                self.domains[name].create()

    @staticmethod
    def _wait_ready(names: list[str], timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                log = IMAGES / f"{name}.log"
                with contextlib.suppress(OSError):
                    if READY_MARKER in log.read_bytes():
                        waiting.discard(name)
            time.sleep(0.2)
        return sorted(waiting)


def default_pool_exists(conn: Any) -> bool:
    """Whether the system daemon has a storage pool named ``default``."""
    import libvirt

    try:
        live_connection(conn).storagePoolLookupByName("default")
    except libvirt.libvirtError:
        return False
    return True


def remove_default_pool_created_by_virt_manager(conn: Any) -> bool:
    """virt-manager creates pool ``default`` on /var/lib/libvirt/images at every connect if
    missing; undo it (only that pool, only with that path). Returns whether it was removed."""
    import libvirt

    try:
        pool = live_connection(conn).storagePoolLookupByName("default")
        if "<path>/var/lib/libvirt/images</path>" not in pool.XMLDesc(0):
            return False
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    except libvirt.libvirtError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Test-driver nodes


@contextlib.contextmanager
def temp_node(domains: int = 1000, running: int = 500) -> Iterator[str]:
    """Write ``node_xml(domains, running=running)`` to a temp file; yield its URI."""
    from tests.fixtures.genfixture import node_uri, node_xml

    tmp = Path(tempfile.mkdtemp(prefix="vmgui-bench-node-"))
    path = tmp / f"node{domains}.xml"
    path.write_text(node_xml(domains, running=running), encoding="utf-8")
    try:
        yield node_uri(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
