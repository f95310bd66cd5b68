"""X11 through ctypes for the benchmarks: an Xvfb display, a watcher that timestamps when a
named top-level window is mapped (event-driven, no polling delay), a DAMAGE watcher that
timestamps a window's paints, and XTest key presses."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

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
def x_display(screen: str = "1280x800x24") -> Iterator[str | None]:
    """Yield a usable X display: $DISPLAY if it answers, else a new private ``Xvfb``.

    ``screen`` is the new Xvfb's screen (WIDTHxHEIGHTxDEPTH).

    The new Xvfb picks a free display number itself (``-displayfd``), so benchmarks running
    at the same time never share, or stop, each other's server. Yields None if neither works
    (then only the offscreen platform can be measured). An Xvfb started here is stopped
    afterwards.
    """
    current = os.environ.get("DISPLAY")
    if current and display_reachable(current):
        yield current
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None or _x11() is None:
        yield None
        return
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            ready, _, _ = select.select([pipe], [], [], 10)
            number = pipe.readline().strip().decode() if ready else ""
        display = f":{number}"
        if not number or not display_reachable(display):
            yield None
            return
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
        self.window: int | None = None
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
                        self.mapped_at, self.window = now, window
                    else:
                        unnamed[window] = now
                        lib.XSelectInput(dpy, window, _PROPERTY_CHANGE_MASK)
                        lib.XFlush(dpy)
                elif event.type == _PROPERTY_NOTIFY:
                    window = event.xproperty.window
                    if window in unnamed and self._name(lib, dpy, window, atoms) == self._title:
                        self.mapped_at, self.window = unnamed[window], window
            if self.mapped_at is not None:
                self.found.set()
        finally:
            lib.XCloseDisplay(dpy)


_DAMAGE_REPORT_NON_EMPTY = 3
_REVERT_TO_PARENT = 2


def _library(name: str) -> Any:
    found = ctypes.util.find_library(name)
    if found is None:
        raise RuntimeError(f"lib{name} is missing")
    return ctypes.CDLL(found)


class _XImage(ctypes.Structure):
    _fields_ = (
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
    )


_Z_PIXMAP = 2
_ALL_PLANES = 0xFFFFFFFF


class DamageWatcher:
    """Timestamps (``time.perf_counter``) every paint of one X window, whoever draws it.

    X DAMAGE at level NonEmpty, emptied again at each event: a burst of drawing within a few
    ms gives one or a few events; :func:`bursts` groups them into screen updates. The same
    method for every client measured, from outside it. Between :meth:`arm` and :meth:`settle`
    the watcher also reads the window's pixels (XGetImage) after each paint; :meth:`settle`
    answers when the window first showed what it shows at the end (a client's own local
    repaints, e.g. remote-viewer's on a key press, do not count as the guest's answer).
    :meth:`thread_cpu` is this watcher thread's own CPU time so far (to subtract when the
    client runs in the same process).
    """

    def __init__(self, display: str, window: int) -> None:
        self._display = display
        self._window = window
        self.events: list[float] = []
        self._shots: list[tuple[float, bytes]] | None = None
        self._request: str = ""
        self._wanted = threading.Event()
        self._answered = threading.Event()
        self._answer: bytes = b""
        self._answer_final: bytes = b""
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="x-damage", daemon=True)

    def start(self) -> None:
        """Start watching; returns once the X server reports damage to us."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"cannot watch damage on display {self._display}")

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(5)

    def _ask(self, request: str) -> bytes:
        self._request = request
        self._answered.clear()
        self._wanted.set()
        if not self._answered.wait(5):
            raise RuntimeError("the damage watcher did not read the window")
        return self._answer

    def arm(self) -> None:
        """Read the window's pixels now and after every paint until :meth:`settle` (blocks
        until the first read is done: call it from a worker thread)."""
        self._ask("arm")

    def settle(self) -> float | None:
        """The time of the first paint since :meth:`arm` after which the window showed what
        it shows now, if that differs from what it showed when armed (blocks)."""
        shots = self._shots or []
        reference = self._ask("settle")
        final = self._answer_final
        if final == reference:
            return None
        return next((moment for moment, pixels in shots if pixels == final), None)

    def thread_cpu(self) -> float:
        """CPU seconds the watcher thread used so far (/proc)."""
        tid = self._thread.native_id
        try:
            stat = open(f"/proc/self/task/{tid}/stat").read()  # noqa: SIM115
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _run(self) -> None:
        lib, damage = _x11(), _library("Xdamage")
        vp, ul = ctypes.c_void_p, ctypes.c_ulong
        damage.XDamageQueryExtension.argtypes = (
            vp,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
        )
        damage.XDamageCreate.restype = ul
        damage.XDamageCreate.argtypes = (vp, ul, ctypes.c_int)
        damage.XDamageSubtract.argtypes = (vp, ul, ul, ul)
        damage.XDamageDestroy.argtypes = (vp, ul)
        lib.XGetImage.restype = ctypes.POINTER(_XImage)
        lib.XGetImage.argtypes = (
            vp,
            ul,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ul,
            ctypes.c_int,
        )
        lib.XGetGeometry.argtypes = (vp, ul, *(ctypes.c_void_p,) * 7)
        dpy = lib.XOpenDisplay(self._display.encode())
        if not dpy:
            return
        try:
            base, error = ctypes.c_int(), ctypes.c_int()
            if not damage.XDamageQueryExtension(dpy, ctypes.byref(base), ctypes.byref(error)):
                return
            handle = damage.XDamageCreate(dpy, self._window, _DAMAGE_REPORT_NON_EMPTY)
            lib.XSync(dpy, 0)
            self._ready.set()
            fd = lib.XConnectionNumber(dpy)
            event = _XEvent()
            reference = b""
            while not self._stop.is_set():
                if self._wanted.is_set():
                    self._wanted.clear()
                    if self._request == "arm":
                        reference, self._shots = self._pixels(lib, dpy), []
                    else:
                        self._answer_final, self._shots = self._pixels(lib, dpy), None
                    self._answer = reference
                    self._answered.set()
                if not lib.XPending(dpy):
                    select.select([fd], [], [], 0.01)
                    continue
                lib.XNextEvent(dpy, ctypes.byref(event))
                if event.type == base.value:  # XDamageNotify
                    now = time.perf_counter()
                    self.events.append(now)
                    damage.XDamageSubtract(dpy, handle, 0, 0)
                    lib.XFlush(dpy)
                    shots = self._shots
                    if shots is not None and len(shots) < 50:
                        shots.append((now, self._pixels(lib, dpy)))
            damage.XDamageDestroy(dpy, handle)
        finally:
            lib.XCloseDisplay(dpy)

    def _pixels(self, lib: Any, dpy: int) -> bytes:
        root, x, y = ctypes.c_ulong(), ctypes.c_int(), ctypes.c_int()
        width, height, border, depth = (ctypes.c_uint() for _ in range(4))
        lib.XGetGeometry(
            dpy,
            self._window,
            *(ctypes.byref(v) for v in (root, x, y, width, height, border, depth)),
        )
        image = lib.XGetImage(
            dpy, self._window, 0, 0, width.value, height.value, _ALL_PLANES, _Z_PIXMAP
        )
        if not image:
            return b""
        try:
            return ctypes.string_at(
                image.contents.data, image.contents.bytes_per_line * height.value
            )
        finally:
            lib.XFree(image.contents.data)
            lib.XFree(image)

    def since(self, moment: float) -> list[float]:
        """The paint times after ``moment``."""
        return [t for t in list(self.events) if t > moment]


