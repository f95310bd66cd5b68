"""Provisioning rules that need no host: field checks and the domain type.

Pure functions on a plan and on facts the virt layer read from the host.
"""

from __future__ import annotations

from collections.abc import Callable

from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import VirtType
from vmgui.core.validation import ValidationError


def check_field(check: Callable[[], object]) -> None:
    """Run one validator; a broken rule becomes a :class:`VmguiError` with its message.

    Raises:
        VmguiError: whose summary is the :class:`ValidationError`'s message.
    """
    try:
        check()
    except ValidationError as exc:
        raise VmguiError(exc.message) from None


def choose_virt_type(wanted: VirtType, arch: str, offered: tuple[str, ...]) -> str:
    """The libvirt domain type ("kvm" or "qemu") for a new guest on a host.

    Args:
        wanted: what the plan asks for (KVM, QEMU emulation, or the best offered).
        arch: the host's architecture (named in the errors).
        offered: the domain types the host's capabilities offer for ``arch``.

    Raises:
        VmguiError: if KVM is asked for and not offered, or the host offers neither type.
    """
    if wanted is VirtType.QEMU:
        return "qemu"
    if wanted is VirtType.KVM:
        if "kvm" not in offered:
            raise VmguiError(
                "This host offers no hardware virtualisation (KVM)",
                f"domain types for {arch}: {', '.join(offered) or 'none'}",
                "Choose emulation (virt type qemu), or enable KVM on the host.",
            )
        return "kvm"
    for kind in ("kvm", "qemu"):
        if kind in offered:
            return kind
    raise VmguiError(
        f"This host cannot run {arch} guests",
        f"its capabilities list no kvm or qemu domain for {arch}",
        "Install QEMU on the host (e.g. qemu-system-x86).",
    )
