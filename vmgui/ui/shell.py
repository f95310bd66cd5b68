"""What a UI feature may ask of the window, and the one selection every feature reads.

Features (guest commands, templates, the wizard, live usage, consoles, ...) get a :class:`Shell`
and a :class:`Selection`, never the main window. ``MainWindow`` implements :class:`Shell`;
tests pass a small fake.

This module is the shared bottom layer of ``vmgui.ui``: it imports nothing from the feature
packages. The selection reads the views' selection models through item-data roles it is given,
so it needs no model class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Signal,
    SignalInstance,
)
from PySide6.QtWidgets import QWidget

from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestInfo

_T = TypeVar("_T")

#: How long a status-bar notice stays by default (ms).
NOTICE_MSECS = 5000


class Shell(Protocol):
    """The window as a feature sees it."""

    @property
    def dialog_parent(self) -> QWidget:
        """The widget dialogs are modal to."""
        ...

    def notify(self, text: str, msecs: int = NOTICE_MSECS) -> None:
        """Show a short notice (the status bar) for ``msecs`` ms (0: until replaced)."""
        ...

    def show_error(self, error: VmguiError) -> None:
        """Show a failure the one way: a dialog with details, plus the log."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` owned by the window (cancelled on close; failures shown)."""
        ...


class UsageKind(Enum):
    """A usage figure the guest list can show and sort by."""

    CPU = "cpu"
    MEMORY = "memory"


class UsageSource(Protocol):
    """Where the guest list reads current usage for sorting (the live-usage controller)."""

    def usage_value(self, key: tuple[str, str], kind: UsageKind) -> float:
        """The latest value of ``kind`` for guest ``key`` (host URI, UUID); -1 when unknown."""
        ...


@dataclass(frozen=True, slots=True)
class HostUsage:
    """What the live-usage engine measured on one host (for placement and the fleet overview).

    "Guests" are *this connection's* guests: two libvirt hosts on one machine report the same
    node figures, so a host's real load is what its own guests were measured to use.

    Attributes:
        cpus: the host's logical CPUs.
        memory_total_kib: the host's memory (KiB).
        guests_cpu_percent: the mean share of all host CPUs its guests used over the window
            asked for (NaN: no sample in it).
        guests_memory_kib: KiB resident on the host for its running guests now (NaN: unknown).
        committed_vcpus: vCPUs of its active guests now.
        committed_memory_kib: current memory of its active guests now (KiB).
        covered_seconds: how much of the window asked for the history covers (0: one sample).
    """

    cpus: int
    memory_total_kib: float
    guests_cpu_percent: float
    guests_memory_kib: float
    committed_vcpus: float
    committed_memory_kib: float
    covered_seconds: float


class HostUsageSource(Protocol):
    """Where features read hosts' measured usage (the live-usage controller; tests pass a fake)."""

    def host_usage(self, uri: str, seconds: float) -> HostUsage | None:
        """The host's usage over the last ``seconds`` (None before its first sample)."""
        ...

    def host_trend(self, uri: str, kind: UsageKind, seconds: float, points: int) -> list[float]:
        """``points`` evenly spaced means over the last ``seconds`` of the host's guests' CPU
        (% of all host CPUs) or resident memory (KiB); NaN where nothing was measured; [] when
        the host has no history."""
        ...


class UsageLink(QObject):
    """Live usage as other features see it: the source arrives after the window's first paint
    (the charts load late), so features hold this link, not the source.

    Signals:
        updated(str): new figures for a host (its URI); "" when a source was attached.
    """

    updated = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source: HostUsageSource | None = None

    @property
    def source(self) -> HostUsageSource | None:
        """The usage source, None until one is attached."""
        return self._source

    def attach(self, source: HostUsageSource, ticked: SignalInstance) -> None:
        """Use ``source`` from now on; ``ticked(str)`` says a host has new figures."""
        self._source = source
        ticked.connect(self.updated)
        self.updated.emit("")

    def host_usage(self, uri: str, seconds: float) -> HostUsage | None:
        """The source's answer, None while there is no source."""
        return None if self._source is None else self._source.host_usage(uri, seconds)


class Selection(QObject):
    """The selected guests and hosts, and the host in focus: one rule, written once.

    Reads the guest and host views' selection models live (so a guest's state is always
    current). ``guest_role`` and ``host_role`` are the item-data roles that hold a row's
    :class:`GuestInfo` and host URI.

    Signals:
        changed(): what the queries answer may have changed: the selection changed, a selected
            guest changed or went away, or a host came or went (the focused host follows).
    """

    changed = Signal()

    def __init__(
        self,
        guest_selection: QItemSelectionModel,
        host_selection: QItemSelectionModel,
        known_hosts: Callable[[], list[str]],
        *,
        guest_role: int,
        host_role: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._guest_selection = guest_selection
        self._host_selection = host_selection
        self._known_hosts = known_hosts
        self._guest_role = guest_role
        self._host_role = host_role
        guest_selection.selectionChanged.connect(self._on_selection_changed)
        host_selection.selectionChanged.connect(self._on_selection_changed)
        guests = guest_selection.model()
        guests.dataChanged.connect(self._on_guests_data_changed)
        guests.modelReset.connect(self._on_model_reset)  # (removing selected rows is a
        # selection change; a reset clears the selection without saying so)
        hosts = host_selection.model()
        hosts.rowsInserted.connect(self._on_rows_changed)
        hosts.rowsRemoved.connect(self._on_rows_changed)
        hosts.modelReset.connect(self._on_model_reset)

    def guests(self) -> list[GuestInfo]:
        """The selected guests, in view order."""
        rows = sorted(self._guest_selection.selectedRows(0), key=QModelIndex.row)
        found = (index.data(self._guest_role) for index in rows)
        return [guest for guest in found if isinstance(guest, GuestInfo)]

    def hosts(self) -> list[str]:
        """The URIs of the selected hosts, in view order (a row without a URI, such as the
        host list's "All hosts", is no host)."""
        rows = sorted(self._host_selection.selectedRows(0), key=QModelIndex.row)
        uris = (index.data(self._host_role) for index in rows)
        return [uri for uri in uris if isinstance(uri, str) and uri]

    def focused_host(self) -> str:
        """The host whose details and usage are in view ("" when there is none).

        The first selected host; else the host of the first selected guest; else the first
        known host, so a host's consolidation is always in view.
        """
        uris = self.hosts() or [guest.host_uri for guest in self.guests()[:1]]
        uris = uris or list(self._known_hosts())[:1]
        return uris[0] if uris else ""

    def clear_hosts(self) -> None:
        """Select no host (so that every host's guests are listed)."""
        self._host_selection.clearSelection()

    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.changed.emit()

    def _on_guests_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: list[int]
    ) -> None:
        selection, parent = self._guest_selection, top_left.parent()
        rows = range(top_left.row(), bottom_right.row() + 1)
        if selection.hasSelection() and any(selection.isRowSelected(r, parent) for r in rows):
            self.changed.emit()

    def _on_rows_changed(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        self.changed.emit()

    def _on_model_reset(self) -> None:
        self.changed.emit()
