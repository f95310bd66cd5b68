"""The generated test-driver nodes load in libvirt's test driver with the expected contents."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.fixtures import genfixture
from tests.fixtures.genfixture import State

REPO = Path(__file__).resolve().parents[2]
NODE50 = REPO / "tests" / "fixtures" / "node50.xml"
DEMO_HOST = REPO / "vmgui" / "data" / "demo-host.xml"
SHARING = REPO / "tests" / "fixtures" / "sharing.xml"

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"

_STATE_NAMES = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def _open(path: Path) -> libvirt.virConnect:
    return libvirt.open(genfixture.node_uri(path))


@pytest.fixture
def node50() -> Iterator[libvirt.virConnect]:
    conn = _open(NODE50)
    yield conn
    conn.close()


@pytest.fixture
def demo() -> Iterator[libvirt.virConnect]:
    conn = _open(DEMO_HOST)
    yield conn
    conn.close()


def _observed(conn: libvirt.virConnect) -> dict[str, str]:
    """Domain name -> state name as libvirt reports it ('saved' = shut off + managed save)."""
    result: dict[str, str] = {}
    for dom in conn.listAllDomains():
        name = _STATE_NAMES[dom.state()[0]]
        if name == "shutoff" and dom.hasManagedSaveImage():
            name = "saved"
        result[dom.name()] = name
    return result


def _counts(states: dict[str, str]) -> dict[str, int]:
    counts = dict.fromkeys([s.value for s in State], 0)
    counts.update(Counter(states.values()))
    return counts


def test_node_uri_is_test_scheme_plus_absolute_path() -> None:
    assert genfixture.node_uri("/a/b.xml") == "test:///a/b.xml"


def test_node50_state_counts(node50: libvirt.virConnect) -> None:
    observed = _observed(node50)
    assert _counts(observed) == {
        "running": 30,
        "paused": 6,
        "shutoff": 16,
        "crashed": 2,
        "pmsuspended": 2,
        "saved": 4,
    }
    expected = {s.name: s.state.value for s in genfixture.node_domains(60)}
    assert observed == expected
    persistent = [d.isPersistent() for d in node50.listAllDomains()]
    assert persistent.count(0) == 2  # 30 running // 15 are transient


def test_node50_files_are_up_to_date() -> None:
    assert NODE50.read_text(encoding="utf-8") == genfixture.node_xml(60)
    assert DEMO_HOST.read_text(encoding="utf-8") == genfixture.demo_host_xml()
    assert SHARING.read_text(encoding="utf-8") == genfixture.sharing_xml()


def test_sharing_node_loads() -> None:
    conn = _open(SHARING)
    try:
        assert _observed(conn) == {"owner": "shutoff", "borrower": "shutoff", "golden": "shutoff"}
        pool = conn.storagePoolLookupByName(genfixture.POOL_NAME)
        orphan = pool.storageVolLookupByName(genfixture.SHARING_ORPHAN_OVERLAY.name)
        backing = ET.fromstring(orphan.XMLDesc()).findtext("backingStore/path")
        assert backing == f"{genfixture.IMAGES_DIR}/debian-12-base.qcow2"
    finally:
        conn.close()


def test_node50_host_networks_and_pool(node50: libvirt.virConnect) -> None:
    # model, memory MiB, cpus, mhz, numa nodes, sockets, cores, threads
    assert node50.getInfo() == ["vmgui-test-cpu", 65536, 16, 2100, 1, 2, 4, 2]
    nets = {n.name(): n for n in node50.listAllNetworks()}
    assert set(nets) == {"default", "isolated"}
    assert all(n.isActive() for n in nets.values())
    forward = ET.fromstring(nets["default"].XMLDesc()).find("forward")
    assert forward is not None
    assert forward.get("mode") == "nat"
    assert ET.fromstring(nets["isolated"].XMLDesc()).find("forward") is None

    pool = node50.storagePoolLookupByName(genfixture.POOL_NAME)
    assert pool.isActive()
    _state, capacity, allocation, available = pool.info()
    assert 0 < allocation < capacity
    assert available == capacity - allocation
    volumes = {v.path(): v for v in pool.listAllVolumes()}
    base = f"{genfixture.IMAGES_DIR}/debian-12-base.qcow2"
    assert base in volumes

    users: Counter[str] = Counter()
    writers: Counter[str] = Counter()
    overlays = 0
    for dom in node50.listAllDomains():
        for disk in ET.fromstring(dom.XMLDesc()).iterfind("devices/disk"):
            source = disk.find("source")
            if source is None:  # empty CD-ROM tray
                assert disk.get("device") == "cdrom"
                continue
            path = source.get("file", "")
            assert path in volumes, path
            users[path] += 1
            if disk.get("device") == "disk":
                writers[path] += 1
                if writers[path] > 1:  # a writable disk used twice must be shareable
                    assert disk.find("shareable") is not None
            else:
                assert disk.find("readonly") is not None
    for path, vol in volumes.items():
        backing = ET.fromstring(vol.XMLDesc()).findtext("backingStore/path")
        if backing is not None:
            assert backing == base
            overlays += 1
        elif path != base:
            assert users[path] >= 1, f"{path} is used by no domain"
    assert overlays >= 3
    assert [p for p, n in writers.items() if n > 1] == [f"{genfixture.IMAGES_DIR}/shared-data.img"]


def test_node50_metadata_and_sizes(node50: libvirt.virConnect) -> None:
    os_ids: Counter[str] = Counter()
    titled = described = 0
    for dom in node50.listAllDomains():
        _state, max_kib, cur_kib, vcpus, _cpu_time = dom.info()
        assert 256 * 1024 <= max_kib <= 8 * 1024 * 1024
        assert 0 < cur_kib <= max_kib
        assert 1 <= vcpus <= 8
        root = ET.fromstring(dom.XMLDesc())
        titled += root.find("title") is not None
        described += root.find("description") is not None
        os_el = root.find(f"metadata/{{{LIBOSINFO_NS}}}libosinfo/{{{LIBOSINFO_NS}}}os")
        if os_el is not None:
            os_ids[os_el.get("id", "")] += 1
        assert root.findall("devices/interface/source[@network='default']")
    assert set(os_ids) == set(genfixture.OS_IDS.values())
    assert titled >= 10
    assert described >= 5


def test_demo_host(demo: libvirt.virConnect) -> None:
    observed = _observed(demo)
    assert _counts(observed) == {
        "running": 6,
        "paused": 1,
        "shutoff": 2,
        "crashed": 1,
        "pmsuspended": 1,
        "saved": 1,
    }
    assert observed == {s.name: s.state.value for s in genfixture.demo_host_domains()}
    for name in ("web-01", "db-primary", "build-runner", "win11-desktop", "debian-12-template"):
        assert name in observed
    assert demo.lookupByName("win11-desktop").hasManagedSaveImage()
    assert not demo.lookupByName("scratch-vm").isPersistent()
    db = demo.lookupByName("db-primary")
    assert db.metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None) == "PostgreSQL primary"
    osinfo = db.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, LIBOSINFO_NS)
    assert 'id="http://debian.org/debian/12"' in osinfo
    assert "DEMO HOST" in DEMO_HOST.read_text(encoding="utf-8")


def test_thousand_domains(tmp_path: Path) -> None:
    path = tmp_path / "node1000.xml"
    path.write_text(genfixture.node_xml(1000, running=500), encoding="utf-8")
    conn = _open(path)
    try:
        domains = conn.listAllDomains()
        assert len(domains) == 1000
        assert len({d.UUIDString() for d in domains}) == 1000
        running = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)
        assert len(running) == 500
        _state, capacity, allocation, _available = conn.storagePoolLookupByName(
            genfixture.POOL_NAME
        ).info()
        assert allocation < capacity
    finally:
        conn.close()


def test_generation_is_deterministic() -> None:
    assert genfixture.node_xml(40, seed=3) == genfixture.node_xml(40, seed=3)
    assert genfixture.node_xml(40, seed=3) != genfixture.node_xml(40, seed=4)
    assert genfixture.demo_host_xml() == genfixture.demo_host_xml()
    names = [d.name for d in genfixture.node_domains(12, running=5, name_prefix="vm")]
    assert names[0] == "vm-01"
    assert len(set(names)) == 12


@pytest.mark.parametrize(("domains", "running"), [(0, None), (1, None), (7, 7), (7, 0), (25, 3)])
def test_state_plan(domains: int, running: int | None) -> None:
    specs = genfixture.node_domains(domains, running)
    counts = genfixture.state_counts(specs)
    assert len(specs) == domains
    assert counts[State.RUNNING] == (domains // 2 if running is None else running)
    assert all(s.state is State.RUNNING for s in specs if s.transient)


@pytest.mark.parametrize(("domains", "running"), [(-1, None), (3, 4), (3, -1)])
def test_invalid_arguments(domains: int, running: int | None) -> None:
    with pytest.raises(ValueError, match="must be"):
        genfixture.node_domains(domains, running)


def test_cli_writes_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "cli.xml"
    argv = [str(out), "--domains", "9", "--running", "4", "--seed", "7", "--name-prefix", "x"]
    assert genfixture.main(argv) == 0
    assert out.read_text(encoding="utf-8") == genfixture.node_xml(9, 4, 7, "x")
    conn = _open(out)
    try:
        assert sorted(_observed(conn)) == [f"x-{k:02d}" for k in range(1, 10)]
    finally:
        conn.close()
