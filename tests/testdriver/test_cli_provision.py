"""vmgui-cli's provisioning commands (test driver; the real run is in the integration tests)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.conftest import fixture_uri
from vmgui.cli import build_parser as _parser
from vmgui.cli import main
from vmgui.cli.provision import build_plan
from vmgui.core.cloudinit import sha512_crypt
from vmgui.core.provisioning import CatalogImage, ExistingVolume, LocalImage, SeedDevice, VirtType


def _qcow2(path: Path, virtual_size: int = 3 << 30) -> Path:
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">Q", header, 24, virtual_size)
    path.write_bytes(bytes(header))
    return path


def test_images_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images"]) == 0
    out = capsys.readouterr().out
    assert "debian-12" in out and "ubuntu-24.04" in out
    assert main(["images", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {e["id"] for e in data} >= {"debian-13", "alpine-3.22"}


def test_images_download_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "download", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vmgui-cli: There is no image 'nope'") and err.count("\n") == 1


def test_build_plan_catalog_defaults(tmp_path: Path) -> None:
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3Nza user@host\n")
    password = tmp_path / "pw"
    password.write_text("hunter2\nignored\n")
    args = _parser().parse_args(
        [
            "provision", "--connect", "test:///default", "--image", "debian-12", "--name", "web1",
            "--user", "alice", "--password-file", str(password), "--ssh-key", str(key),
            "--ssh-key", "ssh-rsa AAAAB3 other", "--seed-device", "cdrom", "--virt-type", "qemu",
        ]
    )  # fmt: skip
    plan = build_plan(args)
    assert isinstance(plan.source, CatalogImage) and plan.source.entry.id == "debian-12"
    assert (plan.vcpus, plan.memory_mib, plan.disk_bytes) == (2, 2048, 20 << 30)
    assert plan.virt_type is VirtType.QEMU and plan.seed_device is SeedDevice.CDROM
    config = plan.cloud_init
    assert config is not None and config.hostname == "web1" and config.user == "alice"
    assert config.ssh_keys == ("ssh-ed25519 AAAAC3Nza user@host", "ssh-rsa AAAAB3 other")
    salt = config.password_hash.split("$")[2]
    assert config.password_hash == sha512_crypt("hunter2", salt)
    assert "hunter2" not in repr(plan)


def test_build_plan_local_image_and_volume(tmp_path: Path) -> None:
    image = _qcow2(tmp_path / "my.qcow2", 30 << 30)
    base = ["provision", "--connect", "test:///default", "--name", "x"]
    plan = build_plan(_parser().parse_args([*base, "--image", str(image), "--no-cloud-init"]))
    assert isinstance(plan.source, LocalImage) and plan.cloud_init is None
    assert plan.disk_bytes == 30 << 30  # at least the image's virtual size
    plan = build_plan(_parser().parse_args([*base, "--volume", "pool/vol.qcow2", "--disk", "5"]))
    assert plan.source == ExistingVolume("pool", "vol.qcow2") and plan.cloud_init is None


def test_provision_failure_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = _qcow2(tmp_path / "img.qcow2")
    argv = [
        "provision", "--connect", fixture_uri(), "--image", str(image), "--name", "guest-01",
        "--virt-type", "qemu", "--pool", "default-pool",
    ]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "step validate" in err and "already exists" in err
    bad_key = [*argv[:-4], "--name", "new", "--ssh-key", str(tmp_path / "missing.pub")]
    assert main(bad_key) == 1
    assert "Could not read the SSH key" in capsys.readouterr().err
