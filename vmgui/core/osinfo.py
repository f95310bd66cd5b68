"""Readable names for libosinfo OS ids ("http://debian.org/debian/12" → "Debian 12")."""

from __future__ import annotations

# Readable names for libosinfo ids: "<host>/<path prefix>" → product name.
_OS_VENDORS = {
    "debian.org/debian": "Debian",
    "ubuntu.com/ubuntu": "Ubuntu",
    "fedoraproject.org/fedora": "Fedora",
    "fedoraproject.org/coreos": "Fedora CoreOS",
    "fedoraproject.org/silverblue": "Fedora Silverblue",
    "microsoft.com/win": "Windows",
    "redhat.com/rhel": "Red Hat Enterprise Linux",
    "centos.org/centos": "CentOS",
    "centos.org/centos-stream": "CentOS Stream",
    "almalinux.org/almalinux": "AlmaLinux",
    "rockylinux.org/rocky": "Rocky Linux",
    "opensuse.org/opensuse": "openSUSE",
    "suse.com/sles": "SUSE Linux Enterprise Server",
    "archlinux.org/archlinux": "Arch Linux",
    "alpinelinux.org/alpinelinux": "Alpine Linux",
    "freebsd.org/freebsd": "FreeBSD",
    "netbsd.org/netbsd": "NetBSD",
    "openbsd.org/openbsd": "OpenBSD",
    "linuxmint.com/linuxmint": "Linux Mint",
    "libosinfo.org/linux": "Linux",
}


def osinfo_display_name(osinfo_id: str) -> str:
    """A readable OS name for a libosinfo id ("" for an empty id).

    "http://debian.org/debian/12" → "Debian 12", "http://microsoft.com/win/11" →
    "Windows 11", "http://microsoft.com/win/2k22" → "Windows Server 2022". Unknown
    vendors fall back to the last parts of the id's path ("http://x.org/foo/1" →
    "Foo 1"); a string that is not a URL is returned as is.
    """
    if not osinfo_id:
        return ""
    _, sep, rest = osinfo_id.partition("://")
    if not sep:
        return osinfo_id
    host, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if host.startswith("www."):
        host = host[4:]
    for length in range(len(parts), 0, -1):
        vendor = _OS_VENDORS.get("/".join([host, *parts[:length]]))
        if vendor is not None:
            version = " ".join(parts[length:])
            if vendor == "Windows" and version.startswith("2k"):
                return f"Windows Server 20{version[2:]}"
            return f"{vendor} {version}" if version else vendor
    if not parts:
        return host
    tail = " ".join(parts[-2:])
    return tail[:1].upper() + tail[1:]
