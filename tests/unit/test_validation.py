"""Tests for vmgui.core.validation: what users type into vmgui's forms."""

from __future__ import annotations

import pytest

from vmgui.core.validation import (
    LibvirtURI,
    ValidationError,
    host_display_name,
    parse_size,
    parse_uri,
    unit_factor,
    validate_guest_name,
    validate_memory_mib,
    validate_title,
    validate_uri,
    validate_vcpus,
)

GIB = 1024**3
MIB = 1024**2

# ------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("debian12", "debian12"),
        ("  web-01.example_a  ", "web-01.example_a"),
        ("A", "A"),
        ("x" * 64, "x" * 64),
        ("_private", "_private"),
    ],
)
def test_valid_guest_names(name: str, expected: str) -> None:
    assert validate_guest_name(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 65, "at most 64 characters long \\(it has 65\\)"),
        ("my guest", "only contain letters.*' '"),
        ("a/b", "only contain.*'/'"),
        ("zürich", "only contain.*'ü'"),
        ("-dash", "must not start with '-'"),
        (".hidden", "must not start with '.'"),
    ],
)
def test_invalid_guest_names(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"^Name .*{message}") as info:
        validate_guest_name(name)
    assert info.value.field == "Name"


# ------------------------------------------------------------------------------ vCPUs and memory


@pytest.mark.parametrize("n", [1, 2, 4096])
def test_valid_vcpus(n: int) -> None:
    assert validate_vcpus(n) == n


@pytest.mark.parametrize("n", [0, -1, 4097])
def test_vcpus_out_of_range(n: int) -> None:
    with pytest.raises(ValidationError, match="vCPUs must be between 1 and 4096") as info:
        validate_vcpus(n)
    assert info.value.field == "vCPUs"


def test_vcpus_against_host_and_limit() -> None:
    assert validate_vcpus(2, host_cpus=2) == 2
    with pytest.raises(ValidationError, match="the host has 2 CPUs \\(got 3\\)"):
        validate_vcpus(3, host_cpus=2)
    assert validate_vcpus(16, max_vcpus=16) == 16
    with pytest.raises(ValidationError, match="between 1 and 16"):
        validate_vcpus(17, max_vcpus=16)


@pytest.mark.parametrize("value", [True, 2.0, "2"])
def test_vcpus_must_be_int(value: object) -> None:
    with pytest.raises(ValidationError, match="whole number"):
        validate_vcpus(value)  # type: ignore[arg-type]


def test_memory_bounds() -> None:
    assert validate_memory_mib(16) == 16
    assert validate_memory_mib(1024, host_memory_kib=1048576) == 1024
    with pytest.raises(ValidationError, match="at least 16 MiB \\(got 15 MiB\\)") as info:
        validate_memory_mib(15)
    assert info.value.field == "Memory"
    with pytest.raises(ValidationError, match="the host has 1024 MiB \\(got 1025 MiB\\)"):
        validate_memory_mib(1025, host_memory_kib=1048576)
    with pytest.raises(ValidationError, match="whole number"):
        validate_memory_mib(512.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ sizes


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("b", 1),
        ("Bytes", 1),
        ("k", 1024),
        ("KiB", 1024),
        ("KB", 1000),
        ("M", MIB),
        ("mib", MIB),
        ("MB", 10**6),
        ("G", GIB),
        ("GB", 10**9),
        ("TiB", 1024**4),
        ("E", 1024**6),
    ],
)
def test_unit_factor(unit: str, factor: int) -> None:
    assert unit_factor(unit) == factor


@pytest.mark.parametrize("unit", ["", "x", "Kb2", "GiBB", "Q"])
def test_unit_factor_rejects_unknown(unit: str) -> None:
    with pytest.raises(ValueError, match="unknown size unit"):
        unit_factor(unit)


