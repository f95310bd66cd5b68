"""Desktop integration files in resources/: valid, consistent with each other and with the app."""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vmgui import __version__

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / "vmgui.desktop"
METAINFO = RESOURCES / "io.github.vmgui.metainfo.xml"
ICONS = RESOURCES / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def _run_validator(*command: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def test_desktop_file_validates() -> None:
    result = _run_validator("desktop-file-validate", str(DESKTOP))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_metainfo_validates_pedantic() -> None:
    result = _run_validator("appstreamcli", "validate", "--pedantic", "--no-net", str(METAINFO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation was successful." in result.stdout, result.stdout
    assert "infos:" not in result.stdout and "pedantic:" not in result.stdout, result.stdout


def test_desktop_file_matches_the_app() -> None:
    entry = _desktop_entry()
    # app.py: setDesktopFileName("vmgui"); WM_CLASS is the application name "vmgui".
    assert DESKTOP.stem == "vmgui"
    assert entry["Exec"].split()[0] == "vmgui"
    assert entry["TryExec"] == "vmgui"
    assert entry["Icon"] == "vmgui"
    assert entry["StartupWMClass"] == "vmgui"
    assert entry["Terminal"] == "false"


def test_metainfo_matches_desktop_file_and_version() -> None:
    component = ET.parse(METAINFO).getroot()
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == METAINFO.name.removesuffix(".metainfo.xml")
    assert component.findtext("launchable") == DESKTOP.name
    assert component.findtext("name") == _desktop_entry()["Name"]
    assert component.findtext("project_license") == "GPL-3.0-or-later"
    binaries = {b.text for b in component.iter("binary")}
    assert binaries == {"vmgui", "vmgui-cli"}
    releases = [r.get("version") for r in component.iter("release")]
    assert releases, "metainfo lists no release"
    assert releases[0] == __version__, (
        f"add a <release version='{__version__}'> entry (newest first) to {METAINFO.name}"
    )


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.mark.parametrize("size", SIZES)
def test_hicolor_png_has_its_size(size: int) -> None:
    path = ICONS / "hicolor" / f"{size}x{size}" / "apps" / "vmgui.png"
    assert _png_size(path) == (size, size)


def test_scalable_icon_is_the_one_the_app_ships() -> None:
    source = ICONS / "vmgui.svg"
    root = ET.parse(source).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 512 512"
    shipped = ROOT / "vmgui" / "data" / "vmgui.svg"
    assert shipped.read_bytes() == source.read_bytes(), "run bash resources/icons/render.sh"
