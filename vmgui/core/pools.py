"""Storage pools and volumes as the Storage view and ``vmgui-cli pools|volumes`` show them.

Frozen snapshots (no libvirt calls) and the rules of what may be deleted or stopped: never a
volume a guest uses or one that backs another, never a pool whose volumes guests use.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmgui.core.units import plural
from vmgui.core.validation import ValidationError

#: libvirt's virStoragePoolState, by number.
POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}
#: Formats a new volume may have.
VOLUME_FORMATS = ("qcow2", "raw")


@dataclass(frozen=True, slots=True)
class StoragePool:
    """One storage pool.

    Attributes:
        name: its name.
        uuid: its UUID.
        type: "dir", "logical", "netfs", ...
        state: one of :data:`POOL_STATES`' values.
        autostart: whether libvirt starts it with the daemon.
        persistent: whether it is defined (not only started).
        capacity: bytes (0 while inactive).
        allocation: bytes in use.
        available: free bytes.
        path: its target directory or device, or "".
        volumes: how many volumes it holds (0 while inactive).
    """

    name: str
    uuid: str
    type: str
    state: str
    autostart: bool
    persistent: bool
    capacity: int
    allocation: int
    available: int
    path: str
    volumes: int = 0

    @property
    def active(self) -> bool:
        """Whether the pool runs (its volumes can be listed)."""
        return self.state in ("running", "degraded")


@dataclass(frozen=True, slots=True)
class StorageVolume:
    """One volume of a pool.

    Attributes:
        pool: its pool's name.
        name: its name.
        path: its path on the host.
        format: "qcow2", "raw", "iso", ... or "".
        capacity: the virtual size (bytes).
        allocation: bytes it takes on the host.
        backing_chain: the files under it, nearest first (empty for a standalone volume).
        used_by: the guests whose disks are it or have it in their backing chain.
        backs: the volumes (paths) whose backing file it is.
    """

    pool: str
    name: str
    path: str
    format: str
    capacity: int
    allocation: int
    backing_chain: tuple[str, ...] = ()
    used_by: tuple[str, ...] = ()
    backs: tuple[str, ...] = ()


def volume_delete_refusal(volume: StorageVolume) -> str:
    """Why ``volume`` must not be deleted ("" when it may)."""
    if volume.used_by:
        return f"{volume.name} is used by {', '.join(volume.used_by)}"
    if volume.backs:
        return f"{volume.name} backs {plural(len(volume.backs), 'other volume')}: " + ", ".join(
            volume.backs
        )
    return ""


def pool_users(volumes: list[StorageVolume]) -> tuple[str, ...]:
    """The guests that use any of ``volumes``, sorted."""
    return tuple(sorted({guest for v in volumes for guest in v.used_by}))


def check_resize(volume: StorageVolume, capacity: int, running_users: tuple[str, ...]) -> None:
    """Check a resize of ``volume`` to ``capacity`` bytes.

    Raises:
        ValidationError: a shrink (data would be lost) or a volume a running guest has open.
    """
    if capacity <= 0:
        raise ValidationError("Size", "The new size must be above zero.")
    if capacity < volume.capacity:
        raise ValidationError(
            "Size", f"{volume.name} would shrink: vmgui only grows volumes (data would be lost)."
        )
    if running_users:
        raise ValidationError(
            "Size",
            f"{volume.name} is open in running guest {', '.join(running_users)}: shut it down "
            "first.",
        )


def validate_volume_format(fmt: str) -> str:
    """Check a new volume's format (:data:`VOLUME_FORMATS`)."""
    if fmt not in VOLUME_FORMATS:
        raise ValidationError(
            "Format", f"Format must be one of {', '.join(VOLUME_FORMATS)} (got {fmt!r})."
        )
    return fmt
