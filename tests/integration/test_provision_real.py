"""Provisioning end to end on the real daemon (qemu:///system) with the tiny guest.

An HTTP server on 127.0.0.1 serves tiny.qcow2 and a SHA256SUMS file; a catalog entry points at
it. Guests are ``vmgui-pv-*`` (emulated, 256 MiB) in a dedicated pool ``vmgui-prov-it``;
everything is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import pytest

from tests.imageserver import ImageServer
from tests.labclean import remove_lab
from vmgui.core.catalog import CatalogEntry, Checksum, ImageFormat
from vmgui.core.cloudinit import CloudInitConfig, hash_password
from vmgui.core.provisioning import (
    PROVISION_STEPS,
    USER_NETWORK,
    CatalogImage,
    LocalImage,
    Progress,
    ProvisionError,
    ProvisionPlan,
    Step,
    VirtType,
)
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.download import Downloader
from vmgui.virt.events import ensure_event_loop
from vmgui.virt.provhost import base_volume_name
from vmgui.virt.provision import Provisioner
from vmgui.virt.storage import COMMIT_BYTES, create_volume_blocking
from vmgui.virt.templates import clone_from_template, set_template

pytestmark = pytest.mark.integration

Run = Callable[..., Any]
T = TypeVar("T")
URI = "qemu:///system"
PREFIX = "vmgui-pv-"
POOL = "vmgui-prov-it"
POOL_PATH = Path("/var/lib/libvirt/images") / POOL
LOGS = Path("/var/lib/libvirt/images") / f"{POOL}-logs"
ROOT = Path(__file__).resolve().parents[2]
TINY = Path(os.environ.get("VMGUI_TINY_IMAGE", "/var/tmp/vmgui-tiny-guest/tiny.qcow2"))
READY = "VMGUI-TINY-GUEST-READY"


def _raw() -> libvirt.virConnect:
    ensure_event_loop()
    return libvirt.open(URI)


def cleanup(conn: libvirt.virConnect) -> None:
    """Remove every vmgui-pv-* guest, the test pool with its volumes, and the logs."""
    remove_lab(conn, PREFIX, POOL)
    shutil.rmtree(POOL_PATH, ignore_errors=True)
    shutil.rmtree(LOGS, ignore_errors=True)


@pytest.fixture(scope="module")
def tiny() -> Path:
    if not TINY.exists():
        subprocess.run(
            ["bash", str(ROOT / "tests/integration/tinyguest/build.sh"), str(TINY.parent)],
            check=True,
        )
    return TINY


@pytest.fixture(scope="module")
def lab(tiny: Path) -> Iterator[None]:
    """A clean slate before and after the module (fresh connections: libvirtd may restart)."""
    conn = _raw()
    cleanup(conn)
    conn.close()
    LOGS.mkdir(mode=0o755, parents=True)
    LOGS.chmod(0o755)
    yield
    conn = _raw()
    cleanup(conn)
    conn.close()


@pytest.fixture
def raw(lab: None) -> Iterator[libvirt.virConnect]:
    """A plain connection for the test's own checks."""
    conn = _raw()
    yield conn
    with contextlib.suppress(libvirt.libvirtError):
        conn.close()


@pytest.fixture(scope="module")
def server(tiny: Path) -> Iterator[ImageServer]:
    digest = hashlib.sha256(tiny.read_bytes()).hexdigest()
    sums = f"{'0' * 64}  other.qcow2\n{digest} *tiny.qcow2\n".encode()
    with ImageServer({"/images/tiny.qcow2": tiny, "/images/SHA256SUMS": sums}) as s:
        yield s


@pytest.fixture
def host(arun: Run, lab: None) -> Iterator[HostConnection]:
    conn = HostConnection(URI, NullObserver(), keepalive=None)
    arun(conn.connect())
    yield conn
    arun(conn.close())


def _entry(server: ImageServer) -> CatalogEntry:
    return CatalogEntry(
        "tiny",
        "Tiny test guest",
        url=server.url("/images/tiny.qcow2"),
        checksum=Checksum("sha256", url=server.url("/images/SHA256SUMS")),
        osinfo="http://debian.org/debian/12",
    )


def _plan(name: str, source: object, **kwargs: Any) -> ProvisionPlan:
    values: dict[str, Any] = {
        "name": name,
        "source": source,
        "vcpus": 1,
        "memory_mib": 256,
        "disk_bytes": 1 << 30,
        "virt_type": VirtType.QEMU,
        "network": USER_NETWORK,
        "pool": POOL,
        "pool_path": str(POOL_PATH),
        "cloud_init": CloudInitConfig(
            name.removeprefix(PREFIX),
            user="tester",
            password_hash=hash_password("not-this-one"),
            instance_id=f"iid-{name}-{uuid.uuid4().hex[:8]}",
        ),
        "serial_log": str(LOGS / f"{name}.log"),
        "graphics": False,
    }
    values.update(kwargs)
    return ProvisionPlan(**values)


