"""Domain XML for the tiny real guest built by ``build.sh``.

Verified on Debian 12: libvirt 9.0, QEMU 7.2, TCG (domain type 'qemu').
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr


def tiny_domain_xml(
    name: str,
    disk_path: str,
    console_log: str,
    *,
    memory_mib: int = 128,
    seed_iso: str | None = None,
    balloon: bool = True,
    uuid: str | None = None,
) -> str:
    """Return the XML of an emulated (type 'qemu') domain booting the tiny guest.

    ``disk_path`` is a qcow2 (normally an overlay backed by ``tiny.qcow2``), attached as virtio
    ``vda``. The serial console is written to ``console_log`` (truncated by QEMU at each start).
    ``seed_iso`` is an optional raw iso9660 NoCloud seed attached read-only as virtio ``vdb``.
    With ``balloon=False`` the domain has no balloon device (``<memballoon model='none'/>``).
    """
    if memory_mib <= 0:
        raise ValueError(f"memory_mib must be positive, got {memory_mib}")
    uuid_xml = f"  <uuid>{escape(uuid)}</uuid>\n" if uuid is not None else ""
    seed_xml = ""
    if seed_iso is not None:
        seed_xml = (
            "    <disk type='file' device='disk'>\n"
            "      <driver name='qemu' type='raw'/>\n"
            f"      <source file={quoteattr(seed_iso)}/>\n"
            "      <target dev='vdb' bus='virtio'/>\n"
            "      <readonly/>\n"
            "    </disk>\n"
        )
    if balloon:
        balloon_xml = (
            "    <memballoon model='virtio'>\n      <stats period='2'/>\n    </memballoon>\n"
        )
    else:
        balloon_xml = "    <memballoon model='none'/>\n"
    return (
        "<domain type='qemu'>\n"
        f"  <name>{escape(name)}</name>\n"
        f"{uuid_xml}"
        f"  <memory unit='MiB'>{memory_mib}</memory>\n"
        f"  <currentMemory unit='MiB'>{memory_mib}</currentMemory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64' machine='pc'>hvm</type>\n"
        "    <boot dev='hd'/>\n"
        "  </os>\n"
        "  <features>\n"
        "    <acpi/>\n"
        "  </features>\n"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2'/>\n"
        f"      <source file={quoteattr(disk_path)}/>\n"
        "      <target dev='vda' bus='virtio'/>\n"
        "    </disk>\n"
        f"{seed_xml}"
        "    <interface type='user'>\n"
        "      <model type='virtio'/>\n"
        "    </interface>\n"
        "    <serial type='file'>\n"
        f"      <source path={quoteattr(console_log)}/>\n"
        "      <target port='0'/>\n"
        "    </serial>\n"
        f"{balloon_xml}"
        "  </devices>\n"
        "</domain>\n"
    )
