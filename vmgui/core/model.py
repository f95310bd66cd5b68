"""Frozen snapshots that cross layers: hosts, guests, connection status.

The virt layer builds these from libvirt answers; the UI only ever sees these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmgui.core.xml.domain import GuestDetails


class GuestState(enum.Enum):
    """The states a user sees, as shown in the guest list's State column."""

    RUNNING = "running"
    PAUSED = "paused"
    SHUTOFF = "shut off"
    CRASHED = "crashed"
    SUSPENDED = "suspended"
    SAVED = "saved"

    @property
    def label(self) -> str:
        """The text shown for this state."""
        return self.value


# libvirt's virDomainState numbers (enum virDomainState in libvirt-domain.h), written out so
# that core needs no libvirt import; tests/unit/test_model.py checks them against libvirt's.
_NOSTATE = 0  # VIR_DOMAIN_NOSTATE
_RUNNING = 1  # VIR_DOMAIN_RUNNING
_BLOCKED = 2  # VIR_DOMAIN_BLOCKED
_PAUSED = 3  # VIR_DOMAIN_PAUSED
_SHUTDOWN = 4  # VIR_DOMAIN_SHUTDOWN (being shut down: still running)
_SHUTOFF = 5  # VIR_DOMAIN_SHUTOFF
_CRASHED = 6  # VIR_DOMAIN_CRASHED
_PMSUSPENDED = 7  # VIR_DOMAIN_PMSUSPENDED

_SEEN_AS = {
    _RUNNING: GuestState.RUNNING,
    _BLOCKED: GuestState.RUNNING,
    _SHUTDOWN: GuestState.RUNNING,
    _PAUSED: GuestState.PAUSED,
    _SHUTOFF: GuestState.SHUTOFF,
    _CRASHED: GuestState.CRASHED,
    _PMSUSPENDED: GuestState.SUSPENDED,
}


def guest_state_from_libvirt(state: int, has_managed_save: bool = False) -> GuestState:
    """Map a libvirt ``virDomainState`` to what the user sees.

    Args:
        state: the libvirt domain state number.
        has_managed_save: whether a shut-off guest has a managed save image.

    Returns:
        The user-facing state. A guest being shut down is still running; a shut-off
        guest with a managed save image is "saved". A state without a meaning here
        (``VIR_DOMAIN_NOSTATE``, or one newer than this list) reads as shut off.
    """
    seen = _SEEN_AS.get(state, GuestState.SHUTOFF)
    if seen is GuestState.SHUTOFF and has_managed_save:
        return GuestState.SAVED
    return seen


class GuestAction(enum.Enum):
    """Lifecycle actions a user can run on a guest."""

    START = "start"
    SHUTDOWN = "shutdown"
    REBOOT = "reboot"
    FORCE_OFF = "force off"
    PAUSE = "pause"
    RESUME = "resume"
    SAVE = "save"
    DELETE = "delete"


_VALID_ACTIONS: dict[GuestState, frozenset[GuestAction]] = {
    GuestState.RUNNING: frozenset(
        {
            GuestAction.SHUTDOWN,
            GuestAction.REBOOT,
            GuestAction.FORCE_OFF,
            GuestAction.PAUSE,
            GuestAction.SAVE,
        }
    ),
    GuestState.PAUSED: frozenset(
        {GuestAction.RESUME, GuestAction.FORCE_OFF, GuestAction.SAVE, GuestAction.SHUTDOWN}
    ),
    GuestState.SHUTOFF: frozenset({GuestAction.START, GuestAction.DELETE}),
    GuestState.SAVED: frozenset({GuestAction.START, GuestAction.DELETE}),
    GuestState.CRASHED: frozenset({GuestAction.START, GuestAction.FORCE_OFF, GuestAction.DELETE}),
    GuestState.SUSPENDED: frozenset({GuestAction.RESUME, GuestAction.FORCE_OFF}),
}


def valid_actions(state: GuestState, persistent: bool = True) -> frozenset[GuestAction]:
    """Actions that make sense for a guest in ``state``.

    A transient guest cannot be started again once off, nor managed-saved.
    """
    actions = _VALID_ACTIONS[state]
    if not persistent:
        actions = actions - {GuestAction.SAVE}
    return actions


def actions_for_all(guests: list[GuestInfo]) -> frozenset[GuestAction]:
    """Actions valid for every guest of a selection (empty selection: none)."""
    if not guests:
        return frozenset()
    result = valid_actions(guests[0].state, guests[0].persistent)
    for guest in guests[1:]:
        result = result & valid_actions(guest.state, guest.persistent)
    return result


@dataclass(frozen=True, slots=True)
class GuestInfo:
    """One guest as listed: what the guest list shows.

    Attributes:
        host_uri: the URI of the host the guest lives on.
        uuid: libvirt UUID string, the guest's key.
        name: the libvirt domain name.
        state: what the user sees.
        vcpus: current number of virtual CPUs.
        memory_kib: current memory (KiB).
        max_memory_kib: maximum memory (KiB).
        persistent: whether the guest has a persistent definition.
        domain_id: the running domain's id, or -1.
        tags: the guest's tags (vmgui's libvirt metadata), in their order.
    """

    host_uri: str
    uuid: str
    name: str
    state: GuestState
    vcpus: int
    memory_kib: int
    max_memory_kib: int
    persistent: bool = True
    domain_id: int = -1
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """The guest's identity across hosts."""
        return (self.host_uri, self.uuid)

    @property
    def is_active(self) -> bool:
        """Whether the guest is running, paused or suspended (uses host resources)."""
        return self.state in (GuestState.RUNNING, GuestState.PAUSED, GuestState.SUSPENDED)


