"""Tests for vmgui.core.provrules: provisioning rules that need no host."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmgui.core.catalog import CatalogEntry
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import (
    CatalogImage,
    ExistingVolume,
    LocalImage,
    VirtType,
    description_for,
)
from vmgui.core.provrules import check_field, choose_virt_type
from vmgui.core.validation import validate_guest_name


@pytest.mark.parametrize(
    ("wanted", "offered", "chosen"),
    [
        (VirtType.QEMU, (), "qemu"),
        (VirtType.KVM, ("qemu", "kvm"), "kvm"),
        (VirtType.AUTO, ("qemu", "kvm"), "kvm"),
        (VirtType.AUTO, ("qemu",), "qemu"),
    ],
)
def test_choose_virt_type(wanted: VirtType, offered: tuple[str, ...], chosen: str) -> None:
    assert choose_virt_type(wanted, "x86_64", offered) == chosen


def test_choose_virt_type_refuses_what_the_host_cannot_run() -> None:
    with pytest.raises(VmguiError, match="no hardware virtualisation") as info:
        choose_virt_type(VirtType.KVM, "x86_64", ("qemu",))
    assert info.value.details == "domain types for x86_64: qemu"
    with pytest.raises(VmguiError, match="cannot run aarch64 guests") as info:
        choose_virt_type(VirtType.AUTO, "aarch64", ("xen",))
    assert "qemu-system" in info.value.hint


def test_check_field_turns_a_broken_rule_into_the_one_error_type() -> None:
    check_field(lambda: validate_guest_name("web-01"))
    with pytest.raises(VmguiError, match="Name must not be empty") as info:
        check_field(lambda: validate_guest_name(" "))
    assert info.value.__cause__ is None


def test_description_for() -> None:
    entry = CatalogEntry(id="debian-12", name="Debian 12 (bookworm)")
    assert description_for(CatalogImage(entry)) == "Created by vmgui from Debian 12 (bookworm)"
    assert description_for(LocalImage(Path("/img/alpine.qcow2"))) == (
        "Created by vmgui from alpine.qcow2"
    )
    assert description_for(ExistingVolume("default", "v.qcow2")) == "Created by vmgui"
