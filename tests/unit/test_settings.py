"""Saved hosts: first run, round trip, damaged files are reported and never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmgui.core.errors import VmguiError
from vmgui.core.settings import HostEntry, demo_host_uri, hosts_file, load_hosts, save_hosts


def test_first_run_has_no_saved_hosts(tmp_path: Path) -> None:
    assert load_hosts(tmp_path / "hosts.json") is None


def test_round_trip_keeps_order_and_autoconnect(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hosts.json"
    entries = [HostEntry("qemu:///system"), HostEntry("qemu+ssh://root@srv1/system", False)]
    save_hosts(entries, path)
    assert load_hosts(path) == entries
    save_hosts([], path)
    assert load_hosts(path) == []


def test_duplicates_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "hosts.json"
    path.write_text(
        '{"version": 1, "hosts": [{"uri": "qemu:///system"},'
        ' {"uri": "qemu:///system", "autoconnect": false}]}'
    )
    assert load_hosts(path) == [HostEntry("qemu:///system", True)]


@pytest.mark.parametrize("text", ["{not json", '{"hosts": [{"no-uri": 1}]}', '{"hosts": 3}'])
def test_damaged_file_is_reported_and_kept(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hosts.json"
    path.write_text(text)
    with pytest.raises(VmguiError, match="damaged") as info:
        load_hosts(path)
    assert str(path) in info.value.summary
    assert path.read_text() == text


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VmguiError, match="Could not save"):
        save_hosts([HostEntry("qemu:///system")], blocker / "hosts.json")


def test_paths_follow_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert hosts_file() == tmp_path / "vmgui" / "hosts.json"


def test_demo_uri_is_absolute(tmp_path: Path) -> None:
    fixture = tmp_path / "demo.xml"
    assert demo_host_uri(fixture) == f"test://{fixture}"


def test_a_saved_host_keeps_its_display_name(tmp_path: Path) -> None:
    path = tmp_path / "hosts.json"
    entries = [
        HostEntry("qemu+ssh://root@srv/system", False, "Rack 3"),
        HostEntry("qemu:///system"),
    ]
    save_hosts(entries, path)
    assert load_hosts(path) == entries
    assert '"name"' not in path.read_text().split("qemu:///system")[1]  # only when given
