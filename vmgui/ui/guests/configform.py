"""The guest pane's edit state, without widgets: the values loaded and what the user changed."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vmgui.core.model import GuestConfigEdit, GuestOverview
from vmgui.core.validation import MAX_VCPUS, MIN_MEMORY_MIB

MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB


@dataclass(frozen=True, slots=True)
class ConfigValues:
    """The editable settings as the pane shows them."""

    vcpus: int
    memory_mib: int
    title: str
    autostart: bool
    tags: tuple[str, ...] = ()


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


class GuestConfigForm:
    """The guest pane's edit state: the values loaded, and what the user changed.

    Pure (no widgets): the pane reads its widgets into :class:`ConfigValues` and asks.
    """

    def __init__(self) -> None:
        self.overview: GuestOverview | None = None
        self.baseline = ConfigValues(1, MIN_MEMORY_MIB, "", False)
        self._applied = False

    @staticmethod
    def values_of(overview: GuestOverview) -> ConfigValues:
        """The settings of ``overview``'s next-boot configuration, within the editors' ranges."""
        config, guest = overview.editable, overview.guest
        memory_mib = math.ceil((config.memory_kib or guest.memory_kib) / 1024)
        return ConfigValues(
            vcpus=_clamp(config.vcpus or guest.vcpus, 1, MAX_VCPUS),
            memory_mib=_clamp(memory_mib, MIN_MEMORY_MIB, MAX_MEMORY_MIB),
            title=config.title,
            autostart=overview.autostart,
            tags=guest.tags,
        )

    def load(self, overview: GuestOverview | None, shown: ConfigValues) -> ConfigValues | None:
        """Take a fresh overview; returns the values to show (None without an overview).

        A fresh overview of the same guest keeps the edits not yet applied (``shown`` where
        it differs from the old baseline); after an apply, the fresh values are shown.
        """
        previous, old, applied = self.overview, self.baseline, self._applied
        self.overview = overview
        self._applied = False
        if overview is None:
            return None
        fresh = self.baseline = self.values_of(overview)
        if applied or previous is None or previous.guest.key != overview.guest.key:
            return fresh
        kept = {
            name: getattr(shown, name)
            for name in ("vcpus", "memory_mib", "title", "autostart", "tags")
            if getattr(shown, name) != getattr(old, name)
        }
        return replace(fresh, **kept)

    def forget(self) -> None:
        """Show no overview (loading another guest, or an error)."""
        self.overview = None

    def pending(self, shown: ConfigValues) -> GuestConfigEdit | None:
        """The edits in ``shown`` against the baseline, or None (also without an overview)."""
        if self.overview is None:
            return None
        old = self.baseline
        edit = GuestConfigEdit(
            guest=self.overview.guest,
            vcpus=shown.vcpus if shown.vcpus != old.vcpus else None,
            memory_mib=shown.memory_mib if shown.memory_mib != old.memory_mib else None,
            title=shown.title if shown.title != old.title else None,
            autostart=shown.autostart if shown.autostart != old.autostart else None,
            tags=shown.tags if shown.tags != old.tags else None,
        )
        return None if edit.is_empty else edit

    def mark_applied(self) -> None:
        """The pending edit was sent: the next overview replaces the shown values."""
        self._applied = True
