"""What interrupted jobs left on hosts that were gone when the job rolled back.

A job's rollback (:class:`~vmgui.virt.transaction.Transaction`) cannot remove a volume or a
guest it made on a host whose connection was lost meanwhile (its daemon killed, the network
down). Such things are written to the :class:`LeftoverBook` (JSON in the XDG state folder,
``$XDG_STATE_HOME/vmgui/leftovers.json``), so that once vmgui reaches the host again it can
offer to remove them (the main window asks; ``vmgui-cli cleanup --connect URI``). Nothing is
removed without asking, and a book entry names exactly one thing on one host: a volume by its
path, a guest by its UUID and name.

The book is shared by every vmgui process of the user (the app and ``vmgui-cli``): each change
is a read-modify-write under an exclusive ``flock`` and lands by an atomic rename. A book that
cannot be read is never overwritten (the error says where it is).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from vmgui.core.errors import VmguiError

_VERSION = 1
VOLUME = "volume"
GUEST = "guest"


@dataclass(frozen=True, slots=True)
class Leftover:
    """One thing an interrupted job made and could not remove.

    Attributes:
        uri: the host's libvirt URI, as the job used it.
        kind: "volume" or "guest".
        key: a volume's path, a guest's UUID.
        name: a guest's name; a volume's path again.
        job: what the job was ("Could not move web1").
        since: when it was written down, seconds since the epoch.
    """

    uri: str
    kind: str
    key: str
    name: str
    job: str = ""
    since: int = 0

    @property
    def label(self) -> str:
        """How lists name it: "volume /var/lib/…/web1.qcow2", "guest web1"."""
        return f"{self.kind} {self.name}"

    def same_thing(self, other: Leftover) -> bool:
        """Whether both name the same thing on the same host (whatever job left it)."""
        return (self.uri, self.kind, self.key) == (other.uri, other.kind, other.key)


def volume_leftover(uri: str, path: str, job: str) -> Leftover:
    """A volume at ``path`` on ``uri``."""
    return Leftover(uri, VOLUME, path, path, job)


def guest_leftover(uri: str, uuid: str, name: str, job: str) -> Leftover:
    """A guest ``uuid`` (named ``name``) on ``uri``."""
    return Leftover(uri, GUEST, uuid, name, job)


def book_file() -> Path:
    """Where the book lives (not created)."""
    return Path(platformdirs.user_state_dir("vmgui")) / "leftovers.json"


class LeftoverBook:
    """The leftovers written down, by host.

    Args:
        path: the JSON file (default :func:`book_file`).
        clock: seconds since the epoch, for :attr:`Leftover.since`.
    """

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path or book_file()
        self._clock = clock

    def all(self) -> list[Leftover]:
        """Every entry, oldest first.

        Raises:
            VmguiError: the file exists but is not a leftover book (it is left as it is).
        """
        with self._locked():
            return self._read()

    def for_host(self, uri: str) -> list[Leftover]:
        """The entries of host ``uri``."""
        return [item for item in self.all() if item.uri == uri]

    def add(self, items: Iterable[Leftover]) -> None:
        """Write ``items`` down (an entry for the same thing is replaced)."""
        new = [
            Leftover(i.uri, i.kind, i.key, i.name, i.job, i.since or int(self._clock()))
            for i in items
        ]
        if not new:
            return
        with self._locked():
            kept = [old for old in self._read() if not any(old.same_thing(n) for n in new)]
            self._write(kept + new)

    def forget(self, items: Iterable[Leftover]) -> None:
        """Strike the entries for the things ``items`` name (removed, or kept on purpose)."""
        gone = list(items)
        if not gone or not self.path.exists():
            return
        with self._locked():
            current = self._read()
            kept = [old for old in current if not any(old.same_thing(g) for g in gone)]
            if len(kept) != len(current):
                self._write(kept)

    # -- the file ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[Leftover]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise VmguiError(f"Could not read {self.path}", str(exc)) from None
        try:
            doc = json.loads(text)
            if doc.get("version") != _VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            return [
                Leftover(
                    str(i["uri"]),
                    str(i["kind"]),
                    str(i["key"]),
                    str(i["name"]),
                    str(i.get("job", "")),
                    int(i.get("since", 0)),
                )
                for i in doc["leftovers"]
                if i["kind"] in (VOLUME, GUEST)
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VmguiError(
                f"{self.path} is not a list of leftovers", f"{exc}; the file is left as it is"
            ) from None

    def _write(self, items: list[Leftover]) -> None:
        doc = {
            "version": _VERSION,
            "leftovers": [
                {
                    "uri": i.uri,
                    "kind": i.kind,
                    "key": i.key,
                    "name": i.name,
                    "job": i.job,
                    "since": i.since,
                }
                for i in items
            ],
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".leftovers-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(doc, out, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
