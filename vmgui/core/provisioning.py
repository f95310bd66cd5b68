"""What a provisioning run is asked to do, what it reports while it runs, and what it made.

These frozen dataclasses are the provisioning engine's API (:mod:`vmgui.virt.provision`): the
wizard and ``vmgui-cli provision`` build a :class:`ProvisionPlan`, receive :class:`Progress`
reports on the asyncio loop's thread and get a :class:`ProvisionResult` back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vmgui.core.catalog import CatalogEntry
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.errors import VmguiError
from vmgui.core.xml.build import DiskSpec, DomainSpec
from vmgui.core.xml.display import VncListen

USER_NETWORK = "user"
DEFAULT_POOL = "default"
DEFAULT_POOL_PATH = "/var/lib/libvirt/images"


class Step(enum.Enum):
    """The steps of the transactional flows. Every step is timed; skipped steps take 0 s.

    A provisioning run has :data:`PROVISION_STEPS`; clones, exports, imports and migrations
    use the others too.
    """

    VALIDATE = "validate"
    DOWNLOAD = "download"
    POOL = "pool"
    UPLOAD = "upload"
    OVERLAY = "overlay"
    SEED = "seed"
    DEFINE = "define"
    START = "start"
    COPY = "copy"
    EXPORT = "export"
    VERIFY = "verify"
    MIGRATE = "migrate"
    CLEANUP = "cleanup"

    @property
    def label(self) -> str:
        """What the step does, for people."""
        return _STEP_LABELS[self]


_STEP_LABELS = {
    Step.VALIDATE: "Checking the plan against the host",
    Step.DOWNLOAD: "Downloading and verifying the image",
    Step.POOL: "Preparing the storage pool",
    Step.UPLOAD: "Uploading the base image to the host",
    Step.OVERLAY: "Creating the guest's disk",
    Step.SEED: "Writing the cloud-init seed",
    Step.DEFINE: "Defining the guest",
    Step.START: "Starting the guest",
    Step.COPY: "Copying the disks on the host",
    Step.EXPORT: "Streaming the disks into the file",
    Step.VERIFY: "Verifying the copy",
    Step.MIGRATE: "Moving the guest",
    Step.CLEANUP: "Removing the source",
}


#: The steps of a provisioning run, in order (the other steps belong to other flows: clone,
#: export, import, migration).
PROVISION_STEPS: tuple[Step, ...] = (
    Step.VALIDATE,
    Step.DOWNLOAD,
    Step.POOL,
    Step.UPLOAD,
    Step.OVERLAY,
    Step.SEED,
    Step.DEFINE,
    Step.START,
)


class VirtType(enum.Enum):
    """The domain type: hardware virtualisation, emulation, or whatever the host offers."""

    AUTO = "auto"
    KVM = "kvm"
    QEMU = "qemu"


class SeedDevice(enum.Enum):
    """How the cloud-init seed is attached.

    DISK is a read-only virtio disk (cloud-init finds the ``cidata`` label on any block
    device; the tiny test guest reads it as /dev/vdb); CDROM is a SATA CD-ROM.
    """

    DISK = "disk"
    CDROM = "cdrom"


@dataclass(frozen=True, slots=True)
class CatalogImage:
    """Make the guest from a catalog entry (downloaded and verified, then cached)."""

    entry: CatalogEntry


@dataclass(frozen=True, slots=True)
class LocalImage:
    """Make the guest from a local qcow2 or raw disk image, or install it from an ISO."""

    path: Path


@dataclass(frozen=True, slots=True)
class ExistingVolume:
    """Import flow: use a volume already on the host as the guest's disk (never deleted)."""

    pool: str
    volume: str


Source = CatalogImage | LocalImage | ExistingVolume


