"""What the new-guest wizard has gathered, the request it makes, and the engine it runs.

No widgets here: the pages write their choices into one :class:`WizardState`;
:func:`build_request` turns it into a :class:`~vmgui.core.provisioning.ProvisionPlan` (or a
:class:`CloneRequest` for a linked clone of a template), and a :class:`GuestEngine` (by default
:class:`DefaultEngine`, the same engine as ``vmgui-cli provision``) carries it out. A batch
(``count`` > 1) is a :class:`~vmgui.core.batch.BatchPlan` (:func:`build_batch`) run by a
:class:`BatchEngine` (by default :class:`~vmgui.virt.batch.BatchProvisioner`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from vmgui.core.batch import BatchPlan, BatchProgressCallback, make_batch
from vmgui.core.catalog import CatalogEntry, ImageFormat, ImageInfo
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.provisioning import (
    PROVISION_STEPS,
    USER_NETWORK,
    CatalogImage,
    ExistingVolume,
    LocalImage,
    ProgressCallback,
    ProvisionPlan,
    ProvisionResult,
    Source,
    Step,
    VirtType,
)
from vmgui.virt.batch import BatchProvisioner, BatchRun
from vmgui.virt.connection import HostConnection
from vmgui.virt.hostchoices import TemplateChoice, VolumeChoice
from vmgui.virt.provision import Provisioner
from vmgui.virt.templates import clone_from_template

GIB = 1 << 30


class SourceKind(enum.Enum):
    """Where the new guest's disk comes from."""

    CATALOG = "catalog"
    LOCAL = "local"
    ISO = "iso"
    VOLUME = "volume"
    TEMPLATE = "template"

    @property
    def label(self) -> str:
        """The choice as the source page shows it."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    SourceKind.CATALOG: "Download an OS cloud image",
    SourceKind.LOCAL: "Use a disk image file",
    SourceKind.ISO: "Install from an ISO image",
    SourceKind.VOLUME: "Import an existing volume",
    SourceKind.TEMPLATE: "Clone a template (linked clone)",
}


@dataclass
class WizardState:
    """The choices so far (mutable; the pages write it as the user moves on).

    Attributes:
        uri: the target host.
        kind: the kind of source.
        entry: the catalog entry (CATALOG).
        image: the local file as read from its header (LOCAL, ISO).
        volume: the volume to import (VOLUME).
        template: the template to clone (TEMPLATE).
        name: the new guest's name.
        vcpus: virtual CPUs.
        memory_mib: memory.
        disk_gib: the disk's size.
        pool: the storage pool for the new volumes.
        cloud_init: the seed's settings (the password already hashed), or None.
        network: a libvirt network, or :data:`USER_NETWORK`.
        virt_type: KVM or emulation.
        start: start the guest once it is made.
        count: how many guests to make (a batch when > 1).
        name_pattern: the batch's name pattern (``web-{n}``; ``{n}`` counts from 1), "" for one.
        keep_finished: in a batch, keep the guests that were made when a later one fails or
            the run is cancelled (else all or none).
        spread: spread the batch over the connected hosts (placement advice decides).
        assignment: the host URI of each guest of the batch, in order (empty: all on ``uri``).
    """

    uri: str = ""
    kind: SourceKind = SourceKind.CATALOG
    entry: CatalogEntry | None = None
    image: ImageInfo | None = None
    volume: VolumeChoice | None = None
    template: TemplateChoice | None = None
    name: str = ""
    vcpus: int = 2
    memory_mib: int = 2048
    disk_gib: int = 20
    pool: str = ""
    cloud_init: CloudInitConfig | None = field(default=None, repr=False)
    network: str = USER_NETWORK
    virt_type: VirtType = VirtType.KVM
    start: bool = True
    count: int = 1
    name_pattern: str = ""
    keep_finished: bool = False
    spread: bool = False
    assignment: tuple[str, ...] = ()

    def source_key(self) -> tuple[object, ...]:
        """Identifies the chosen source (pages re-apply defaults when it changes)."""
        thing: object = {
            SourceKind.CATALOG: self.entry.id if self.entry else None,
            SourceKind.LOCAL: self.image.path if self.image else None,
            SourceKind.ISO: self.image.path if self.image else None,
            SourceKind.VOLUME: self.volume.path if self.volume else None,
            SourceKind.TEMPLATE: self.template.uuid if self.template else None,
        }[self.kind]
        return (self.uri, self.kind, thing)

    def source_text(self) -> str:
        """The chosen source, for people."""
        if self.kind is SourceKind.CATALOG and self.entry is not None:
            return self.entry.name
        if self.kind in (SourceKind.LOCAL, SourceKind.ISO) and self.image is not None:
            return str(self.image.path)
        if self.kind is SourceKind.VOLUME and self.volume is not None:
            return f"{self.volume.pool}/{self.volume.name}"
        if self.kind is SourceKind.TEMPLATE and self.template is not None:
            return f"linked clone of {self.template.name}"
        return "nothing chosen"

    @property
    def is_batch(self) -> bool:
        """Whether the wizard makes several guests."""
        return self.count > 1

    @property
    def offers_batch(self) -> bool:
        """Whether the source can make a batch (an image; not one volume or a template)."""
        return self.kind in (SourceKind.CATALOG, SourceKind.LOCAL, SourceKind.ISO)

    def guest_uris(self, count: int | None = None) -> tuple[str, ...]:
        """Each of ``count`` (default: :attr:`count`) guests' host: the placement's assignment
        when it has one host per guest, else ``uri`` for all."""
        count = self.count if count is None else count
        if len(self.assignment) == count:
            return self.assignment
        return (self.uri,) * count

    @property
    def is_iso(self) -> bool:
        """Whether the guest installs from an ISO (blank disk + CD-ROM)."""
        if self.kind is SourceKind.CATALOG and self.entry is not None:
            return self.entry.format is ImageFormat.ISO
        return self.kind is SourceKind.ISO

    @property
    def default_name_stem(self) -> str:
        """What a default guest name starts with."""
        if self.kind is SourceKind.CATALOG and self.entry is not None:
            return self.entry.id
        if self.image is not None and self.kind in (SourceKind.LOCAL, SourceKind.ISO):
            return self.image.path.name.split(".")[0] or "guest"
        if self.kind is SourceKind.VOLUME and self.volume is not None:
            return self.volume.name.split(".")[0] or "guest"
        if self.kind is SourceKind.TEMPLATE and self.template is not None:
            return f"{self.template.name}-clone"
        return "guest"

    @property
    def min_disk_bytes(self) -> int:
        """The smallest disk the source allows (its virtual size; 0 when unknown)."""
        if self.kind is SourceKind.LOCAL and self.image is not None:
            return self.image.virtual_size
        return 0

    @property
    def offers_cloud_init(self) -> bool:
        """Whether a cloud-init seed makes sense for the source (not for an installer)."""
        return not self.is_iso

    @property
    def cloud_init_default(self) -> bool:
        """Whether the cloud-init page starts enabled."""
        if self.kind is SourceKind.CATALOG and self.entry is not None:
            return self.entry.cloud_init and not self.is_iso
        return self.kind is SourceKind.LOCAL


@dataclass(frozen=True, slots=True)
class CloneRequest:
    """A linked clone of a template (see :func:`~vmgui.virt.templates.clone_from_template`)."""

    template_uuid: str
    template_name: str
    name: str
    cloud_init: CloudInitConfig | None = field(default=None, repr=False)
    start: bool = True


Request = ProvisionPlan | CloneRequest


def build_request(state: WizardState) -> Request:
    """The engine request for the wizard's choices.

    Raises:
        ValueError: the state lacks a source (the pages do not let that happen).
    """
    if state.kind is SourceKind.TEMPLATE:
        if state.template is None:
            raise ValueError("no template chosen")
        return CloneRequest(
            state.template.uuid, state.template.name, state.name, state.cloud_init, state.start
        )
    source: Source
    if state.kind is SourceKind.CATALOG and state.entry is not None:
        source = CatalogImage(state.entry)
    elif state.kind in (SourceKind.LOCAL, SourceKind.ISO) and state.image is not None:
        source = LocalImage(state.image.path)
    elif state.kind is SourceKind.VOLUME and state.volume is not None:
        source = ExistingVolume(state.volume.pool, state.volume.name)
    else:
        raise ValueError(f"no {state.kind.value} source chosen")
    disk = state.volume.capacity if state.volume is not None else state.disk_gib * GIB
    return ProvisionPlan(
        name=state.name,
        source=source,
        vcpus=state.vcpus,
        memory_mib=state.memory_mib,
        disk_bytes=disk,
        virt_type=state.virt_type,
        network=state.network,
        pool=state.pool,
        cloud_init=state.cloud_init if state.offers_cloud_init else None,
        osinfo=state.entry.osinfo if state.entry is not None else "",
        start=state.start,
    )


def build_batch(state: WizardState) -> BatchPlan:
    """The batch for the wizard's choices (``count`` guests named by ``name_pattern``).

    Raises:
        ValueError: the state lacks a source, or its source cannot make a batch.
        ValidationError: a bad pattern or count (the resources page prevents both).
    """
    template = build_request(state)
    if not isinstance(template, ProvisionPlan) or not state.offers_batch:
        raise ValueError(f"a batch cannot be made from {state.source_text()}")
    return make_batch(
        template,
        state.name_pattern,
        state.count,
        state.guest_uris(),
        keep_finished=state.keep_finished,
    )


def steps_for(request: Request) -> tuple[Step, ...]:
    """The steps the engine reports for ``request``, in order."""
    if isinstance(request, CloneRequest):
        return (Step.VALIDATE, Step.OVERLAY, Step.SEED, Step.DEFINE, Step.START)
    return PROVISION_STEPS


def unique_name(stem: str, taken: Iterable[str]) -> str:
    """``stem`` made a valid guest name, with "-2", "-3", ... until no name in ``taken``."""
    clean = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip("-.")[:56]
    clean = clean or "guest"
    used = set(taken)
    if clean not in used:
        return clean
    n = 2
    while f"{clean}-{n}" in used:
        n += 1
    return f"{clean}-{n}"


class GuestEngine(Protocol):
    """Makes guests on one host: the provisioning engine and linked clones."""

    async def provision(
        self, plan: ProvisionPlan, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        """Create (and maybe start) the guest ``plan`` describes; transactional."""
        ...

    async def clone(
        self, request: CloneRequest, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        """Make a linked clone of a template; transactional."""
        ...


EngineFactory = Callable[[HostConnection], GuestEngine]


class BatchEngine(Protocol):
    """Makes batches of guests (see :class:`~vmgui.virt.batch.BatchProvisioner`)."""

    def start(self, plan: BatchPlan, progress: BatchProgressCallback | None = None) -> BatchRun:
        """A run of ``plan``; awaiting its ``execute()`` makes the guests (all or none)."""
        ...


BatchEngineFactory = Callable[[Mapping[str, HostConnection]], BatchEngine]


def default_batch_engine(hosts: Mapping[str, HostConnection]) -> BatchEngine:
    """The real batch engine over ``hosts`` (the default downloader and stream uploader)."""
    return BatchProvisioner(hosts)


class DefaultEngine:
    """The real engine: :class:`~vmgui.virt.provision.Provisioner` and template clones.

    Args:
        host: the target host.
        provisioner: the provisioning engine (default: one with the default downloader
            and the libvirt stream uploader).
    """

    def __init__(self, host: HostConnection, provisioner: Provisioner | None = None) -> None:
        self.host = host
        self.provisioner = provisioner or Provisioner(host)

    async def provision(
        self, plan: ProvisionPlan, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        """See :meth:`GuestEngine.provision`."""
        return await self.provisioner.provision(plan, progress)

    async def clone(
        self, request: CloneRequest, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        """See :meth:`GuestEngine.clone`."""
        return await clone_from_template(
            self.host,
            request.template_uuid,
            request.name,
            cloud_init=request.cloud_init,
            start=request.start,
            progress=progress,
            uploader=self.provisioner.uploader,
        )
