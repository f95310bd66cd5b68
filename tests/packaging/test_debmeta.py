"""packaging/deb/debmeta.py: the metadata build.sh writes into the .deb."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from vmgui import __version__

ROOT = Path(__file__).resolve().parents[2]
DEB = ROOT / "packaging" / "deb"


def _debmeta() -> ModuleType:
    spec = importlib.util.spec_from_file_location("debmeta", DEB / "debmeta.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


debmeta = _debmeta()


def test_version_comes_from_the_package() -> None:
    assert debmeta.project_version(ROOT) == __version__


@pytest.mark.parametrize(
    ("pep440", "debian"),
    [
        ("0.1.0", "0.1.0"),
        ("1.0rc1", "1.0~rc1"),
        ("1.0.0a2", "1.0.0~a2"),
        ("1.0.dev3", "1.0~dev3"),
        ("1.0.post1", "1.0+post1"),
        ("2!1.0", "2:1.0"),
    ],
)
def test_debian_version_sorts_like_pep440(pep440: str, debian: str) -> None:
    assert debmeta.debian_version(pep440) == debian


def test_depends_merge_keeps_versions_and_the_python_pair() -> None:
    shlibs = "shlibs:Depends=libc6 (>= 2.34), libgl1, libxcb-icccm4 (>= 0.4.1), liba1 | libb1"
    static = ["python3 (>= 3.11~)", "python3 (<< 3.12~)", "libgl1", "libxcb-icccm4", "libvirt0"]
    assert debmeta.merge_depends(shlibs, static) == (
        "liba1 | libb1, libc6 (>= 2.34), libgl1, libvirt0, libxcb-icccm4 (>= 0.4.1), "
        "python3 (>= 3.11~), python3 (<< 3.12~)"
    )


def test_installed_size_counts_kib_per_file_and_skips_debian(tmp_path: Path) -> None:
    (tmp_path / "DEBIAN").mkdir()
    (tmp_path / "DEBIAN" / "control").write_text("x" * 5000)
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "a").write_bytes(b"x" * 1025)
    (tmp_path / "usr" / "b").write_bytes(b"")
    (tmp_path / "usr" / "link").symlink_to("b")
    # dirs usr, usr/bin: 2; a: 2 KiB; b: 0; link: 1
    assert debmeta.installed_size(tmp_path) == 5


def test_control_template_has_every_field_filled(tmp_path: Path) -> None:
    pairs = [
        "VERSION=0.1.0",
        "ARCH=amd64",
        "MAINTAINER=A <a@b.invalid>",
        "DEPENDS=libc6",
        "INSTALLED_SIZE=1",
    ]
    text = debmeta.fill_template(DEB / "control.in", pairs)
    fields = dict(
        line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" ")
    )
    assert fields["Package"] == "vmgui"
    assert fields["Recommends"] == "libvirt-daemon-system, qemu-system-x86, qemu-utils"
    for name in ("Maintainer", "Section", "Installed-Size", "Description", "Depends"):
        assert fields[name]
    with pytest.raises(SystemExit):
        debmeta.fill_template(DEB / "control.in", pairs[:-1])


@pytest.mark.parametrize(
    "script",
    [
        "packaging/deb/build.sh",
        "packaging/deb/check.sh",
        "packaging/deb/postinst",
        "packaging/deb/prerm",
        "packaging/deb/postrm",
        "resources/icons/render.sh",
    ],
)
def test_shell_scripts_pass_shellcheck(script: str) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(
        ["shellcheck", str(ROOT / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