def bursts(times: Sequence[float], gap: float = 0.015) -> int:
    """How many paints there were: events less than ``gap`` s apart are one paint."""
    count, last = 0, -1.0
    for moment in times:
        if moment - last >= gap:
            count += 1
        last = moment
    return count


class KeyPresser:
    """Key presses through XTest into a focused window, timestamped when they left us."""

    def __init__(self, display: str) -> None:
        self._lib = _x11()
        self._tst = _library("Xtst")
        vp, ul = ctypes.c_void_p, ctypes.c_ulong
        self._tst.XTestFakeKeyEvent.argtypes = (vp, ctypes.c_uint, ctypes.c_int, ul)
        self._lib.XStringToKeysym.restype = ul
        self._lib.XStringToKeysym.argtypes = (ctypes.c_char_p,)
        self._lib.XKeysymToKeycode.restype = ctypes.c_ubyte
        self._lib.XKeysymToKeycode.argtypes = (vp, ul)
        self._lib.XSetInputFocus.argtypes = (vp, ul, ctypes.c_int, ul)
        self._dpy = self._lib.XOpenDisplay(display.encode())
        if not self._dpy:
            raise RuntimeError(f"cannot open display {display}")

    def focus(self, window: int) -> None:
        """Give ``window`` the keyboard focus."""
        self._lib.XSetInputFocus(self._dpy, window, _REVERT_TO_PARENT, 0)
        self._lib.XSync(self._dpy, 0)

    def press(self, name: str) -> float:
        """Press and release key ``name`` (an X keysym name); the moment the press was sent."""
        code = self._lib.XKeysymToKeycode(self._dpy, self._lib.XStringToKeysym(name.encode()))
        self._tst.XTestFakeKeyEvent(self._dpy, code, 1, 0)
        self._lib.XFlush(self._dpy)
        sent = time.perf_counter()
        self._tst.XTestFakeKeyEvent(self._dpy, code, 0, 0)
        self._lib.XFlush(self._dpy)
        return sent

    def close(self) -> None:
        """Close the display connection."""
        self._lib.XCloseDisplay(self._dpy)
