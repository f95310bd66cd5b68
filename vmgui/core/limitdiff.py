"""Where a running guest's live limits differ from its persistent config (pure).

``virsh blkiotune --live`` (or ``schedinfo --live``, ...) changes a running guest without its
saved definition: until it stops, what holds now and what the next boot brings differ. Each
:class:`Difference` names one field, both values in words, and says how the Limits tab marks it
("now 256 KiB/s · next boot: none").

Fields are keyed the way the Limits tab lays them out (:data:`FieldKey`): ``("cpu_weight",)``,
``("cpu_cap",)``, ``("memory_hard",)``, ``("memory_soft",)``, ``("disk", target, column)`` with
column 1-4 = read bytes/s, write bytes/s, read IOPS, write IOPS, and ``("nic", mac, column)``
with column 1-2 = inbound, outbound. Values that mean the same are not differences: an unset
config weight is the default (1024) the running guest reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vmgui.core.limits import (
    DEFAULT_WEIGHT,
    DiskLimits,
    GuestLimits,
    LimitsView,
    NicLimits,
    Scope,
)
from vmgui.core.units import format_kib, format_rate

FieldKey = tuple[str, ...] | tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose live and config values differ.

    Attributes:
        key: the field (see :data:`FieldKey`).
        name: the field for people, without its device (that is in ``key``): "CPU cap",
            "read", "write IOPS", "inbound".
        live: the running guest's value in words, e.g. "256 KiB/s".
        config: the persistent config's value in words (what the next boot brings).
    """

    key: FieldKey
    name: str
    live: str
    config: str

    @property
    def text(self) -> str:
        """ "now 256 KiB/s · next boot: none"."""
        return f"now {self.live} · next boot: {self.config}"


def _weight(value: int) -> int:
    return value or DEFAULT_WEIGHT


def _rate(value: int) -> str:
    return format_rate(value) if value else "none"


def _iops(value: int) -> str:
    return f"{value} IOPS" if value else "none"


def _nic_rate(value: int) -> str:
    return format_rate(value * 1024) if value else "none"


_DISK_FIELDS: tuple[tuple[int, str, Callable[[DiskLimits], int], Callable[[int], str]], ...] = (
    (1, "read", lambda d: d.read_bps, _rate),
    (2, "write", lambda d: d.write_bps, _rate),
    (3, "read IOPS", lambda d: d.read_iops, _iops),
    (4, "write IOPS", lambda d: d.write_iops, _iops),
)
_NIC_FIELDS: tuple[tuple[int, str, Callable[[NicLimits], int]], ...] = (
    (1, "inbound", lambda n: n.inbound_kib),
    (2, "outbound", lambda n: n.outbound_kib),
)


def differences(view: LimitsView) -> tuple[Difference, ...]:
    """Every field whose live value differs from the config's (none unless both exist)."""
    live, config = view.live, view.config
    if live is None or config is None:
        return ()
    found: list[Difference] = []
    if _weight(live.cpu_weight) != _weight(config.cpu_weight):
        found.append(
            Difference(
                ("cpu_weight",),
                "CPU weight",
                str(_weight(live.cpu_weight)),
                str(_weight(config.cpu_weight)),
            )
        )
    found += _cap(live, config)
    for key, name, attr in (
        ("memory_hard", "memory hard limit", "memory_hard_limit_kib"),
        ("memory_soft", "memory soft limit", "memory_soft_limit_kib"),
    ):
        now, saved = int(getattr(live, attr)), int(getattr(config, attr))
        if now != saved:
            found.append(Difference((key,), name, _memory(now), _memory(saved)))
    for disk in live.disks:
        saved_disk = config.disk(disk.target)
        if saved_disk is None:
            continue
        for column, name, value, words in _DISK_FIELDS:
            if value(disk) != value(saved_disk):
                found.append(
                    Difference(
                        ("disk", disk.target, column),
                        name,
                        words(value(disk)),
                        words(value(saved_disk)),
                    )
                )
    for nic in live.nics:
        saved_nic = config.nic(nic.mac)
        if saved_nic is None or nic.unsupported:
            continue
        for column, name, nic_value in _NIC_FIELDS:
            if nic_value(nic) != nic_value(saved_nic):
                found.append(
                    Difference(
                        ("nic", nic.mac, column),
                        name,
                        _nic_rate(nic_value(nic)),
                        _nic_rate(nic_value(saved_nic)),
                    )
                )
    return tuple(found)


def _cap(live: GuestLimits, config: GuestLimits) -> list[Difference]:
    now, saved = round(live.cpu_cap_percent), round(config.cpu_cap_percent)
    if now == saved:
        return []

    def words(cap: int) -> str:
        return f"{cap} %" if cap else "no cap"

    return [Difference(("cpu_cap",), "CPU cap", words(now), words(saved))]


def _memory(kib: int) -> str:
    return format_kib(kib) if kib else "no limit"


def apply_note(scope: Scope) -> str:
    """What Apply writes to a guest whose live and config values differ, for ``scope``."""
    if scope == Scope.LIVE | Scope.CONFIG:
        return (
            "The running guest and its saved config differ where marked: Apply writes the "
            "values shown to both, so the next boot keeps them."
        )
    if scope == Scope.LIVE:
        return (
            "Apply changes the running guest only: where marked, the next boot brings the "
            "saved value back."
        )
    return (
        "Apply writes the values shown (the running guest's) to the saved config, also where "
        "marked."
    )
