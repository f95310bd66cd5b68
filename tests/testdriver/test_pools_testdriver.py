"""Pools and volumes on the test driver: listing, who uses what, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import Recorder, Run
from vmgui.cli import main as cli_main
from vmgui.core.errors import VmguiError
from vmgui.virt.connection import HostConnection
from vmgui.virt.pools import (
    create_dir_pool,
    create_volume,
    delete_pool,
    delete_volume,
    fetch_pools,
    fetch_volumes,
    resize_volume,
    stop_pool,
)

BASE = "/var/lib/libvirt/images/debian-12-base.qcow2"
GIB = 1 << 30


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    """A connected host on a private copy of the shared-storage node."""
    the_host = HostConnection(fixture_uri("sharing.xml"), Recorder(), keepalive=None)
    arun(the_host.connect())
    yield the_host
    arun(the_host.close())


def test_pools_and_volumes_say_who_uses_what(host: HostConnection, arun: Run) -> None:
    pools = arun(fetch_pools(host))
    assert [p.name for p in pools] == ["default-pool"]
    pool = pools[0]
    assert pool.active and pool.state == "running" and pool.type == "dir"
    assert pool.capacity == 100 * GIB and pool.available + pool.allocation == pool.capacity
    assert pool.volumes == 5
    volumes = {v.name: v for v in arun(fetch_volumes(host, "default-pool"))}
    assert volumes["owner-data.qcow2"].used_by == ("borrower", "owner")
    assert volumes["owner.qcow2"].used_by == ("owner",)
    base = volumes["debian-12-base.qcow2"]
    assert base.used_by == ("golden",)
    assert base.backs == ("/var/lib/libvirt/images/orphan-overlay.qcow2",)
    orphan = volumes["orphan-overlay.qcow2"]
    assert orphan.used_by == () and orphan.backing_chain == (BASE,)
    assert orphan.format == "qcow2" and orphan.capacity == 20 * GIB


def test_refusals_name_the_guests(host: HostConnection, arun: Run) -> None:
    with pytest.raises(VmguiError, match="used by borrower, owner"):
        arun(delete_volume(host, "default-pool", "owner-data.qcow2"))
    with pytest.raises(VmguiError, match="is used by golden"):
        arun(delete_volume(host, "default-pool", "debian-12-base.qcow2"))
    with pytest.raises(VmguiError, match="used by borrower, golden, owner"):
        arun(delete_pool(host, "default-pool"))
    with pytest.raises(VmguiError, match="cannot be stopped"):
        arun(stop_pool(host, "default-pool"))
    with pytest.raises(VmguiError, match="only grows"):
        arun(resize_volume(host, "default-pool", "orphan-overlay.qcow2", GIB))
    names = {v.name for v in arun(fetch_volumes(host, "default-pool"))}
    assert {"owner-data.qcow2", "debian-12-base.qcow2"} <= names


def test_create_and_delete(host: HostConnection, arun: Run) -> None:
    made = arun(create_volume(host, "default-pool", "scratch.qcow2", GIB, "qcow2"))
    assert made.capacity == GIB and made.format == "qcow2" and not made.used_by
    with pytest.raises(VmguiError, match=r"has a volume named scratch\.qcow2"):
        arun(create_volume(host, "default-pool", "scratch.qcow2", GIB, "qcow2"))
    with pytest.raises(VmguiError, match="Format must be one of"):
        arun(create_volume(host, "default-pool", "x.vmdk", GIB, "vmdk"))
    # Growing needs virStorageVolResize, which the test driver lacks: the real daemon's test.
    arun(delete_volume(host, "default-pool", "scratch.qcow2"))
    names = {v.name for v in arun(fetch_volumes(host, "default-pool"))}
    assert "scratch.qcow2" not in names


def test_dir_pool_create_and_delete(host: HostConnection, arun: Run) -> None:
    made = arun(create_dir_pool(host, "scratch", "/scratch-pool"))
    assert made.active and made.autostart and made.path == "/scratch-pool"
    with pytest.raises(VmguiError, match="exists already"):
        arun(create_dir_pool(host, "scratch", "/elsewhere"))
    with pytest.raises(VmguiError, match="absolute path"):
        arun(create_dir_pool(host, "other", "relative/dir"))
    arun(delete_pool(host, "scratch"))
    assert [p.name for p in arun(fetch_pools(host))] == ["default-pool"]


def test_cli_pools_and_volumes(capsys: pytest.CaptureFixture[str]) -> None:
    uri = fixture_uri("sharing.xml")
    assert cli_main(["pools", "--connect", uri, "--json"]) == 0
    pools = json.loads(capsys.readouterr().out)
    assert pools[0]["name"] == "default-pool" and pools[0]["capacity"] == 100 * GIB
    assert cli_main(["volumes", "--connect", uri, "default-pool"]) == 0
    text = capsys.readouterr().out
    assert "owner-data.qcow2" in text and "used by borrower, owner" in text
    assert cli_main(["volumes", "--connect", uri, "nopool"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nopool" in err
