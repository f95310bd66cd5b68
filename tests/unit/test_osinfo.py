"""Tests for vmgui.core.osinfo: readable names for libosinfo ids."""

from __future__ import annotations

import pytest

from vmgui.core.osinfo import osinfo_display_name


@pytest.mark.parametrize(
    ("osinfo_id", "name"),
    [
        ("http://debian.org/debian/12", "Debian 12"),
        ("http://debian.org/debian/testing", "Debian testing"),
        ("http://ubuntu.com/ubuntu/24.04", "Ubuntu 24.04"),
        ("http://fedoraproject.org/fedora/40", "Fedora 40"),
        ("http://fedoraproject.org/fedora/rawhide", "Fedora rawhide"),
        ("http://microsoft.com/win/11", "Windows 11"),
        ("http://microsoft.com/win/2k22", "Windows Server 2022"),
        ("http://redhat.com/rhel/9.4", "Red Hat Enterprise Linux 9.4"),
        ("http://centos.org/centos-stream/9", "CentOS Stream 9"),
        ("http://centos.org/centos/7.0", "CentOS 7.0"),
        ("http://libosinfo.org/linux/2022", "Linux 2022"),
        ("http://example.org/myos/1.0", "Myos 1.0"),
        ("http://example.org/a/b/c/7", "C 7"),
        ("http://example.org/solo", "Solo"),
        ("", ""),
        ("not-a-url", "not-a-url"),
    ],
)
def test_osinfo_display_name(osinfo_id: str, name: str) -> None:
    assert osinfo_display_name(osinfo_id) == name
