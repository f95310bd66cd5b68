"""Shared helpers for the benchmarks (not collected by pytest: no ``test_`` prefix).

* tables and statistics;
* an X display (Xvfb) and an event-driven watcher that timestamps when a named top-level
  window is mapped on the X server (libX11 through ctypes, no polling delay);
* tiny real guests named ``vmgui-bench-*`` under ``qemu:///system`` (defined, started,
  cleaned up);
* a "slow host": a Unix-socket relay in front of the system libvirtd that holds back the
  reply to ``getCapabilities`` for a few seconds (nothing in the daemon or in vmgui changes);
* 1000-domain test-driver nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import math
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python tests/benchmarks/bench_x.py`
    sys.path.insert(0, str(ROOT))

PREFIX = "vmgui-bench-"
IMAGES = Path(os.environ.get("VMGUI_BENCH_IMAGES", "/var/lib/libvirt/images/vmgui-bench"))
TINY_BUILD = ROOT / "tests" / "integration" / "tinyguest" / "build.sh"
READY_MARKER = b"VMGUI-TINY-GUEST-READY"
LIBVIRT_SOCK = Path("/run/libvirt/libvirt-sock")

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
    """Seconds with milliseconds ("–" when unknown)."""
    return "–" if value is None or math.isnan(value) else f"{value:.3f} s"


def fmt_ms(value: float | None) -> str:
    """Milliseconds from seconds ("–" when unknown)."""
    return "–" if value is None or math.isnan(value) else f"{value * 1000:.1f} ms"


def med_max(values: Sequence[float], fmt: str = "s") -> str:
    """``median / max (n=N)`` of some timings."""
    if not values:
        return "– (no samples)"
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
# X11 through ctypes: open a display, watch for a named window being mapped

_MAP_NOTIFY = 19
_PROPERTY_NOTIFY = 28
_SUBSTRUCTURE_NOTIFY_MASK = 1 << 19
_PROPERTY_CHANGE_MASK = 1 << 22


class _XMapEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("event", ctypes.c_ulong),
        ("window", ctypes.c_ulong),
        ("override_redirect", ctypes.c_int),
    )


class _XPropertyEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("atom", ctypes.c_ulong),
        ("time", ctypes.c_ulong),
        ("state", ctypes.c_int),
    )


class _XEvent(ctypes.Union):
    _fields_ = (
        ("type", ctypes.c_int),
        ("xmap", _XMapEvent),
        ("xproperty", _XPropertyEvent),
        ("pad", ctypes.c_long * 24),
    )


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _ignore_x_error(_display: int | None, _event: int | None) -> int:
    return 0  # a window that vanished before we read its name: ignore


_ignore_x_error_c = _ERROR_HANDLER(_ignore_x_error)
_xlib: Any = None


def _x11() -> Any:
    """libX11 with the prototypes used here (None when it is not installed)."""
    global _xlib
    if _xlib is None:
        name = ctypes.util.find_library("X11")
        if name is None:
            return None
        lib = ctypes.CDLL(name)
        vp, ul = ctypes.c_void_p, ctypes.c_ulong
        lib.XOpenDisplay.restype = vp
        lib.XOpenDisplay.argtypes = (ctypes.c_char_p,)
        lib.XCloseDisplay.argtypes = (vp,)
        lib.XDefaultRootWindow.restype = ul
        lib.XDefaultRootWindow.argtypes = (vp,)
        lib.XSelectInput.argtypes = (vp, ul, ctypes.c_long)
        lib.XPending.argtypes = (vp,)
        lib.XNextEvent.argtypes = (vp, ctypes.POINTER(_XEvent))
        lib.XConnectionNumber.argtypes = (vp,)
        lib.XFlush.argtypes = (vp,)
        lib.XSync.argtypes = (vp, ctypes.c_int)
        lib.XInternAtom.restype = ul
        lib.XInternAtom.argtypes = (vp, ctypes.c_char_p, ctypes.c_int)
        lib.XFree.argtypes = (vp,)
        lib.XGetWindowProperty.argtypes = (
            vp,
            ul,
            ul,
            ctypes.c_long,
            ctypes.c_long,
            ctypes.c_int,
            ul,
            ctypes.POINTER(ul),
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ul),
            ctypes.POINTER(ul),
            ctypes.POINTER(ctypes.c_void_p),
        )
        lib.XSetErrorHandler.argtypes = (_ERROR_HANDLER,)
        lib.XSetErrorHandler.restype = vp
        lib.XSetErrorHandler(_ignore_x_error_c)
        _xlib = lib
    return _xlib


def display_reachable(display: str) -> bool:
    """Whether an X server answers on ``display``."""
    lib = _x11()
    if lib is None:
        return False
    dpy = lib.XOpenDisplay(display.encode())
    if not dpy:
        return False
    lib.XCloseDisplay(dpy)
    return True


@contextlib.contextmanager
def x_display(display: str = ":99") -> Iterator[str | None]:
    """Yield a usable X display: $DISPLAY if it answers, else a new ``Xvfb`` on ``display``.

    Yields None if neither works (then only the offscreen platform can be measured). An Xvfb
    started here is stopped afterwards.
    """
    current = os.environ.get("DISPLAY")
    if current and display_reachable(current):
        yield current
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None or _x11() is None:
        yield None
        return
    proc = subprocess.Popen(
        [xvfb, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not display_reachable(display):
            if proc.poll() is not None or time.monotonic() > deadline:
                yield None
                return
            time.sleep(0.05)
        yield display
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class WindowWatcher:
    """Timestamps (``time.perf_counter``) when a top-level window titled ``title`` is mapped.

    Listens for MapNotify on the root window (SubstructureNotify), so the time is that of the
    X server telling us, not of a polling loop. If the title is set only after mapping, the
    map time still counts once the title matches. Call :meth:`start` before spawning.
    """

    def __init__(self, display: str, title: str) -> None:
        self._display = display
        self._title = title.encode()
        self.mapped_at: float | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self.found = threading.Event()
        self._thread = threading.Thread(target=self._run, name="x-watch", daemon=True)

    def start(self) -> None:
        """Start listening; returns once the X server delivers our events."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"cannot watch display {self._display}")

    def stop(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(5)

    def _name(self, lib: Any, dpy: int, window: int, atoms: Sequence[int]) -> bytes:
        for atom in atoms:
            actual_type = ctypes.c_ulong()
            actual_format = ctypes.c_int()
            nitems = ctypes.c_ulong()
            after = ctypes.c_ulong()
            data = ctypes.c_void_p()
            status = lib.XGetWindowProperty(
                dpy,
                window,
                atom,
                0,
                1024,
                0,
                0,
                ctypes.byref(actual_type),
                ctypes.byref(actual_format),
                ctypes.byref(nitems),
                ctypes.byref(after),
                ctypes.byref(data),
            )
            if status == 0 and data.value:
                text = (
                    ctypes.string_at(data.value, nitems.value) if actual_format.value == 8 else b""
                )
                lib.XFree(data)
                if text:
                    return text
        return b""

    def _run(self) -> None:
        lib = _x11()
        dpy = lib.XOpenDisplay(self._display.encode())
        if not dpy:
            return
        try:
            atoms = [lib.XInternAtom(dpy, n, 0) for n in (b"_NET_WM_NAME", b"WM_NAME")]
            root = lib.XDefaultRootWindow(dpy)
            lib.XSelectInput(dpy, root, _SUBSTRUCTURE_NOTIFY_MASK)
            lib.XSync(dpy, 0)
            self._ready.set()
            fd = lib.XConnectionNumber(dpy)
            unnamed: dict[int, float] = {}  # mapped windows whose title may still come
            event = _XEvent()
            while not self._stop.is_set() and self.mapped_at is None:
                if not lib.XPending(dpy):
                    select.select([fd], [], [], 0.05)
                    continue
                lib.XNextEvent(dpy, ctypes.byref(event))
                now = time.perf_counter()
                if event.type == _MAP_NOTIFY:
                    window = event.xmap.window
                    if self._name(lib, dpy, window, atoms) == self._title:
                        self.mapped_at = now
                    else:
                        unnamed[window] = now
                        lib.XSelectInput(dpy, window, _PROPERTY_CHANGE_MASK)
                        lib.XFlush(dpy)
                elif event.type == _PROPERTY_NOTIFY:
                    window = event.xproperty.window
                    if window in unnamed and self._name(lib, dpy, window, atoms) == self._title:
                        self.mapped_at = unnamed[window]
            if self.mapped_at is not None:
                self.found.set()
        finally:
            lib.XCloseDisplay(dpy)


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


def remove_bench_guests(conn: Any) -> list[str]:
    """Destroy and undefine every ``vmgui-bench-*`` domain; remove their overlays and logs."""
    import libvirt

    removed = []
    for dom in conn.listAllDomains(0):
        name = dom.name()
        if not name.startswith(PREFIX):
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
        for path in IMAGES.glob(PREFIX + "*"):
            path.unlink(missing_ok=True)
    return removed


class TinyGuests:
    """``count`` tiny guests ``vmgui-bench-<tag>-<i>`` (every second one without a balloon).

    Use as a context manager: everything defined here (and any stale ``vmgui-bench-*``
    domain from an interrupted run) is destroyed, undefined and its files removed on exit.
    """

    def __init__(self, conn: Any, count: int, tag: str) -> None:
        self.conn = conn
        self.names = [f"{PREFIX}{tag}-{i}" for i in range(count)]
        self.domains: dict[str, Any] = {}

    def __enter__(self) -> TinyGuests:
        from tests.integration.tinyguest.domain import tiny_domain_xml

        remove_bench_guests(self.conn)
        base = ensure_tiny_image()
        try:
            for i, name in enumerate(self.names):
                overlay = IMAGES / f"{name}.qcow2"
                subprocess.run(
                    ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base)]
                    + [str(overlay)],
                    check=True,
                )
                xml = tiny_domain_xml(
                    name, str(overlay), str(IMAGES / f"{name}.log"), balloon=i % 2 == 0
                )
                self.domains[name] = self.conn.defineXML(xml)
        except BaseException:
            remove_bench_guests(self.conn)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        remove_bench_guests(self.conn)

    def start(self, count: int, timeout: float = 120.0) -> float:
        """Start the first ``count`` guests and wait for their ready marker; returns seconds."""
        t0 = time.monotonic()
        names = self.names[:count]
        for name in names:
            self.domains[name].create()
        waiting = set(names)
        while waiting:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"guests not ready after {timeout} s: {sorted(waiting)}")
            for name in list(waiting):
                log = IMAGES / f"{name}.log"
                with contextlib.suppress(OSError):
                    if READY_MARKER in log.read_bytes():
                        waiting.discard(name)
            time.sleep(0.2)
        return time.monotonic() - t0


