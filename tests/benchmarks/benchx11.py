"""X11 through ctypes for the benchmarks: an Xvfb display and a watcher that timestamps when
a named top-level window is mapped (event-driven, no polling delay)."""

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
def x_display() -> Iterator[str | None]:
    """Yield a usable X display: $DISPLAY if it answers, else a new private ``Xvfb``.

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
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
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