@dataclass(frozen=True, slots=True)
class ProvisionPlan:
    """Everything a new guest needs.

    Attributes:
        name: the guest's name (validated; must not exist on the host).
        source: where the disk comes from.
        vcpus: virtual CPUs (at most the host's CPUs).
        memory_mib: memory (at most the host's memory).
        disk_bytes: the guest disk's size; at least the image's virtual size.
        virt_type: kvm, qemu (emulated) or auto (kvm when the host offers it).
        network: a libvirt network name, or :data:`USER_NETWORK` for user-mode networking.
        pool: the storage pool for the guest's volumes.
        pool_path: where to create ``pool`` (a dir pool) if it is missing; "" means
            :data:`DEFAULT_POOL_PATH` for the pool "default" and "no creation" otherwise.
        cloud_init: the seed's settings, or None for no seed.
        seed_device: how the seed is attached.
        osinfo: libosinfo id ("" takes the catalog entry's).
        start: start the guest at the end.
        serial_log: a file on the host that records the serial console, or "".
        graphics: add a VNC display and a video card (the display listens as
            :attr:`DomainFacts.vnc_listen` says).
    """

    name: str
    source: Source
    vcpus: int = 2
    memory_mib: int = 2048
    disk_bytes: int = 20 << 30
    virt_type: VirtType = VirtType.AUTO
    network: str = "default"
    pool: str = DEFAULT_POOL
    pool_path: str = ""
    cloud_init: CloudInitConfig | None = None
    seed_device: SeedDevice = SeedDevice.DISK
    osinfo: str = ""
    start: bool = True
    serial_log: str = ""
    graphics: bool = True


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report (always delivered on the asyncio loop's thread).

    Attributes:
        step: the running step.
        message: what happens, for people.
        fraction: 0..1 within the step, or None when unknown.
        done_bytes: bytes transferred so far in this step (0 if not a transfer).
        total_bytes: bytes to transfer, or None when unknown.
        speed: bytes per second (recent average), or None.
        eta: seconds left, or None.
    """

    step: Step
    message: str
    fraction: float | None = None
    done_bytes: int = 0
    total_bytes: int | None = None
    speed: float | None = None
    eta: float | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class StepTiming:
    """How long a step took.

    Attributes:
        step: the step.
        seconds: wall time.
        note: e.g. "cached", "reused", "skipped", "" for a step that did its work.
    """

    step: Step
    seconds: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    """The guest a run made.

    Attributes:
        host_uri: the host.
        name: the guest's name.
        uuid: the guest's UUID.
        virt_type: "kvm" or "qemu".
        disk_path: the guest disk's path on the host.
        base_path: the base image volume the disk is backed by ("" for none).
        seed_path: the seed volume's path ("" without cloud-init).
        started: whether the guest was started.
        timings: per step, in order.
        warnings: things worth telling (e.g. the pool is overcommitted).
        libvirt_start_seconds: time spent in libvirt's start call alone.
    """

    host_uri: str
    name: str
    uuid: str
    virt_type: str
    disk_path: str
    base_path: str
    seed_path: str
    started: bool
    timings: tuple[StepTiming, ...]
    warnings: tuple[str, ...] = field(default=())
    libvirt_start_seconds: float = 0.0

    @property
    def total_seconds(self) -> float:
        """The whole run's wall time."""
        return sum(t.seconds for t in self.timings)

    def timing(self, step: Step) -> StepTiming | None:
        """The timing of ``step``, if it ran."""
        return next((t for t in self.timings if t.step is step), None)


class ProvisionError(VmguiError):
    """A provisioning run failed; :attr:`step` names where.

    Attributes:
        step: the step that failed.
        left_behind: what the rollback could not remove (paths, guest names).
    """

    def __init__(
        self,
        step: Step,
        summary: str,
        details: str = "",
        hint: str = "",
        left_behind: tuple[str, ...] = (),
    ) -> None:
        super().__init__(summary, details, hint)
        self.step = step
        self.left_behind = left_behind


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """What a run learned that the new guest's definition depends on.

    Attributes:
        virt_type: the chosen domain type, "kvm" or "qemu".
        arch: the host's architecture ("" reads "x86_64").
        disk_format: the guest disk's format: "qcow2", or an imported volume's own.
        installer: the image is an install ISO (it boots first, from a CD-ROM).
        vnc_listen: where the display listens on this host
            (:func:`~vmgui.core.xml.display.vnc_listen_for` its URI).
    """

    virt_type: str
    arch: str
    disk_format: str
    installer: bool = False
    vnc_listen: VncListen = VncListen.NONE


@dataclass(frozen=True, slots=True)
class GuestPaths:
    """The volumes a new guest uses, by path on the host.

    Attributes:
        disk: the guest's disk.
        base: the image it was made from: the overlay's backing file, or the install ISO.
        seed: the cloud-init seed ("" for none).
    """

    disk: str
    base: str = ""
    seed: str = ""


def domain_spec_for(plan: ProvisionPlan, facts: DomainFacts, paths: GuestPaths) -> DomainSpec:
    """The domain a plan asks for, once its volumes exist.

    The disk comes first; an installer ISO is a SATA CD-ROM that boots before it; the seed is a
    read-only virtio disk (``vdb``) or a SATA CD-ROM, as the plan says.
    """
    installer = facts.installer
    disks = [DiskSpec(paths.disk, facts.disk_format or "raw", boot_order=2 if installer else 1)]
    if installer:
        disks.append(DiskSpec(paths.base, "raw", "cdrom", "sda", "sata", True, boot_order=1))
    if paths.seed:
        if plan.seed_device is SeedDevice.CDROM:
            target = "sdb" if installer else "sda"
            disks.append(DiskSpec(paths.seed, "raw", "cdrom", target, "sata", True))
        else:
            disks.append(DiskSpec(paths.seed, "raw", "disk", "vdb", "virtio", True))
    source = plan.source
    osinfo = plan.osinfo
    if not osinfo and isinstance(source, CatalogImage):
        osinfo = source.entry.osinfo
    return DomainSpec(
        name=plan.name,
        virt_type=facts.virt_type,
        vcpus=plan.vcpus,
        memory_mib=plan.memory_mib,
        disks=tuple(disks),
        network=plan.network,
        osinfo=osinfo,
        arch=facts.arch or "x86_64",
        serial_log=plan.serial_log,
        graphics=facts.vnc_listen if plan.graphics else None,
        description=description_for(source),
    )


def description_for(source: Source) -> str:
    """The description a new guest's definition gets: what it was created from."""
    if isinstance(source, CatalogImage):
        return f"Created by vmgui from {source.entry.name}"
    if isinstance(source, LocalImage):
        return f"Created by vmgui from {source.path.name}"
    return "Created by vmgui"


class TransferMeter:
    """Speed (bytes/s over the last few seconds) and ETA of a transfer.

    Args:
        total: bytes to move, or None when unknown.
        clock: a monotonic clock in seconds.
        window: seconds of history the speed is averaged over.
    """

    def __init__(self, total: int | None, clock: Callable[[], float], window: float = 3.0) -> None:
        self.total = total
        self._clock = clock
        self._window = window
        self._samples: list[tuple[float, int]] = [(clock(), 0)]

    def update(self, done: int) -> tuple[float | None, float | None]:
        """Record ``done`` bytes so far; return (speed, eta), each None while unknown."""
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] > self._window:
            self._samples.pop(0)
        t0, d0 = self._samples[0]
        if now - t0 <= 0 or done <= d0:
            return None, None
        speed = (done - d0) / (now - t0)
        eta = max(0.0, (self.total - done) / speed) if self.total is not None else None
        return speed, eta
