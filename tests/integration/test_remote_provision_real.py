"""Provisioning onto a remote pool, end to end, over ``qemu+ssh`` through the loopback sshd.

The host is the main libvirtd reached as the sshd's test user: every step (pool, the base
image's upload by libvirt stream, overlay, seed, define, start) is a libvirt call over ssh. The
guests are ``remote-pv-*`` in pool ``remote-prov-it``; a failure injected after a step, or
during the upload, leaves nothing of the run on the remote side. Everything is removed after
the module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import pytest

from tests.labclean import remove_lab
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.fixtures import tiny_image
from tests.services.secondhost import open_connection
from tests.services.sshd import LoopbackSshd
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.provisioning import (
    PROVISION_STEPS,
    USER_NETWORK,
    LocalImage,
    Progress,
    ProvisionError,
    ProvisionPlan,
    Step,
    VirtType,
)
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.provision import Provisioner

pytestmark = pytest.mark.integration

T = TypeVar("T")
Run = Callable[..., Any]
PREFIX = "remote-pv-"
POOL = "remote-prov-it"
POOL_PATH = Path("/var/lib/libvirt/images") / POOL
LOGS = Path("/var/lib/libvirt/images") / f"{POOL}-logs"
READY = "VMGUI-TINY-GUEST-READY"


def cleanup(conn: libvirt.virConnect) -> None:
    """Remove every remote-pv-* guest, the test pool with its volumes, and the logs."""
    remove_lab(conn, PREFIX, POOL)
    shutil.rmtree(POOL_PATH, ignore_errors=True)
    shutil.rmtree(LOGS, ignore_errors=True)


@pytest.fixture(scope="module")
def raw() -> Iterator[libvirt.virConnect]:
    """The main host, locally: to look at what the remote runs left (and clean up)."""
    if not tiny_image().is_file():
        pytest.skip(f"no tiny guest image at {tiny_image()}")
    conn = open_connection("qemu:///system")
    cleanup(conn)
    LOGS.mkdir(mode=0o755, parents=True)
    LOGS.chmod(0o755)
    try:
        yield conn
    finally:
        cleanup(conn)
        conn.close()


@pytest.fixture
def remote(
    arun: Run, raw: libvirt.virConnect, loopback_sshd: LoopbackSshd
) -> Iterator[HostConnection]:
    host = HostConnection(loopback_sshd.uri_ssh(), NullObserver(), keepalive=None)
    arun(host.connect())
    try:
        yield host
    finally:
        arun(host.close())


def plan(name: str, image: Path, **kwargs: Any) -> ProvisionPlan:
    values: dict[str, Any] = {
        "name": name,
        "source": LocalImage(image),
        "vcpus": 1,
        "memory_mib": 256,
        "disk_bytes": 1 << 30,
        "virt_type": VirtType.QEMU,
        "network": USER_NETWORK,
        "pool": POOL,
        "pool_path": str(POOL_PATH),
        "cloud_init": None,
        "serial_log": str(LOGS / f"{name}.log"),
        "graphics": False,
    }
    values.update(kwargs)
    return ProvisionPlan(**values)


def pool_volumes(conn: libvirt.virConnect) -> set[str]:
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh(0)
    return set(pool.listVolumes())


def wait_for_marker(log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace")
        if READY in text:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {READY} in {log} after {timeout} s:\n{text[-2000:]}")


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_cli_provisions_a_running_guest_over_ssh(
    raw: libvirt.virConnect, loopback_sshd: LoopbackSshd
) -> None:
    name = f"{PREFIX}cli"
    image = tiny_image()
    argv = [sys.executable, "-m", "vmgui.cli", "provision", "--connect", loopback_sshd.uri_ssh()]
    argv += ["--image", str(image), "--name", name, "--vcpus", "1", "--memory", "256"]
    argv += ["--disk", "1", "--virt-type", "qemu", "--network", "user", "--pool", POOL]
    argv += ["--pool-path", str(POOL_PATH), "--serial-log", str(LOGS / f"{name}.log")]
    argv += ["--no-graphics", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["timings"]) == {s.value for s in PROVISION_STEPS}
    assert "upload" not in result["notes"]  # uploaded now by stream: not "reused"
    assert result["started"] is True and result["host"] == loopback_sshd.uri_ssh()
    base = result["base"]
    assert Path(base).parent == POOL_PATH and sha256(base) == sha256(image)
    overlay = raw.storageVolLookupByPath(result["disk"])
    assert f"<path>{base}</path>" in overlay.XMLDesc(0)  # the overlay made there, on the base
    assert raw.lookupByName(name).isActive()
    wait_for_marker(LOGS / f"{name}.log")  # the guest runs


class FailAfter:
    """Runs a step, then fails after ``step``."""

    def __init__(self, step: Step) -> None:
        self.step = step

    async def __call__(self, step: Step, run: Callable[[], Awaitable[T]]) -> T:
        result = await run()
        if step is self.step:
            raise RuntimeError(f"injected failure after {step.value}")
        return result


@pytest.mark.parametrize("step", [Step.SEED, Step.START])
def test_rollback_leaves_nothing_remote(
    arun: Run, remote: HostConnection, raw: libvirt.virConnect, step: Step
) -> None:
    name = f"{PREFIX}rb-{step.value}"
    before = pool_volumes(raw) if POOL in raw.listStoragePools() else set()
    engine = Provisioner(remote, step_runner=FailAfter(step))
    with pytest.raises(ProvisionError) as info:
        arun(
            engine.provision(plan(name, tiny_image(), cloud_init=CloudInitConfig("rb"))),
            timeout=180,
        )
    assert info.value.step is step and info.value.left_behind == ()
    assert name not in {d.name() for d in raw.listAllDomains(0)}
    left = pool_volumes(raw) - before
    assert not any(v.startswith(name) for v in left), left
    assert {v for v in left if not v.startswith("vmgui-base-")} == set()


def test_failed_upload_leaves_no_base_remote(
    arun: Run, remote: HostConnection, raw: libvirt.virConnect, tmp_path: Path
) -> None:
    image = tmp_path / "other.qcow2"
    shutil.copyfile(tiny_image(), image)
    with image.open("ab") as handle:
        handle.write(b"\x00" * (8 << 20))  # another image: a new base volume to upload

    def explode(report: Progress) -> None:
        if report.step is Step.UPLOAD and report.done_bytes > 0:
            raise RuntimeError("injected failure during the upload")

    before = pool_volumes(raw) if POOL in raw.listStoragePools() else set()
    name = f"{PREFIX}rb-upload"
    with pytest.raises(ProvisionError) as info:
        arun(Provisioner(remote).provision(plan(name, image), explode), timeout=180)
    assert info.value.step is Step.UPLOAD
    assert pool_volumes(raw) == before
    assert name not in {d.name() for d in raw.listAllDomains(0)}
