"""The provisioning engine on libvirt's test driver: validation, overlays, seeds, rollback.

The test driver creates volumes (with ``<backingStore>``) and defines and "starts" domains, but
has no stream upload: these tests pass an uploader that only creates the volume. The real
stream upload is covered by tests/integration/test_provision_real.py.
"""

from __future__ import annotations

import asyncio
import io
import struct
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import pycdlib
import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import CreateOnlyUploader
from vmgui.core.catalog import CatalogEntry, Checksum
from vmgui.core.cloudinit import CloudInitConfig, hash_password
from vmgui.core.provisioning import (
    PROVISION_STEPS,
    CatalogImage,
    ExistingVolume,
    LocalImage,
    Progress,
    ProvisionError,
    ProvisionPlan,
    SeedDevice,
    Step,
    VirtType,
)
from vmgui.core.xml.domain import parse_domain_xml
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.download import DownloadedImage, Downloader, TransferProgress
from vmgui.virt.opening import open_connection
from vmgui.virt.provision import Provisioner
from vmgui.virt.storage import StreamUploader, create_volume_blocking
from vmgui.virt.templates import clone_from_template, set_template

Run = Callable[..., Any]
T = TypeVar("T")
POOL = "default-pool"


class FailAfter:
    """A step runner that runs the step, then fails (or cancels) after ``step``."""

    def __init__(self, step: Step, cancel: bool = False) -> None:
        self.step = step
        self.cancel = cancel
        self.seen: list[Step] = []

    async def __call__(self, step: Step, run: Callable[[], Awaitable[T]]) -> T:
        self.seen.append(step)
        result = await run()
        if step is self.step:
            if self.cancel:
                raise asyncio.CancelledError
            raise RuntimeError(f"injected failure after {step.value}")
        return result


