"""Import heavy modules (numpy, pyqtgraph) without PySide6 reading their source.

PySide6 installs an import hook: for every module imported after it, it reads the module's
whole source (``inspect.getsource``, which fills ``linecache``, where the text stays for the
life of the process) only to see whether it mentions ``PySide6`` (and may use
``__feature__``). Measured here (PySide6 6.11.3, Python 3.11): importing numpy, pyqtgraph and
the stats modules after PySide6 adds 66.8 MiB resident with the scan and 53.2 MiB without it
(283 files left in ``linecache`` against 11): skipping the scan still saves about 14 MiB.
None of these modules uses ``__feature__``, and the hook itself takes "no source" as "does
not use it".

:func:`without_source_scan` skips that scan **for the calling thread only**, by replacing the
hook's own source check (``PySide6.support.feature._mod_uses_pyside``) for the duration of a
``with`` block; nothing else in the process sees a change:

* Other threads keep PySide6's check (the replacement asks which thread calls it), and
  ``inspect.getsource`` is never touched, so tracebacks and ``inspect`` work everywhere.
  (The earlier version replaced ``inspect.getsource`` itself, process-wide: any other thread
  formatting a traceback or calling ``inspect`` in that window got ``OSError``.)
* It nests and may be entered by several threads at once: a lock guards the bookkeeping, the
  hook is replaced only by the first entry and restored, in ``finally``, by the last exit,
  and only if the replacement is still the one installed.
* Without PySide6's hook (PySide6 not imported yet, or a release without this function) it
  does nothing: the imports just cost their scan.
* PySide6 6.11.3's hook itself puts the original ``builtins.__import__`` back, process-wide,
  while it checks a module: another thread's import in that window is not checked at all,
  and two overlapping windows can leave the hook uninstalled for good (then no module is
  scanned, with or without this block; ``tests/ui/test_lazy.py`` calls the hook directly).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

_FEATURE_MODULE = "PySide6.support.feature"
_CHECK = "_mod_uses_pyside"

_lock = threading.Lock()
#: Threads inside :func:`without_source_scan` (thread id -> nesting depth).
_skipping: dict[int, int] = {}
#: (the hook's module, its own check, our replacement) while replaced.
_installed: tuple[Any, Callable[[ModuleType], bool], Callable[[ModuleType], bool]] | None = None


@contextlib.contextmanager
def without_source_scan() -> Iterator[None]:
    """Within the block, modules this thread imports are not source-scanned by PySide6."""
    me = threading.get_ident()
    with _lock:
        if not _skipping:
            _install()
        _skipping[me] = _skipping.get(me, 0) + 1
    try:
        yield
    finally:
        with _lock:
            depth = _skipping.pop(me) - 1
            if depth:
                _skipping[me] = depth
            if not _skipping:
                _uninstall()


def _install() -> None:
    """Replace the hook's check (called under the lock by the first entry)."""
    global _installed
    feature: Any = sys.modules.get(_FEATURE_MODULE)
    check = getattr(feature, _CHECK, None) if feature is not None else None
    if not callable(check):
        return

    def uses_pyside(module: ModuleType) -> bool:
        if threading.get_ident() in _skipping:
            return False  # what the hook concludes from "no source"
        return bool(check(module))

    setattr(feature, _CHECK, uses_pyside)  # a private name of PySide6's
    _installed = (feature, check, uses_pyside)


def _uninstall() -> None:
    """Put the hook's check back (called under the lock by the last exit)."""
    global _installed
    if _installed is None:
        return
    feature, check, ours = _installed
    _installed = None
    if getattr(feature, _CHECK, None) is ours:
        setattr(feature, _CHECK, check)