def default_pool_exists(conn: Any) -> bool:
    """Whether the system daemon has a storage pool named ``default``."""
    import libvirt

    try:
        conn.storagePoolLookupByName("default")
    except libvirt.libvirtError:
        return False
    return True


def remove_default_pool_created_by_virt_manager(conn: Any) -> bool:
    """virt-manager creates pool ``default`` on /var/lib/libvirt/images at every connect if
    missing; undo it (only that pool, only with that path). Returns whether it was removed."""
    import libvirt

    try:
        pool = conn.storagePoolLookupByName("default")
        if "<path>/var/lib/libvirt/images</path>" not in pool.XMLDesc(0):
            return False
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    except libvirt.libvirtError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# A slow host: relay to libvirtd that holds back getCapabilities replies

_REMOTE_PROGRAM = 0x20008086
_PROC_CONNECT_GET_CAPABILITIES = 7
_CALL, _REPLY = 0, 1
_HEADER = struct.Struct(">IIiiIi")  # prog, vers, proc, type, serial, status


class SlowCapsRelay:
    """A Unix socket that relays libvirt RPC to the system daemon, answering
    ``getCapabilities`` only ``delay`` seconds after it was asked.

    Every other message (other calls, events, keepalives) passes at once, as on a daemon
    whose worker is busy re-probing qemu. Clients connect with :attr:`uri`.
    Call times and reply times are recorded in :attr:`caps` as (asked, answered) pairs of
    ``time.perf_counter`` values.
    """

    _procs = frozenset({_PROC_CONNECT_GET_CAPABILITIES})

    def __init__(self, delay: float = 8.0, upstream: Path = LIBVIRT_SOCK) -> None:
        self.delay = delay
        self.upstream = upstream
        self._dir = Path(tempfile.mkdtemp(prefix="vmgui-bench-slow-"))
        self.path = self._dir / "libvirt-sock"
        self.caps: list[tuple[float, float]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slow-relay")
        self._server: asyncio.AbstractServer | None = None

    @property
    def uri(self) -> str:
        """The URI of the slow host."""
        return f"qemu+unix:///system?socket={self.path}"

    def __enter__(self) -> SlowCapsRelay:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _start(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readexactly(4)
            (length,) = struct.unpack(">I", head)
            return head + await reader.readexactly(length - 4)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        sreader, swriter = await asyncio.open_unix_connection(str(self.upstream))
        asked: dict[int, float] = {}

        async def upstream() -> None:
            while (msg := await self._read(creader)) is not None:
                prog, _vers, proc, kind, serial, _status = _HEADER.unpack_from(msg, 4)
                if prog == _REMOTE_PROGRAM and kind == _CALL and proc in self._procs:
                    asked[serial] = time.perf_counter()
                swriter.write(msg)
                await swriter.drain()
            swriter.close()

        async def late(msg: bytes, t_asked: float) -> None:
            await asyncio.sleep(max(0.0, self.delay - (time.perf_counter() - t_asked)))
            if not cwriter.is_closing():
                cwriter.write(msg)
                self.caps.append((t_asked, time.perf_counter()))

        async def downstream() -> None:
            held: set[asyncio.Task[None]] = set()
            while (msg := await self._read(sreader)) is not None:
                prog, _vers, _proc, kind, serial, _status = _HEADER.unpack_from(msg, 4)
                if prog == _REMOTE_PROGRAM and kind == _REPLY and serial in asked:
                    task = asyncio.ensure_future(late(msg, asked.pop(serial)))
                    held.add(task)
                    task.add_done_callback(held.discard)
                    continue
                cwriter.write(msg)
                await cwriter.drain()
            cwriter.close()

        try:
            await asyncio.gather(upstream(), downstream())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for writer in (swriter, cwriter):
                with contextlib.suppress(Exception):
                    writer.close()


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