@pytest.mark.parametrize(
    ("text", "default_unit", "expected"),
    [
        ("512M", "MiB", 512 * MIB),
        ("2G", "MiB", 2 * GIB),
        ("2 GiB", "MiB", 2 * GIB),
        ("1.5G", "MiB", 1536 * MIB),
        (".5g", "MiB", 512 * MIB),
        ("1024", "MiB", 1024 * MIB),
        ("20", "GiB", 20 * GIB),
        ("1024", "B", 1024),
        ("10GB", "MiB", 10 * 10**9),
        ("4k", "MiB", 4096),
        ("100b", "MiB", 100),
        (" 8 MiB ", "MiB", 8 * MIB),
        ("0", "MiB", 0),
        ("1.0000001K", "MiB", 1024),
    ],
)
def test_parse_size(text: str, default_unit: str, expected: int) -> None:
    assert parse_size(text, default_unit) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Disk size must not be empty"),
        ("-1G", "Disk size must not be negative"),
        ("abc", "'abc' is not a size"),
        ("1.2.3G", "is not a size"),
        ("1e3", "unknown unit 'e3'|is not a size"),
        ("5 parsecs", "unknown unit 'parsecs'"),
        ("G", "is not a size"),
        ("1,5G", "is not a size"),
    ],
)
def test_parse_size_rejects(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        parse_size(text, "GiB", field="Disk size")
    assert info.value.field == "Disk size"


def test_parse_size_bad_default_unit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown size unit") as info:
        parse_size("1", default_unit="furlong")
    assert not isinstance(info.value, ValidationError)


# ------------------------------------------------------------------------------ URIs


@pytest.mark.parametrize(
    "uri",
    [
        "qemu:///system",
        "qemu:///session",
        "qemu+ssh://root@host/system",
        "qemu+tls://host:16514/system?no_verify=1",
        "qemu+ssh://admin@[2001:db8::1]:2222/system?keyfile=/home/a/.ssh/id",
        "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
        "test:///default",
        "test:///abs/path/node.xml",
        "lxc:///",
        "xen:///system",
        "esx://vcenter.example.com/?no_verify=1",
    ],
)
def test_valid_uris(uri: str) -> None:
    assert validate_uri(f"  {uri} ") == uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "must not be empty"),
        ("qemu:///sys tem", "must not contain spaces"),
        ("qemu:/system", "lacks '://'"),
        ("qemu", "lacks '://'"),
        ("qemu+telnet://host/system", "unknown transport 'telnet'"),
        ("qemu+://host/system", "unknown transport ''"),
        ("qmeu:///system", "unknown driver 'qmeu'"),
        ("qemu+ssh://host:99999/system", "port must be a number from 1 to 65535"),
        ("qemu+ssh://host:ssh/system", "port must be a number"),
        ("qemu+ssh://host:0/system", "port must be a number"),
        ("qemu+ssh://root@/system", "no host"),
        ("qemu+ssh://ho st/system", "must not contain spaces"),
        ("qemu+ssh://h!st/system", "bad host part"),
        ("qemu:///", "must end in /system or /session"),
        ("qemu+ssh://host", "must end in /system or /session"),
        ("1qemu:///system", "not a libvirt URI"),
    ],
)
def test_invalid_uris(uri: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        validate_uri(uri)
    assert info.value.field == "URI"
    assert "qemu+ssh://root@server/system" in str(info.value)  # the example


def test_parse_uri_parts() -> None:
    assert parse_uri("qemu+tls://admin@host.example:16514/system?no_verify=1") == LibvirtURI(
        uri="qemu+tls://admin@host.example:16514/system?no_verify=1",
        driver="qemu",
        transport="tls",
        user="admin",
        host="host.example",
        port=16514,
        path="/system",
        query="no_verify=1",
    )
    local = parse_uri("test:///default")
    assert (local.host, local.port, local.path, local.is_remote) == ("", None, "/default", False)


@pytest.mark.parametrize(
    ("uri", "label"),
    [
        ("qemu:///system", "QEMU/KVM (system)"),
        ("qemu:///session", "QEMU/KVM (user session)"),
        ("qemu+ssh://root@srv1/system", "srv1 (QEMU/KVM over ssh)"),
        ("qemu+ssh://me@srv1/session", "srv1 (QEMU/KVM user session over ssh)"),
        ("qemu+tls://host:16514/system?no_verify=1", "host:16514 (QEMU/KVM over tls)"),
        ("qemu://srv2/system", "srv2 (QEMU/KVM)"),
        ("test:///default", "Test driver (default)"),
        ("test:///x/y/demo-host.xml", "Test driver (demo-host.xml)"),
        ("lxc:///", "LXC"),
        ("xen:///system", "Xen (system)"),
        ("not a uri", "not a uri"),
    ],
)
def test_host_display_name(uri: str, label: str) -> None:
    assert host_display_name(uri) == label


# ------------------------------------------------------------------------------ titles


def test_validate_title_strips_and_allows_empty() -> None:
    assert validate_title("  Web server ") == "Web server"
    assert validate_title("") == ""


@pytest.mark.parametrize("title", ["two\nlines", "carriage\rreturn", "end\r\n"])
def test_validate_title_refuses_line_breaks(title: str) -> None:
    with pytest.raises(ValidationError, match="single line") as info:
        validate_title(title)
    assert info.value.field == "Title"
