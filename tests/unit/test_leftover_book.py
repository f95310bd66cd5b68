"""The leftover book: entries by host, replaced per thing, struck; a bad file is never
overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmgui.core.errors import VmguiError
from vmgui.core.leftovers import (
    Leftover,
    LeftoverBook,
    book_file,
    guest_leftover,
    volume_leftover,
)

A, B = "qemu+tcp://a/system", "qemu+ssh://b/system"


def test_entries_by_host_replaced_and_struck(tmp_path: Path) -> None:
    book = LeftoverBook(tmp_path / "state" / "leftovers.json", clock=lambda: 1700)
    assert book.all() == [] and not book.path.exists()
    vol = volume_leftover(A, "/p/web1.qcow2", "Could not move web1")
    guest = guest_leftover(A, "u-1", "web1", "Could not move web1")
    other = volume_leftover(B, "/p/web1.qcow2", "Could not import web1")
    book.add([vol, guest, other])
    assert [i.label for i in book.for_host(A)] == ["volume /p/web1.qcow2", "guest web1"]
    assert book.for_host(B)[0].since == 1700 and book.for_host(B)[0].job == "Could not import web1"
    # the same thing again (another job): one entry, the newer job's
    book.add([volume_leftover(A, "/p/web1.qcow2", "Could not import web1")])
    assert [i.job for i in book.for_host(A)] == ["Could not move web1", "Could not import web1"]
    # struck by what it names, whatever the job: B's volume at the same path stays
    book.forget([Leftover(A, "volume", "/p/web1.qcow2", "", "")])
    assert book.for_host(A) == [Leftover(A, "guest", "u-1", "web1", "Could not move web1", 1700)]
    assert len(book.for_host(B)) == 1
    # a second book on the same file (another vmgui process) sees the same
    assert LeftoverBook(book.path).all() == book.all()


def test_a_bad_book_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "leftovers.json"
    path.write_text("{not json", encoding="utf-8")
    book = LeftoverBook(path)
    with pytest.raises(VmguiError, match="is not a list of leftovers"):
        book.add([volume_leftover(A, "/p/x", "job")])
    assert path.read_text(encoding="utf-8") == "{not json"
    path.write_text(json.dumps({"version": 9, "leftovers": []}), encoding="utf-8")
    with pytest.raises(VmguiError, match="version 9"):
        book.all()


def test_the_default_book_is_in_the_state_folder() -> None:
    assert book_file().parts[-2:] == ("vmgui", "leftovers.json")
    assert "state" in str(book_file())  # tests/conftest.py points XDG_STATE_HOME there
