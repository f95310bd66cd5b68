"""Batch provisioning on real daemons: 5 tiny guests over the main host and the second host.

A fixed assignment (3 + 2) from one local image: the base image is uploaded once per host,
all 5 guests run, each with its own cloud-init instance id and host name (read back from the
main host's guests' serial consoles), then everything is removed. Guests are ``vmgui-batch-*``
in a pool ``vmgui-batch-it`` on both hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.integration.test_provision_real import wait_for_marker
from tests.labclean import remove_lab
from tests.services.fixtures import second_host as second_host
from tests.services.secondhost import SecondHost, open_connection
from vmgui.cli import main as cli_main
from vmgui.core.batch import GuestPhase, make_batch
from vmgui.core.cloudinit import CloudInitConfig
from vmgui.core.provisioning import USER_NETWORK, LocalImage, ProvisionPlan, Step, VirtType
from vmgui.virt.batch import BatchProvisioner
from vmgui.virt.connection import HostConnection, NullObserver

pytestmark = pytest.mark.integration

Run = Callable[..., Any]
URI = "qemu:///system"
PREFIX = "vmgui-batch-"
POOL = "vmgui-batch-it"
POOL_PATH = "/var/lib/libvirt/images/vmgui-batch-it"
LOGS = Path("/var/lib/libvirt/images/vmgui-batch-it-logs")
ROOT = Path(__file__).resolve().parents[2]
TINY = Path(os.environ.get("VMGUI_TINY_IMAGE", "/var/tmp/vmgui-tiny-guest/tiny.qcow2"))


def _cleanup(conn: libvirt.virConnect) -> None:
    remove_lab(conn, PREFIX, POOL)


@pytest.fixture(scope="module")
def tiny() -> Path:
    if not TINY.exists():
        subprocess.run(
            ["bash", str(ROOT / "tests/integration/tinyguest/build.sh"), str(TINY.parent)],
            check=True,
        )
    return TINY


@pytest.fixture
def raws(tiny: Path, second_host: SecondHost) -> Iterator[tuple[libvirt.virConnect, ...]]:
    """Plain connections to both hosts; a clean slate before and after (also on failure)."""
    conns = (open_connection(URI), open_connection(second_host.uri_tcp))
    for conn in conns:
        _cleanup(conn)
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(mode=0o755, parents=True)
    try:
        yield conns
    finally:
        for conn in conns:
            _cleanup(conn)
            conn.close()
        shutil.rmtree(LOGS, ignore_errors=True)


@pytest.fixture
def hosts(arun: Run, raws: object, second_host: SecondHost) -> Iterator[dict[str, HostConnection]]:
    made = {
        uri: HostConnection(uri, NullObserver(), keepalive=None)
        for uri in (URI, second_host.uri_tcp)
    }
    for host in made.values():
        arun(host.connect())
    yield made
    for host in made.values():
        arun(host.close())


def test_five_tiny_guests_over_two_hosts(
    arun: Run,
    tiny: Path,
    hosts: dict[str, HostConnection],
    raws: tuple[libvirt.virConnect, libvirt.virConnect],
    second_host: SecondHost,
) -> None:
    template = ProvisionPlan(
        name="unused",
        source=LocalImage(tiny),
        vcpus=1,
        memory_mib=128,
        disk_bytes=1 << 30,
        virt_type=VirtType.QEMU,
        network=USER_NETWORK,
        pool=POOL,
        pool_path=POOL_PATH,
        cloud_init=CloudInitConfig("batch", user="tester"),
        serial_log=str(LOGS / "console.log"),
        graphics=False,
    )
    uris = [URI] * 3 + [second_host.uri_tcp] * 2
    plan = make_batch(template, f"{PREFIX}{{n}}", 5, uris)
    assert plan.items[3].plan.serial_log == str(LOGS / f"{PREFIX}4.log")
    # The second host's guests log inside its namespace: its own folder of that name.
    Path(second_host.outside(str(LOGS))).mkdir(mode=0o755, parents=True, exist_ok=True)
    result = arun(BatchProvisioner(hosts).provision(plan), timeout=300)

    assert result.ok and [g.phase for g in result.guests] == [GuestPhase.FINISHED] * 5
    assert result.shared_seconds[Step.UPLOAD] > 0
    main, second = raws
    for conn, names in ((main, (1, 2, 3)), (second, (4, 5))):
        for n in names:
            dom = conn.lookupByName(f"{PREFIX}{n}")
            assert dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING, dom.name()
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        assert sum(v.startswith("vmgui-base-") for v in pool.listVolumes()) == 1
    seeds = [wait_for_marker(LOGS / f"{PREFIX}{n}.log") for n in (1, 2, 3)]
    ids = [item.plan.cloud_init.instance_id for item in plan.items if item.plan.cloud_init]
    for n, text in enumerate(seeds, start=1):
        assert f'"instance-id": "{ids[n - 1]}"' in text
        assert f'"local-hostname": "{PREFIX}{n}"' in text
    assert len(set(ids)) == 5


def test_cli_spreads_a_batch_by_placement_advice(
    tiny: Path,
    raws: tuple[libvirt.virConnect, libvirt.virConnect],
    second_host: SecondHost,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``provision --spread`` over both hosts: placement assigns every guest a host, the batch
    defines them there (not started: only where they went is checked), nothing else."""
    for conn in raws:  # placement counts space in running pools only
        pool = conn.storagePoolDefineXML(
            f"<pool type='dir'><name>{POOL}</name><target><path>{POOL_PATH}</path></target></pool>"
        )
        pool.build(0)
        pool.create(0)
    argv = [
        "provision", "--connect", URI, "--connect", second_host.uri_tcp, "--spread",
        "--sample", "1", "--image", str(tiny), "--count", "4", "--name", f"{PREFIX}cli-{{n}}",
        "--vcpus", "1", "--memory", "128", "--disk", "1", "--virt-type", "qemu",
        "--network", "user", "--pool", POOL, "--pool-path", POOL_PATH, "--no-cloud-init",
        "--no-graphics", "--no-start", "--json",
    ]  # fmt: skip
    assert cli_main(argv) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    placed = {g["name"]: g["host"] for g in out["guests"]}
    assert sorted(placed) == [f"{PREFIX}cli-{n}" for n in range(1, 5)]
    assert set(placed.values()) == {URI, second_host.uri_tcp}  # both hosts have room
    main, second = raws
    for name, uri in placed.items():
        conn = main if uri == URI else second
        assert conn.lookupByName(name).info()[0] == libvirt.VIR_DOMAIN_SHUTOFF