class FixedDownloader(Downloader):
    """Returns a prepared file as if it had been downloaded and verified."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.parent)
        self.path = path

    async def fetch(
        self,
        entry: CatalogEntry,
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> DownloadedImage:
        if progress is not None:
            progress(TransferProgress("download", 10, 10, 5.0, 0.0))
        return DownloadedImage(self.path, "sha256", "f" * 64, self.path.stat().st_size, True)


def _qcow2(path: Path, virtual_size: int = 1 << 30) -> Path:
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 24, virtual_size)
    path.write_bytes(bytes(header))
    return path


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    conn = HostConnection(fixture_uri(), NullObserver(), keepalive=None)
    arun(conn.connect())
    yield conn
    arun(conn.close())


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return _qcow2(tmp_path / "tiny.qcow2")


def _plan(source: object, name: str = "vmgui-pv-new", **kwargs: Any) -> ProvisionPlan:
    values: dict[str, Any] = {
        "name": name,
        "source": source,
        "vcpus": 1,
        "memory_mib": 256,
        "disk_bytes": 2 << 30,
        "virt_type": VirtType.QEMU,
        "pool": POOL,
        "cloud_init": CloudInitConfig(
            "new", user="alice", password_hash=hash_password("pw"), instance_id="iid-1"
        ),
        "graphics": False,
    }
    values.update(kwargs)
    return ProvisionPlan(**values)


def _state(arun: Run, host: HostConnection) -> tuple[set[str], set[str]]:
    def read(conn: libvirt.virConnect) -> tuple[set[str], set[str]]:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        return {d.name() for d in conn.listAllDomains(0)}, set(pool.listVolumes())

    result: tuple[set[str], set[str]] = arun(host.call(read, "state"))
    return result


def _xml(arun: Run, host: HostConnection, name: str) -> str:
    xml: str = arun(host.call(lambda c: c.lookupByName(name).XMLDesc(0), "xml"))
    return xml


def test_provision_from_local_image(arun: Run, host: HostConnection, image: Path) -> None:
    uploader = CreateOnlyUploader()
    reports: list[Progress] = []
    engine = Provisioner(host, uploader=uploader)
    result = arun(engine.provision(_plan(LocalImage(image)), reports.append))

    assert [t.step for t in result.timings] == list(PROVISION_STEPS)
    assert result.timing(Step.DOWNLOAD).note == "local"
    assert result.started and result.virt_type == "qemu"
    assert result.base_path.endswith(".qcow2") and "vmgui-base-tiny-" in result.base_path
    assert [u[0] for u in uploader.uploads] == [
        Path(result.base_path).name,
        "vmgui-pv-new-seed.iso",
    ]
    assert {r.step for r in reports} == set(PROVISION_STEPS)
    domains, volumes = _state(arun, host)
    assert "vmgui-pv-new" in domains
    assert {"vmgui-pv-new.qcow2", "vmgui-pv-new-seed.iso", Path(result.base_path).name} <= volumes

    vol_xml: str = arun(
        host.call(lambda c: c.storageVolLookupByPath(result.disk_path).XMLDesc(0), "vol")
    )
    vol = ET.fromstring(vol_xml)
    assert vol.findtext("backingStore/path") == result.base_path
    assert vol.findtext("capacity") == str(2 << 30)
    details = parse_domain_xml(_xml(arun, host, "vmgui-pv-new"))
    assert details.domain_type == "qemu"
    assert [(d.target, d.path, d.readonly) for d in details.disks] == [
        ("vda", result.disk_path, False),
        ("vdb", result.seed_path, True),
    ]

    again = arun(engine.provision(_plan(LocalImage(image), name="vmgui-pv-second")))
    assert again.timing(Step.UPLOAD).note == "reused"
    assert again.base_path == result.base_path
    assert len(uploader.uploads) == 3  # the base was not uploaded twice


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("", ("vnc", {"type": "none"})),  # this machine: libvirt's socket, no TCP port
        (
            "test+ssh://host.example/default",
            ("vnc", {"type": "address", "address": "127.0.0.1"}),
        ),  # a tunnel's port
    ],
)
def test_the_vnc_display_follows_the_host(
    arun: Run, image: Path, uri: str, expected: tuple[str, dict[str, str]]
) -> None:
    host = HostConnection(
        uri or fixture_uri(),
        NullObserver(),
        keepalive=None,
        opener=lambda _u: open_connection(fixture_uri()),
    )
    arun(host.connect())
    try:
        arun(
            Provisioner(host, uploader=CreateOnlyUploader()).provision(
                _plan(LocalImage(image), graphics=True, start=False), lambda _r: None
            )
        )
        graphics = ET.fromstring(_xml(arun, host, "vmgui-pv-new")).findall("devices/graphics")
    finally:
        arun(host.close())
    assert [(g.get("type"), g[0].attrib) for g in graphics] == [expected]
    if uri:
        assert graphics[0].get("listen") == "127.0.0.1" and graphics[0].get("autoport") == "yes"


def test_catalog_image_and_cdrom_seed(arun: Run, host: HostConnection, image: Path) -> None:
    entry = CatalogEntry(
        "tiny",
        "Tiny",
        url="http://127.0.0.1:1/tiny.qcow2",
        checksum=Checksum("sha256", "f" * 64),
        osinfo="http://debian.org/debian/12",
    )
    engine = Provisioner(host, uploader=CreateOnlyUploader(), downloader=FixedDownloader(image))
    plan = _plan(CatalogImage(entry), seed_device=SeedDevice.CDROM, network="isolated")
    result = arun(engine.provision(plan))
    assert result.timing(Step.DOWNLOAD).note == "cached"
    details = parse_domain_xml(_xml(arun, host, "vmgui-pv-new"))
    assert details.osinfo_id == "http://debian.org/debian/12"
    assert [(d.device, d.bus) for d in details.disks] == [("disk", "virtio"), ("cdrom", "sata")]
    assert details.nics[0].source == "isolated"


def _assert_error(arun: Run, host: HostConnection, plan: ProvisionPlan, *words: str) -> None:
    before = _state(arun, host)
    engine = Provisioner(host, uploader=CreateOnlyUploader())
    with pytest.raises(ProvisionError) as info:
        arun(engine.provision(plan))
    text = str(info.value)
    assert info.value.step is Step.VALIDATE, text
    assert "step validate" in text
    for word in words:
        assert word in text
    assert _state(arun, host) == before


def test_validation_errors(arun: Run, host: HostConnection, image: Path, tmp_path: Path) -> None:
    src = LocalImage(image)
    _assert_error(arun, host, _plan(src, name="bad name"), "Name may only contain")
    _assert_error(arun, host, _plan(src, name="guest-01"), "already exists")
    _assert_error(arun, host, _plan(src, vcpus=64), "host has 16 CPUs")
    _assert_error(arun, host, _plan(src, memory_mib=1 << 20), "host's memory")
    _assert_error(arun, host, _plan(src, disk_bytes=512 << 20), "smaller than the image")
    _assert_error(arun, host, _plan(src, network="nope"), "no network 'nope'")
    _assert_error(arun, host, _plan(src, pool="nope"), "no storage pool 'nope'")
    _assert_error(arun, host, _plan(src, virt_type=VirtType.KVM), "no hardware virtualisation")
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is text\n" * 8192)  # 512-byte sectors of text
    _assert_error(arun, host, _plan(LocalImage(text)), "not a disk image", "text")


def test_volume_name_taken(arun: Run, host: HostConnection, image: Path) -> None:
    arun(host.call(lambda c: create_volume_blocking(c, POOL, "vmgui-pv-x.qcow2", 1, "raw"), "mk"))
    _assert_error(arun, host, _plan(LocalImage(image), name="vmgui-pv-x"), "already has a volume")


@pytest.mark.parametrize("step", [Step.OVERLAY, Step.SEED, Step.DEFINE, Step.START])
@pytest.mark.parametrize("cancel", [False, True])
def test_rollback_after_each_step(
    arun: Run, host: HostConnection, image: Path, step: Step, cancel: bool
) -> None:
    domains, volumes = _state(arun, host)
    runner = FailAfter(step, cancel)
    engine = Provisioner(host, uploader=CreateOnlyUploader(), step_runner=runner)
    if cancel:
        with pytest.raises(asyncio.CancelledError):
            arun(engine.provision(_plan(LocalImage(image))))
    else:
        with pytest.raises(ProvisionError) as info:
            arun(engine.provision(_plan(LocalImage(image))))
        assert info.value.step is step
        assert f"step {step.value}" in info.value.summary
        assert info.value.left_behind == ()
    assert runner.seen[-1] is step
    after_domains, after_volumes = _state(arun, host)
    assert after_domains == domains
    new = after_volumes - volumes
    assert len(new) == 1 and next(iter(new)).startswith("vmgui-base-tiny-")  # the base stays


def test_stream_upload_unsupported_leaves_nothing(
    arun: Run, host: HostConnection, image: Path
) -> None:
    before = _state(arun, host)
    engine = Provisioner(host, uploader=StreamUploader())
    with pytest.raises(ProvisionError) as info:
        arun(engine.provision(_plan(LocalImage(image))))
    assert info.value.step is Step.UPLOAD
    assert "not supported" in str(info.value)
    assert _state(arun, host) == before


def test_pool_full(arun: Run, host: HostConnection, tmp_path: Path) -> None:
    huge = tmp_path / "huge.img"
    with huge.open("wb") as handle:
        handle.write(b"\xeb\x3c\x90" + b"\x00" * 509)
        handle.truncate(200 << 30)  # sparse: larger than the test pool
    entry = CatalogEntry("huge", "Huge", url="http://x/huge.img", checksum=Checksum("sha256", ""))
    before = _state(arun, host)
    engine = Provisioner(host, uploader=CreateOnlyUploader(), downloader=FixedDownloader(huge))
    with pytest.raises(ProvisionError) as info:
        arun(engine.provision(_plan(CatalogImage(entry), disk_bytes=300 << 30)))
    assert info.value.step is Step.POOL
    assert "is full" in info.value.summary
    assert _state(arun, host) == before


def test_pool_is_created_when_missing(arun: Run, host: HostConnection, image: Path) -> None:
    engine = Provisioner(host, uploader=CreateOnlyUploader())
    plan = _plan(LocalImage(image), pool="vmgui-new-pool", pool_path="/srv/vmgui-new-pool")
    result = arun(engine.provision(plan, None))
    assert result.timing(Step.POOL).note == "created"
    assert result.disk_path.startswith("/srv/vmgui-new-pool/")


def test_import_flow_keeps_the_volume(arun: Run, host: HostConnection) -> None:
    source = ExistingVolume(POOL, "guest-01.qcow2")
    engine = Provisioner(host, uploader=CreateOnlyUploader(), step_runner=FailAfter(Step.START))
    with pytest.raises(ProvisionError):
        arun(engine.provision(_plan(source)))
    _domains, volumes = _state(arun, host)
    assert "guest-01.qcow2" in volumes and "vmgui-pv-new-seed.iso" not in volumes
    result = arun(Provisioner(host, uploader=CreateOnlyUploader()).provision(_plan(source)))
    assert result.timing(Step.OVERLAY).note == "existing volume"
    assert result.disk_path == "/var/lib/libvirt/images/guest-01.qcow2"
    assert parse_domain_xml(_xml(arun, host, "vmgui-pv-new")).disks[0].driver_type == "qcow2"


def _iso(path: Path) -> Path:
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="INSTALL")
    data = b"x" * 100_000
    iso.add_fp(io.BytesIO(data), len(data), "/DATA.;1")
    iso.write(str(path))
    iso.close()
    return path


def test_iso_flow(arun: Run, host: HostConnection, tmp_path: Path) -> None:
    iso = _iso(tmp_path / "installer.iso")
    engine = Provisioner(host, uploader=CreateOnlyUploader())
    result = arun(engine.provision(_plan(LocalImage(iso), cloud_init=None, start=False)))
    assert result.base_path.endswith(".iso") and not result.seed_path and not result.started
    assert result.timing(Step.OVERLAY).note == "blank disk"
    vol_xml: str = arun(
        host.call(lambda c: c.storageVolLookupByPath(result.disk_path).XMLDesc(0), "vol")
    )
    assert ET.fromstring(vol_xml).find("backingStore/path") is None
    root = ET.fromstring(_xml(arun, host, "vmgui-pv-new"))
    boots = {
        d.get("device"): d.find("boot").get("order")  # type: ignore[union-attr]
        for d in root.iterfind("devices/disk")
    }
    assert boots == {"cdrom": "1", "disk": "2"}


def test_templates_and_linked_clones(arun: Run, host: HostConnection, image: Path) -> None:
    engine = Provisioner(host, uploader=CreateOnlyUploader())
    made = arun(engine.provision(_plan(LocalImage(image), name="vmgui-pv-tpl", start=False)))
    with pytest.raises(ProvisionError, match="not a template"):
        arun(clone_from_template(host, made.uuid, "vmgui-pv-c1"))
    arun(set_template(host, made.uuid, True))
    assert parse_domain_xml(_xml(arun, host, "vmgui-pv-tpl")).vmgui_template

    before = _state(arun, host)
    clone = arun(clone_from_template(host, made.uuid, "vmgui-pv-c1", start=True))
    assert clone.started and clone.base_path == made.disk_path
    details = parse_domain_xml(_xml(arun, host, "vmgui-pv-c1"))
    template = parse_domain_xml(_xml(arun, host, "vmgui-pv-tpl"))
    assert not details.vmgui_template and details.uuid != template.uuid
    assert details.nics[0].mac != template.nics[0].mac
    assert details.disks[0].path == clone.disk_path
    assert details.disks[1].path == made.seed_path  # the read-only seed is shared
    vol_xml: str = arun(
        host.call(lambda c: c.storageVolLookupByPath(clone.disk_path).XMLDesc(0), "vol")
    )
    assert ET.fromstring(vol_xml).findtext("backingStore/path") == made.disk_path
    _domains, volumes = _state(arun, host)
    assert volumes - before[1] == {"vmgui-pv-c1-vda.qcow2"}

    with pytest.raises(ProvisionError, match="already exists"):
        arun(clone_from_template(host, made.uuid, "vmgui-pv-c1"))
    seeded = arun(
        clone_from_template(
            host,
            made.uuid,
            "vmgui-pv-c2",
            cloud_init=CloudInitConfig("c2"),
            uploader=CreateOnlyUploader(),
        )
    )
    assert seeded.seed_path.endswith("vmgui-pv-c2-seed.iso")
    assert parse_domain_xml(_xml(arun, host, "vmgui-pv-c2")).disks[1].path == seeded.seed_path

    arun(host.call(lambda c: c.lookupByUUIDString(made.uuid).create(), "start"))
    with pytest.raises(ProvisionError, match="running"):
        arun(clone_from_template(host, made.uuid, "vmgui-pv-c3"))
    arun(set_template(host, made.uuid, False))
    assert not parse_domain_xml(_xml(arun, host, "vmgui-pv-tpl")).vmgui_template


def test_clone_rollback(arun: Run, host: HostConnection, image: Path) -> None:
    engine = Provisioner(host, uploader=CreateOnlyUploader())
    made = arun(engine.provision(_plan(LocalImage(image), name="vmgui-pv-tpl", start=False)))
    arun(set_template(host, made.uuid, True))
    before = _state(arun, host)
    with pytest.raises(ProvisionError) as info:
        arun(
            clone_from_template(
                host,
                made.uuid,
                "vmgui-pv-c1",
                uploader=StreamUploader(),
                cloud_init=CloudInitConfig("c1"),
            )
        )
    assert info.value.step is Step.SEED
    assert _state(arun, host) == before


class CancellingHost(HostConnection):
    """Cancels :attr:`target` while a call whose summary starts with ``prefix`` runs."""

    def __init__(self, uri: str, prefix: str) -> None:
        super().__init__(uri, NullObserver(), keepalive=None)
        self.prefix = prefix
        self.target: asyncio.Task[Any] | None = None
        self.fired = False

    async def call(
        self, fn: Callable[[libvirt.virConnect], T], summary: str, *, slow: bool = False
    ) -> T:
        if summary.startswith(self.prefix) and not self.fired and self.target is not None:
            self.fired = True
            asyncio.get_running_loop().call_soon(self.target.cancel)
        return await super().call(fn, summary, slow=slow)


@pytest.mark.parametrize(
    "prefix", ["Could not create the disk", "Could not define", "Could not create volume"]
)
def test_cancel_while_a_creating_call_runs(arun: Run, image: Path, prefix: str) -> None:
    host = CancellingHost(fixture_uri(), prefix)
    arun(host.connect())
    uploader = StreamUploader() if prefix == "Could not create volume" else None
    engine = Provisioner(host, uploader=uploader or CreateOnlyUploader())

    async def provision_and_cancel() -> None:
        task = asyncio.ensure_future(engine.provision(_plan(LocalImage(image))))
        host.target = task
        await task

    try:
        before = _state(arun, host)
        with pytest.raises(asyncio.CancelledError):
            arun(provision_and_cancel())
        assert host.fired
        domains, volumes = _state(arun, host)
        assert domains == before[0]
        assert {v for v in volumes - before[1] if not v.startswith("vmgui-base-")} == set()
        if uploader is not None:
            assert volumes == before[1]  # the half-made base is gone too
    finally:
        arun(host.close())
