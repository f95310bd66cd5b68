"""Removing what a real-daemon test or benchmark made: its guests (by name prefix) and its
storage pool with every volume in it. Quiet about what is already gone; never touches other
guests or pools."""

from __future__ import annotations

import contextlib

import libvirt


def remove_guests(conn: libvirt.virConnect, prefix: str) -> None:
    """Destroy and undefine every guest whose name starts with ``prefix`` (managed saves and
    UEFI variable stores too)."""
    for dom in conn.listAllDomains(0):
        if not dom.name().startswith(prefix):
            continue
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefineFlags(
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            )


def remove_pool(conn: libvirt.virConnect, name: str) -> None:
    """Delete every volume of pool ``name``, stop it, delete its folder and undefine it."""
    with contextlib.suppress(libvirt.libvirtError):
        pool = conn.storagePoolLookupByName(name)
        if pool.isActive():
            pool.refresh(0)
            for vol in pool.listAllVolumes(0):
                with contextlib.suppress(libvirt.libvirtError):
                    vol.delete(0)
            pool.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            pool.delete(0)
        pool.undefine()


def remove_lab(conn: libvirt.virConnect, prefix: str, pool: str) -> None:
    """:func:`remove_guests` then :func:`remove_pool`."""
    remove_guests(conn, prefix)
    remove_pool(conn, pool)