class ConnectionState(enum.Enum):
    """Where a host connection stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """The text shown for this state."""
        return self.value


@dataclass(frozen=True, slots=True)
class HostStatus:
    """A connection's state change, with the reason for failures.

    Attributes:
        uri: the host's URI.
        state: the new state.
        reason: why the host is disconnected or failed ("" otherwise).
        retry_in: seconds until the next automatic reconnect, or None if none is planned.
    """

    uri: str
    state: ConnectionState
    reason: str = ""
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What a host is and carries.

    Attributes:
        uri: the connection URI.
        hostname: the host's name.
        hypervisor: the hypervisor type (e.g. "QEMU", "TEST").
        hypervisor_version: e.g. "7.2.0".
        libvirt_version: e.g. "9.0.0".
        cpu_model: the host CPU model ("" until capabilities are known).
        cpus: logical CPUs.
        memory_kib: physical memory (KiB).
        arch: host architecture.
        capabilities_known: False until the (possibly slow) capabilities call answered.
        secure: libvirt's ``isSecure()``: the link is local or encrypted (False: ``qemu+tcp``
            without TLS — credentials and console traffic travel in clear).
    """

    uri: str
    hostname: str
    hypervisor: str
    hypervisor_version: str
    libvirt_version: str
    cpus: int
    memory_kib: int
    arch: str = ""
    cpu_model: str = ""
    capabilities_known: bool = False
    secure: bool = True


@dataclass(frozen=True, slots=True)
class Consolidation:
    """What a host's guests commit against its physical resources.

    Attributes:
        guests: all guests on the host.
        active_guests: guests running, paused or suspended.
        committed_vcpus: vCPUs of active guests.
        committed_memory_kib: memory of active guests.
        defined_vcpus: vCPUs of all guests.
        defined_memory_kib: memory of all guests.
        host_cpus: the host's logical CPUs.
        host_memory_kib: the host's memory.
    """

    guests: int
    active_guests: int
    committed_vcpus: int
    committed_memory_kib: int
    defined_vcpus: int
    defined_memory_kib: int
    host_cpus: int
    host_memory_kib: int

    @property
    def vcpu_ratio(self) -> float:
        """Committed vCPUs per physical CPU."""
        return self.committed_vcpus / self.host_cpus if self.host_cpus else 0.0

    @property
    def memory_ratio(self) -> float:
        """Committed memory as a fraction of physical memory."""
        return self.committed_memory_kib / self.host_memory_kib if self.host_memory_kib else 0.0


def consolidation(host: HostInfo, guests: list[GuestInfo]) -> Consolidation:
    """Sum what ``guests`` commit on ``host``."""
    active = [g for g in guests if g.is_active]
    return Consolidation(
        guests=len(guests),
        active_guests=len(active),
        committed_vcpus=sum(g.vcpus for g in active),
        committed_memory_kib=sum(g.memory_kib for g in active),
        defined_vcpus=sum(g.vcpus for g in guests),
        defined_memory_kib=sum(g.memory_kib for g in guests),
        host_cpus=host.cpus,
        host_memory_kib=host.memory_kib,
    )


@dataclass(frozen=True, slots=True)
class GuestOverview:
    """Everything the guest details pane shows, fetched in one go.

    Attributes:
        guest: the listed guest.
        details: the parsed domain XML (live XML for a running guest).
        autostart: whether the guest starts with the host.
        has_managed_save: whether a managed save image will be restored on start.
        config: the persistent (next boot) configuration of a running persistent guest,
            which edits change; None when it is the same document as ``details``.
    """

    guest: GuestInfo
    details: GuestDetails
    autostart: bool
    has_managed_save: bool
    config: GuestDetails | None = None

    @property
    def editable(self) -> GuestDetails:
        """The configuration that edits apply to (the next-boot one)."""
        return self.config or self.details


@dataclass(frozen=True, slots=True)
class GuestConfigEdit:
    """What the user changed in a guest's settings; each field is None when unchanged.

    Attributes:
        guest: the guest the edit is for.
        vcpus: the new vCPU count.
        memory_mib: the new memory in MiB.
        title: the new title ("" removes it).
        autostart: whether the guest should start with the host.
        tags: the guest's new tags (empty removes them all).
    """

    guest: GuestInfo
    vcpus: int | None = None
    memory_mib: int | None = None
    title: str | None = None
    autostart: bool | None = None
    tags: tuple[str, ...] | None = None

    @property
    def is_empty(self) -> bool:
        """Whether nothing was changed."""
        fields = (self.vcpus, self.memory_mib, self.title, self.autostart, self.tags)
        return fields == (None,) * 5


@dataclass(frozen=True, slots=True)
class StorageItem:
    """One disk of a guest being deleted, and whether vmgui may remove it.

    Attributes:
        path: the volume's path on the host (or "pool/volume").
        target: the guest's device name (e.g. "vda").
        removable: True when the guest alone owns it and it backs no other image.
        reason: why it must stay, when not removable.
    """

    path: str
    target: str
    removable: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeletePlan:
    """What deleting a guest would do to its storage."""

    guest: GuestInfo
    storage: tuple[StorageItem, ...]


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What a delete did: the volumes removed and the ones that could not be."""

    guest: GuestInfo
    removed: tuple[str, ...]
    kept: tuple[StorageItem, ...]
