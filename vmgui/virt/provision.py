"""The provisioning engine: a running guest from an OS image, on any libvirt host.

One run (:meth:`Provisioner.provision`) goes through the :class:`~vmgui.core.provisioning.Step`
s in order: validate → download → pool → upload → overlay → seed → define → start. Every libvirt
call goes through the host's worker (:meth:`HostConnection.call`), so this works on remote hosts
and never blocks the asyncio loop. Progress reports arrive on the loop's thread.

Transactional (:class:`~vmgui.virt.transaction.Transaction`): if any step fails, or the awaiting
task is cancelled, every volume and domain the run created is removed (the base image stays: it
is a cache shared by guests), then the error (:class:`ProvisionError`, naming the step) or the
cancellation propagates.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from vmgui.core.batch import GUEST_HEADROOM
from vmgui.core.catalog import ImageFormat, ImageInfo, read_image_info
from vmgui.core.cloudinit import build_seed_iso, seed_files
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import (
    DEFAULT_POOL,
    DEFAULT_POOL_PATH,
    PROVISION_STEPS,
    USER_NETWORK,
    CatalogImage,
    DomainFacts,
    ExistingVolume,
    GuestPaths,
    LocalImage,
    ProgressCallback,
    ProvisionPlan,
    ProvisionResult,
    Step,
    TransferMeter,
    domain_spec_for,
)
from vmgui.core.provrules import check_field, choose_virt_type
from vmgui.core.units import format_bytes
from vmgui.core.validation import (
    validate_guest_name,
    validate_memory_mib,
    validate_vcpus,
)
from vmgui.core.xml.build import domain_xml
from vmgui.core.xml.display import vnc_listen_for
from vmgui.core.xml.domain import seed_volume_name
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader, TransferProgress, hash_file
from vmgui.virt.provhost import (
    HostFacts,
    base_volume_name,
    define_blocking,
    host_facts_blocking,
    start_blocking,
)
from vmgui.virt.storage import (
    StreamUploader,
    Uploader,
    create_volume_blocking,
    delete_volume_blocking,
    ensure_pool_blocking,
    find_volume_blocking,
)
from vmgui.virt.transaction import StepFn, StepRunner, Transaction

_log = logging.getLogger(__name__)

_MIN_DISK = 1 << 20


class Provisioner:
    """Makes guests on one host.

    Args:
        host: a connected host.
        downloader: fetches catalog images (default: the XDG cache, the network).
        uploader: puts images and seeds into volumes (default: libvirt stream upload).
        step_runner: wraps every step (default
            :func:`~vmgui.virt.transaction.run_step`).
        clock: monotonic clock for timings.
    """

    def __init__(
        self,
        host: HostConnection,
        *,
        downloader: Downloader | None = None,
        uploader: Uploader | None = None,
        step_runner: StepRunner | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.host = host
        self.downloader = downloader or Downloader()
        self.uploader: Uploader = uploader or StreamUploader()
        self.step_runner = step_runner
        self.clock = clock

    async def provision(
        self, plan: ProvisionPlan, progress: ProgressCallback | None = None
    ) -> ProvisionResult:
        """Create (and by default start) the guest ``plan`` describes.

        Args:
            plan: what to make.
            progress: called on the loop's thread with every :class:`Progress`.

        Returns:
            What was made, with per-step timings.

        Raises:
            ProvisionError: a step failed (everything the run created is removed first;
                :attr:`ProvisionError.left_behind` lists what could not be).
            asyncio.CancelledError: the task was cancelled (after the same clean-up).
        """
        return await ProvisionRun(self, plan, progress).execute()


async def provision(
    host: HostConnection, plan: ProvisionPlan, progress: ProgressCallback | None = None
) -> ProvisionResult:
    """Run ``plan`` on ``host`` with the default engine (see :meth:`Provisioner.provision`)."""
    return await Provisioner(host).provision(plan, progress)


class ProvisionRun:
    """One provisioning run: its state and its steps, on a :class:`Transaction`.

    :meth:`Provisioner.provision` runs all steps; a batch (:mod:`vmgui.virt.batch`) runs the
    steps the guests share once per host and the guest steps per guest (:meth:`share`).

    Args:
        provisioner: the engine (host, downloader, uploader, clock).
        plan: what to make.
        progress: gets the run's reports.
        runner: wraps every step (default: the provisioner's).
    """

    def __init__(
        self,
        provisioner: Provisioner,
        plan: ProvisionPlan,
        progress: ProgressCallback | None,
        runner: StepRunner | None = None,
    ) -> None:
        self.host = provisioner.host
        self.downloader = provisioner.downloader
        self.uploader = provisioner.uploader
        self.clock = provisioner.clock
        self.plan = plan
        self.txn = Transaction(
            self.host,
            f"Could not create {plan.name}",
            progress,
            clock=provisioner.clock,
            runner=runner or provisioner.step_runner,
        )
        self.warnings: list[str] = []
        self.facts: HostFacts | None = None
        self.virt_type = plan.virt_type.value
        self.image: ImageInfo | None = None
        self.digest = ""
        self.pool_path = ""
        self.pool_available = 0
        self.base_path = ""
        self.base_reused = False
        self.disk_path = ""
        self.seed_path = ""
        self.uuid = ""
        self.start_seconds = 0.0
        self.local_path: Path | None = None
        if isinstance(plan.source, LocalImage):
            self.local_path = plan.source.path
        elif isinstance(plan.source, CatalogImage) and plan.source.entry.path:
            self.local_path = Path(plan.source.entry.path)  # a user's catalog entry for a file
        self.disk_name = f"{plan.name}.qcow2"
        self.seed_name = seed_volume_name(plan.name)

    async def execute(self) -> ProvisionResult:
        """Run every step (rolling back on failure or cancel); what was made."""
        await self.txn.run(self.steps(PROVISION_STEPS))
        return self.result()

    def steps(self, which: Sequence[Step]) -> list[tuple[Step, StepFn]]:
        """The run's steps ``which`` (members of :data:`PROVISION_STEPS`), for
        :meth:`Transaction.run <vmgui.virt.transaction.Transaction.run>` or
        :meth:`~vmgui.virt.transaction.Transaction.step`."""
        table: dict[Step, StepFn] = {
            Step.VALIDATE: self._validate,
            Step.DOWNLOAD: self._download,
            Step.POOL: self._pool,
            Step.UPLOAD: self._upload,
            Step.OVERLAY: self._overlay,
            Step.SEED: self._seed,
            Step.DEFINE: self._define,
            Step.START: self._start,
        }
        return [(step, table[step]) for step in which]

    def share(self, lead: ProvisionRun, *, host: bool) -> None:
        """Take what ``lead`` (a run of the same source) found, instead of running its steps.

        Args:
            lead: a run whose DOWNLOAD (and, with ``host``, VALIDATE, POOL and UPLOAD) is done.
            host: ``lead`` ran on this run's host: take its host facts, pool and base image
                too (this run then needs only OVERLAY, SEED, DEFINE and START).
        """
        self.image, self.digest = lead.image, lead.digest
        if host:
            self.facts, self.virt_type = lead.facts, lead.virt_type
            self.pool_path, self.pool_available = lead.pool_path, lead.pool_available
            self.base_path, self.base_reused = lead.base_path, lead.base_reused

    def result(self) -> ProvisionResult:
        """What the run made so far (its timings are the steps run)."""
        return ProvisionResult(
            host_uri=self.host.uri,
            name=self.plan.name,
            uuid=self.uuid,
            virt_type=self.virt_type,
            disk_path=self.disk_path,
            base_path=self.base_path,
            seed_path=self.seed_path,
            started=self.plan.start,
            timings=self.txn.timings,
            warnings=tuple(self.warnings),
            libvirt_start_seconds=self.start_seconds,
        )

    # -- steps ----------------------------------------------------------------------------

    async def _validate(self) -> str:
        plan = self.plan
        check_field(lambda: validate_guest_name(plan.name))
        if plan.disk_bytes < _MIN_DISK and not isinstance(plan.source, ExistingVolume):
            raise VmguiError("The disk is too small", f"{plan.disk_bytes} bytes; at least 1 MiB")
        if self.local_path is not None:
            self.image = await asyncio.to_thread(read_image_info, self.local_path)
            self._check_image(self.image)
        facts = await self.host.call(
            lambda c: host_facts_blocking(c, plan, (self.disk_name, self.seed_name)),
            f"Could not check the plan against {self.host.display_name}",
            slow=True,  # may read the capabilities
        )
        self.facts = facts
        if facts.name_taken:
            raise VmguiError(
                f"A guest named {plan.name!r} already exists on {self.host.display_name}",
                hint="Choose another name.",
            )
        check_field(lambda: validate_vcpus(plan.vcpus, host_cpus=facts.cpus))
        check_field(lambda: validate_memory_mib(plan.memory_mib, host_memory_kib=facts.memory_kib))
        self.virt_type = choose_virt_type(plan.virt_type, facts.arch, facts.virt_types)
        if plan.network != USER_NETWORK and facts.network_active is None:
            raise VmguiError(
                f"There is no network {plan.network!r} on {self.host.display_name}",
                hint="Choose one of the host's networks, or user-mode networking.",
            )
        if facts.pool_path is None and not self._pool_create_path():
            raise VmguiError(
                f"There is no storage pool {plan.pool!r} on {self.host.display_name}",
                hint="Choose an existing pool or give a path to create it at.",
            )
        if facts.taken_volumes:
            raise VmguiError(
                f"Pool {plan.pool!r} already has a volume named {facts.taken_volumes[0]}",
                hint="Choose another guest name, or delete the old volume.",
            )
        return ""

    def _check_image(self, info: ImageInfo) -> None:
        if info.backing_file:
            raise VmguiError(
                f"{info.path.name} depends on a backing file",
                hint="Flatten it first: qemu-img convert -O qcow2 in.qcow2 out.qcow2.",
            )
        if info.format is not ImageFormat.ISO and self.plan.disk_bytes < info.virtual_size:
            raise VmguiError(
                "The disk is smaller than the image",
                f"the image's disk is {format_bytes(info.virtual_size)}, "
                f"the guest's disk {format_bytes(self.plan.disk_bytes)}",
                f"Give the guest at least {format_bytes(info.virtual_size)}.",
            )

    def _pool_create_path(self) -> str:
        if self.plan.pool_path:
            return self.plan.pool_path
        return DEFAULT_POOL_PATH if self.plan.pool == DEFAULT_POOL else ""

    async def _download(self) -> str:
        source = self.plan.source
        if isinstance(source, ExistingVolume):
            return "skipped"
        if self.local_path is not None:
            assert self.image is not None
            path = self.local_path
            self.digest = await hash_file(path, "sha256", self._on_transfer)
            return "local"
        if isinstance(source, CatalogImage):
            downloaded = await self.downloader.fetch(source.entry, self._on_transfer)
            self.digest = downloaded.digest
            self.image = await asyncio.to_thread(read_image_info, downloaded.path)
            self._check_image(self.image)
            return "cached" if downloaded.cached else ""
        raise AssertionError(f"unknown source {source!r}")  # pragma: no cover

    def _on_transfer(self, p: TransferProgress) -> None:
        what = "Verifying" if p.phase == "verify" else "Downloading"
        self.txn.report(what, p.fraction, (p.done_bytes, p.total_bytes, p.speed, p.eta))

    async def _pool(self) -> str:
        plan = self.plan
        info = await self.host.call(
            lambda c: ensure_pool_blocking(c, plan.pool, self._pool_create_path()),
            f"Could not prepare storage pool {plan.pool!r}",
        )
        self.pool_path, self.pool_available = info.path, info.available
        need = GUEST_HEADROOM
        if self.image is not None:
            name = self._base_name()
            path = await self.host.call(
                lambda c: find_volume_blocking(c, plan.pool, name),
                f"Could not look for {name}",
            )
            if path is not None and await self.uploader.is_complete(self.host, path):
                self.base_path, self.base_reused = path, True
            elif path is not None:
                _log.warning("base volume %s is incomplete; replacing it", path)
                await self.host.call(lambda c: delete_volume_blocking(c, path), "delete")
            if not self.base_reused:
                need += self.image.file_size
        if info.available < need:
            raise VmguiError(
                f"Storage pool {plan.pool!r} is full",
                f"{format_bytes(info.available)} free, {format_bytes(need)} needed",
                "Free space in the pool or choose another pool.",
            )
        if plan.disk_bytes > info.available and not isinstance(plan.source, ExistingVolume):
            self.warnings.append(
                f"The disk ({format_bytes(plan.disk_bytes)}) is larger than the free space in "
                f"pool {plan.pool!r} ({format_bytes(info.available)}); it can fill up as the "
                "guest writes."
            )
        return "created" if info.created else ""

    def _base_name(self) -> str:
        assert self.image is not None
        source = self.plan.source
        stem = source.entry.id if isinstance(source, CatalogImage) else self.image.path.stem
        return base_volume_name(stem, self.digest, self.image.format)

    async def _upload(self) -> str:
        if self.image is None:
            return "skipped"
        if self.base_reused:
            return "reused"
        image = self.image
        meter = TransferMeter(image.file_size, self.clock)

        def on_progress(done: int, total: int) -> None:
            speed, eta = meter.update(done)
            self.txn.report("Uploading", done / total, (done, total, speed, eta))

        self.base_path = await self.uploader.upload(
            self.host,
            self.plan.pool,
            self._base_name(),
            image.path,
            image.format.volume_format,
            on_progress,
        )
        return ""

    async def _overlay(self) -> str:
        plan, source = self.plan, self.plan.source
        if isinstance(source, ExistingVolume):
            assert self.facts is not None
            self.disk_path = self.facts.import_path
            return "existing volume"
        assert self.image is not None
        iso = self.image.format is ImageFormat.ISO
        backing = "" if iso else self.base_path
        backing_fmt = self.image.format.volume_format
        name = self.disk_name
        self.disk_path = await self.txn.create_volume(
            lambda c: create_volume_blocking(
                c, plan.pool, name, plan.disk_bytes, "qcow2", backing, backing_fmt
            ),
            f"Could not create the disk {name}",
        )
        return "blank disk" if iso else ""

    async def _seed(self) -> str:
        config = self.plan.cloud_init
        if config is None:
            return "skipped"
        if not config.instance_id:  # a new instance: cloud-init runs its first-boot modules
            config = replace(config, instance_id=f"iid-{self.plan.name}-{secrets.token_hex(4)}")
        data = await asyncio.to_thread(lambda: build_seed_iso(seed_files(config)))
        self.seed_path = await self.uploader.upload(
            self.host, self.plan.pool, self.seed_name, data, "raw"
        )
        self.txn.created_volume(self.seed_path)
        return ""

    async def _define(self) -> str:
        plan, facts = self.plan, self.facts
        assert facts is not None
        existing = isinstance(plan.source, ExistingVolume)
        domain = DomainFacts(
            virt_type=self.virt_type,
            arch=facts.arch,
            disk_format=facts.import_format if existing else "qcow2",
            installer=self.image is not None and self.image.format is ImageFormat.ISO,
            vnc_listen=vnc_listen_for(self.host.uri),
        )
        paths = GuestPaths(self.disk_path, self.base_path, self.seed_path)
        xml = domain_xml(domain_spec_for(plan, domain, paths))
        network = "" if plan.network == USER_NETWORK else plan.network
        self.uuid = await self.txn.create_domain(
            lambda c: define_blocking(c, xml, network), f"Could not define {plan.name}", plan.name
        )
        return ""

    async def _start(self) -> str:
        if not self.plan.start:
            return "skipped"
        uuid = self.uuid
        self.start_seconds = await self.host.call(
            lambda c: start_blocking(c, uuid), f"Could not start {self.plan.name}"
        )
        self.host.request_refresh(uuid)
        return ""