def wait_for_marker(log: Path, timeout: float = 180.0) -> str:
    """The serial console text once the tiny guest printed its ready marker."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace")
        if READY in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"no {READY} in {log} after {timeout} s:\n{text}")


def _seed_block(text: str) -> str:
    return text.split("VMGUI-SEED-BEGIN", 1)[1].split("VMGUI-SEED-END", 1)[0]


def _leftovers(conn: libvirt.virConnect, names: set[str]) -> tuple[set[str], set[str]]:
    domains = {d.name() for d in conn.listAllDomains(0)} & names
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh(0)
    volumes = {v for v in pool.listVolumes() if not v.startswith("vmgui-base-")}
    return domains, volumes


def _bases(conn: libvirt.virConnect) -> set[str]:
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh(0)
    return {v for v in pool.listVolumes() if v.startswith("vmgui-base-")}


def test_catalog_image_to_running_guest(
    arun: Run, host: HostConnection, server: ImageServer, raw: libvirt.virConnect, tmp_path: Path
) -> None:
    server.cut_once("/images/tiny.qcow2")
    engine = Provisioner(host, downloader=Downloader(tmp_path / "cache"))
    reports: list[Progress] = []
    plan = _plan(f"{PREFIX}e2e", CatalogImage(_entry(server)))
    result = arun(engine.provision(plan, reports.append), timeout=300)

    ranges = [r for p, r in server.requests if p == "/images/tiny.qcow2"]
    assert len(ranges) == 2 and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert [t.step for t in result.timings] == list(PROVISION_STEPS)
    assert all(t.note == "" for t in result.timings if t.step is not Step.POOL)
    assert any(r.step is Step.UPLOAD and r.done_bytes > 0 for r in reports)
    assert result.virt_type == "qemu" and result.started

    dom = raw.lookupByName(plan.name)
    assert dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert dom.maxMemory() == 256 * 1024
    vol = raw.storageVolLookupByPath(result.disk_path)
    assert f"<path>{result.base_path}</path>" in vol.XMLDesc(0)
    assert vol.info()[1] == 1 << 30
    text = wait_for_marker(LOGS / f"{plan.name}.log")
    assert plan.cloud_init is not None
    seed = _seed_block(text)
    assert f'"instance-id": "{plan.cloud_init.instance_id}"' in seed
    assert '"local-hostname": "e2e"' in seed

    second = arun(
        engine.provision(_plan(f"{PREFIX}e2e2", CatalogImage(_entry(server)), start=False))
    )
    notes = {t.step: t.note for t in second.timings}
    assert notes[Step.DOWNLOAD] == "cached" and notes[Step.UPLOAD] == "reused"
    assert notes[Step.START] == "skipped" and second.base_path == result.base_path


class FailAfter:
    """Runs a step, then fails (or cancels) after ``step``."""

    def __init__(self, step: Step, cancel: bool = False) -> None:
        self.step = step
        self.cancel = cancel

    async def __call__(self, step: Step, run: Callable[[], Awaitable[T]]) -> T:
        result = await run()
        if step is self.step:
            if self.cancel:
                raise asyncio.CancelledError
            raise RuntimeError(f"injected failure after {step.value}")
        return result


@pytest.mark.parametrize(
    ("step", "cancel"),
    [
        (Step.OVERLAY, False),
        (Step.SEED, False),
        (Step.DEFINE, False),
        (Step.START, False),
        (Step.START, True),
    ],
)
def test_rollback_after_each_step(
    arun: Run, host: HostConnection, raw: libvirt.virConnect, tiny: Path, step: Step, cancel: bool
) -> None:
    name = f"{PREFIX}rb-{step.value}"
    engine = Provisioner(host, step_runner=FailAfter(step, cancel))
    if cancel:
        with pytest.raises(asyncio.CancelledError):
            arun(engine.provision(_plan(name, LocalImage(tiny))))
    else:
        with pytest.raises(ProvisionError) as info:
            arun(engine.provision(_plan(name, LocalImage(tiny))))
        assert info.value.step is step and info.value.left_behind == ()
    before = {f"{PREFIX}e2e", f"{PREFIX}e2e2"}
    domains, volumes = _leftovers(raw, {name})
    assert domains == set()
    assert not any(v.startswith(name) for v in volumes), volumes
    assert {v for v in volumes if not any(v.startswith(b) for b in before)} == set()
    assert _bases(raw)  # the base image stays for reuse


def test_failed_upload_leaves_no_base(
    arun: Run, host: HostConnection, raw: libvirt.virConnect, tmp_path: Path
) -> None:
    image = tmp_path / "other.qcow2"
    shutil.copyfile(TINY, image)
    with image.open("ab") as handle:
        handle.write(b"\x00" * (8 << 20))  # a different image: a new base volume
    bases = _bases(raw)

    def explode(report: Progress) -> None:
        if report.step is Step.UPLOAD and report.done_bytes > 0:
            raise RuntimeError("injected failure during the upload")

    name = f"{PREFIX}rb-upload"
    with pytest.raises(ProvisionError) as info:
        arun(Provisioner(host).provision(_plan(name, LocalImage(image)), explode))
    assert info.value.step is Step.UPLOAD
    assert _bases(raw) == bases
    domains, volumes = _leftovers(raw, {name})
    assert domains == set() and not any(v.startswith(name) for v in volumes)


def test_incomplete_base_is_replaced(
    arun: Run, host: HostConnection, raw: libvirt.virConnect, tmp_path: Path
) -> None:
    image = tmp_path / "third.qcow2"
    shutil.copyfile(TINY, image)
    with image.open("ab") as handle:
        handle.write(b"\x01" * 4096)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    base = base_volume_name("third", digest, ImageFormat.QCOW2)
    arun(
        host.call(
            lambda c: create_volume_blocking(c, POOL, base, image.stat().st_size, "raw"), "mk"
        )
    )  # as an interrupted upload leaves it: all zeros
    name = f"{PREFIX}incomplete"
    result = arun(Provisioner(host).provision(_plan(name, LocalImage(image), start=False)))
    assert result.timing(Step.UPLOAD).note == ""
    assert Path(result.base_path).name == base
    with open(result.base_path, "rb") as handle:
        assert handle.read(COMMIT_BYTES)[:4] == b"QFI\xfb"


def test_linked_clone_of_a_template_boots(
    arun: Run, host: HostConnection, raw: libvirt.virConnect, tiny: Path
) -> None:
    made = arun(Provisioner(host).provision(_plan(f"{PREFIX}tpl", LocalImage(tiny), start=False)))
    arun(set_template(host, made.uuid, True))
    clone = arun(clone_from_template(host, made.uuid, f"{PREFIX}clone", start=True), timeout=120)
    assert clone.started and clone.base_path == made.disk_path
    vol = raw.storageVolLookupByPath(clone.disk_path)
    assert f"<path>{made.disk_path}</path>" in vol.XMLDesc(0)
    dom = raw.lookupByName(f"{PREFIX}clone")
    assert dom.isActive()
    # The clone's console has no log (logs are per guest): read it through a pty-less check.
    assert "<log" not in dom.XMLDesc(0)


def test_cli_end_to_end(raw: libvirt.virConnect, tiny: Path, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("cli-secret\n")
    name = f"{PREFIX}cli"
    log = LOGS / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        "vmgui.cli",
        "provision",
        "--connect",
        URI,
        "--image",
        str(tiny),
        "--name",
        name,
        "--vcpus",
        "1",
        "--memory",
        "256",
        "--disk",
        "1",
        "--virt-type",
        "qemu",
        "--network",
        "user",
        "--pool",
        POOL,
        "--pool-path",
        str(POOL_PATH),
        "--user",
        "tester",
        "--password-file",
        str(password),
        "--ssh-key",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx tester@vmgui",
        "--serial-log",
        str(log),
        "--no-graphics",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for step in PROVISION_STEPS:
        assert any(line.startswith(step.value) and line.endswith(("s", ")")) for line in lines)
    assert f"{name} (" in lines[-1] and "running" in lines[-1]
    seed_text = _seed_block(wait_for_marker(log))
    assert '"local-hostname": "vmgui-pv-cli"' in seed_text
    assert '"instance-id": "iid-vmgui-pv-cli-' in seed_text
    seed = raw.storageVolLookupByPath(str(POOL_PATH / f"{name}-seed.iso"))
    assert seed.info()[1] > 0

    again = subprocess.run(
        [*argv, "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 1 and again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1
    assert "already exists" in again.stderr and "step validate" in again.stderr

    defined = subprocess.run(
        [*argv[:-1], "--name", f"{PREFIX}cli2", "--no-start", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert defined.returncode == 0, defined.stderr
    data = json.loads(defined.stdout)
    assert data["started"] is False and set(data["timings"]) == {s.value for s in PROVISION_STEPS}
    assert data["notes"]["upload"] == "reused"
