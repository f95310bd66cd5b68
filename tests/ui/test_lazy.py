"""Importing without PySide6's source scan: this thread only, nested, restored.

The imports here call PySide6's hook (``builtins.__feature_import__``) directly, not through
``builtins.__import__``: PySide6 6.11.3's hook (PYSIDE-3054) sets ``builtins.__import__`` back
to the original import, process-wide, while it checks a module. An import on another thread
in that window skips the hook (its module is never checked), and when two threads' windows
overlap, the later one "restores" the original import: the hook is gone for the rest of the
process. In the whole fast suite that happened in 5 of 16 runs, always during
``test_a_batch_of_20_from_one_image`` (tests/testdriver), whose threads import at the same
time; through ``builtins.__import__`` these tests then failed.
"""

from __future__ import annotations

import builtins
import inspect
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import PySide6.QtCore  # noqa: F401  (installs PySide6's import hook)
import pytest

from vmgui.ui.monitor.lazy import without_source_scan

#: PySide6's ``__import__`` hook (what ``builtins.__import__`` is while nothing has lost it).
_HOOK: Callable[[str], ModuleType] = vars(builtins)["__feature_import__"]


@pytest.fixture
def new_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], str]]:
    """Makes a module never imported before; returns its name (removed afterwards)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make() -> str:
        name = f"vmgui_lazy_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n", encoding="utf-8")
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], bool]:
    """Whether PySide6's hook source-checked a module (its check, spied on; linecache would
    do too, but anything in the process may clear it)."""
    feature = sys.modules["PySide6.support.feature"]
    check = feature._mod_uses_pyside
    seen: set[str] = set()

    def spy(module: ModuleType) -> bool:
        seen.add(module.__name__)
        return bool(check(module))

    monkeypatch.setattr(feature, "_mod_uses_pyside", spy)
    return seen.__contains__


def _import(name: str) -> None:
    """An import statement's way in through PySide6's hook (it hooks ``__import__``, not
    importlib), called directly: see the module's docstring."""
    _HOOK(name)


def _import_in_thread(name: str) -> None:
    thread = threading.Thread(target=_import, args=(name,))
    thread.start()
    thread.join()


def test_the_scan_is_skipped_for_this_thread_only(
    new_module: Callable[[], str], scanned: Callable[[str], bool]
) -> None:
    before = new_module()
    _import(before)
    assert scanned(before), "PySide6's hook reads every new module's source"
    skipped, nested, other, after = new_module(), new_module(), new_module(), new_module()
    with without_source_scan():
        with without_source_scan():
            _import(nested)
        _import(skipped)  # still skipped after the inner block
        _import_in_thread(other)
    _import(after)
    assert not scanned(nested) and not scanned(skipped)
    assert scanned(other), "another thread keeps PySide6's check meanwhile"
    assert scanned(after), "restored after the block"


def test_only_the_hook_is_replaced_and_put_back_even_on_errors(
    new_module: Callable[[], str], scanned: Callable[[str], bool]
) -> None:
    """The replaced name is PySide6's own check (if it goes in a PySide6 update, this fails:
    the memory win would be gone); ``inspect`` is never touched."""
    feature = sys.modules["PySide6.support.feature"]
    check = feature._mod_uses_pyside
    getsource = inspect.getsource
    seen = []

    def failing_import() -> None:
        with without_source_scan():
            seen.append((feature._mod_uses_pyside is check, inspect.getsource is getsource))
            raise RuntimeError("import failed")

    with pytest.raises(RuntimeError):
        failing_import()
    assert seen == [(False, True)]
    assert feature._mod_uses_pyside is check
    name = new_module()
    _import(name)
    assert scanned(name)
