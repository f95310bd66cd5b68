"""Validators for what users type: guest names and titles, vCPUs, memory, sizes, host URIs.

Every validator raises :class:`ValidationError` whose message names the field and
the rule that was broken, so the UI can show it as is.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass

MAX_GUEST_NAME = 64
MAX_VCPUS = 4096
MIN_MEMORY_MIB = 16

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")

# libvirt's scaling suffixes (virScaleInteger): single letters and "iB" are powers of
# 1024, "B" suffixes (KB, MB, ...) are powers of 1000. Case-insensitive.
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
_BINARY = {letter: 1 << (10 * power) for letter, power in _POWERS.items()}
_DECIMAL = {letter: int("1" + "000" * power) for letter, power in _POWERS.items()}
_SIZE_RE = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[A-Za-z]*)")

REMOTE_TRANSPORTS = frozenset({"ssh", "tls", "tcp", "unix", "ext", "libssh", "libssh2"})

_DRIVER_LABELS = {
    "qemu": "QEMU/KVM",
    "test": "Test driver",
    "lxc": "LXC",
    "xen": "Xen",
    "libxl": "Xen",
    "vbox": "VirtualBox",
    "vmwareplayer": "VMware Player",
    "vmwarews": "VMware Workstation",
    "vmwarefusion": "VMware Fusion",
    "esx": "VMware ESX",
    "gsx": "VMware GSX",
    "vpx": "VMware vCenter",
    "hyperv": "Hyper-V",
    "openvz": "OpenVZ",
    "bhyve": "bhyve",
    "vz": "Virtuozzo",
    "parallels": "Parallels",
    "ch": "Cloud Hypervisor",
    "remote": "libvirt",
}
KNOWN_DRIVERS = frozenset(_DRIVER_LABELS)

_URI_RE = re.compile(
    r"(?P<driver>[A-Za-z][A-Za-z0-9]*)"
    r"(?:\+(?P<transport>[^:/]*))?"
    r"://"
    r"(?P<authority>[^/?#]*)"
    r"(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?"
)
_AUTHORITY_RE = re.compile(
    r"(?:(?P<user>[^@]+)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]*)"
    r"(?::(?P<port>[^:]*))?"
)
_URI_EXAMPLE = (
    "Expected driver[+transport]://[user@][host][:port]/path, "
    "e.g. qemu:///system or qemu+ssh://root@server/system."
)


class ValidationError(ValueError):
    """A value the user entered breaks a rule.

    Attributes:
        field: the name of the field the value belongs to (e.g. "Name").
        message: a sentence naming the field and the rule.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def validate_guest_name(name: str) -> str:
    """Check a new guest's name.

    Args:
        name: the name as typed; surrounding whitespace is ignored.

    Returns:
        The stripped name.

    Raises:
        ValidationError: if the name is empty, longer than 64 characters, holds other
            characters than ASCII letters, digits, '.', '_' and '-', or starts with
            '-' or '.'.
    """
    name = name.strip()
    if not name:
        raise ValidationError("Name", "Name must not be empty.")
    if len(name) > MAX_GUEST_NAME:
        raise ValidationError(
            "Name", f"Name must be at most {MAX_GUEST_NAME} characters long (it has {len(name)})."
        )
    if not _NAME_RE.fullmatch(name):
        bad = sorted({c for c in name if not _NAME_RE.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad)
        rule = "Name may only contain letters A-Z and a-z, digits, '.', '_' and '-'"
        raise ValidationError("Name", f"{rule} (found {shown}).")
    if name[0] in "-.":
        raise ValidationError("Name", f"Name must not start with {name[0]!r}.")
    return name


def validate_title(title: str) -> str:
    """Check a guest's title (its one-line short description).

    Args:
        title: the title as typed; surrounding whitespace is ignored, "" clears the title.

    Returns:
        The stripped title.

    Raises:
        ValidationError: if the title holds a line break ("\\n" or "\\r"; libvirt refuses
            those).
    """
    if "\n" in title or "\r" in title:
        raise ValidationError("Title", "A guest title must be a single line.")
    return title.strip()


def _require_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"{field} must be a whole number (got {value!r}).")
    return value


def validate_vcpus(n: int, host_cpus: int | None = None, max_vcpus: int | None = None) -> int:
    """Check a number of virtual CPUs.

    Args:
        n: the requested vCPU count.
        host_cpus: the host's logical CPUs; more vCPUs than that are refused.
        max_vcpus: the hypervisor's or guest's limit (default 4096).

    Returns:
        ``n``.

    Raises:
        ValidationError: if ``n`` is not an integer in 1..limit or exceeds the host's CPUs.
    """
    n = _require_int("vCPUs", n)
    limit = max_vcpus or MAX_VCPUS
    if not 1 <= n <= limit:
        raise ValidationError("vCPUs", f"vCPUs must be between 1 and {limit} (got {n}).")
    if host_cpus is not None and n > host_cpus:
        raise ValidationError(
            "vCPUs",
            f"vCPUs must not exceed the host's CPUs: the host has {host_cpus} CPUs (got {n}).",
        )
    return n


def validate_memory_mib(mib: int, host_memory_kib: int | None = None) -> int:
    """Check a guest memory size in MiB.

    Args:
        mib: the requested memory in MiB.
        host_memory_kib: the host's physical memory in KiB; more than that is refused.

    Returns:
        ``mib``.

    Raises:
        ValidationError: if ``mib`` is not an integer, is below 16 MiB or exceeds the
            host's memory.
    """
    mib = _require_int("Memory", mib)
    if mib < MIN_MEMORY_MIB:
        raise ValidationError(
            "Memory", f"Memory must be at least {MIN_MEMORY_MIB} MiB (got {mib} MiB)."
        )
    if host_memory_kib is not None and mib * 1024 > host_memory_kib:
        raise ValidationError(
            "Memory",
            f"Memory must not exceed the host's memory: the host has "
            f"{host_memory_kib // 1024} MiB (got {mib} MiB).",
        )
    return mib


def unit_factor(unit: str) -> int:
    """Bytes per ``unit``, with libvirt's rules.

    "b"/"byte"/"bytes" is 1; "k", "KiB", "M", "MiB", ... are powers of 1024; "KB",
    "MB", "GB", ... are powers of 1000. Case-insensitive. Up to exbibytes.

    Args:
        unit: the unit suffix; must not be empty.

    Returns:
        The number of bytes in one ``unit``.

    Raises:
        ValueError: if ``unit`` is not a known unit.
    """
    lower = unit.lower()
    if lower in ("b", "byte", "bytes"):
        return 1
    if lower and lower[0] in _POWERS:
        rest = lower[1:]
        if rest in ("", "ib"):
            return _BINARY[lower[0]]
        if rest == "b":
            return _DECIMAL[lower[0]]
    raise ValueError(f"unknown size unit {unit!r}")


def parse_size(text: str, default_unit: str = "MiB", field: str = "Size") -> int:
    """Parse a size such as '512M', '2G', '2 GiB', '1.5G' or '1024' into bytes.

    Suffixes follow libvirt: K/M/G/T (and KiB/MiB/GiB/TiB) are binary, KB/MB/GB/TB
    are decimal, B is bytes; case does not matter. A bare number is in
    ``default_unit``. Fractions of a byte are rounded to the nearest byte.

    Args:
        text: what the user typed.
        default_unit: the unit of a bare number (e.g. "MiB" for memory, "GiB" for disks).
        field: the field name used in error messages.

    Returns:
        The size in bytes (0 or more).

    Raises:
        ValidationError: if the text is empty, negative, not a number or has an
            unknown unit.
        ValueError: if ``default_unit`` itself is unknown (a programming error).
    """
    default_factor = unit_factor(default_unit)
    stripped = text.strip()
    example = f"e.g. 512M, 2G, 2 GiB or 1.5G; a bare number is in {default_unit}"
    if not stripped:
        raise ValidationError(field, f"{field} must not be empty ({example}).")
    if stripped.startswith("-"):
        raise ValidationError(field, f"{field} must not be negative (got {stripped!r}).")
    match = _SIZE_RE.fullmatch(stripped)
    if match is None:
        raise ValidationError(field, f"{field} {stripped!r} is not a size ({example}).")
    unit: str = match["unit"]
    try:
        factor = unit_factor(unit) if unit else default_factor
    except ValueError:
        raise ValidationError(
            field,
            f"{field} has an unknown unit {unit!r} (use B, K/KiB, M/MiB, G/GiB, T/TiB, "
            f"or KB/MB/GB/TB for powers of 1000).",
        ) from None
    number: str = match["number"]
    if "." in number:
        value = float(number) * factor
        if not math.isfinite(value):
            raise ValidationError(field, f"{field} {stripped!r} is too large.")
        return round(value)
    return int(number) * factor


@dataclass(frozen=True, slots=True)
class LibvirtURI:
    """The parts of a libvirt connection URI.

    Attributes:
        uri: the URI as given (stripped).
        driver: e.g. "qemu", "test".
        transport: e.g. "ssh", or "" when none is given.
        user: the user name, or "".
        host: the host name (IPv6 addresses keep their brackets), or "" for local.
        port: the port, or None.
        path: e.g. "/system", or "".
        query: the text after '?', or "".
    """

    uri: str
    driver: str
    transport: str
    user: str
    host: str
    port: int | None
    path: str
    query: str

    @property
    def is_remote(self) -> bool:
        """Whether the URI names another host."""
        return bool(self.host)


def parse_uri(uri: str) -> LibvirtURI:
    """Split and check a libvirt URI.

    Args:
        uri: e.g. "qemu+ssh://root@server/system".

    Returns:
        The URI's parts.

    Raises:
        ValidationError: if the URI is not of the form
            ``driver[+transport]://[user@][host][:port]/path[?query]``, names an unknown
            driver or transport, has a bad port, or a qemu path other than /system,
            /session or /embed.
    """
    field = "URI"
    stripped = uri.strip()
    if not stripped:
        raise ValidationError(field, f"URI must not be empty. {_URI_EXAMPLE}")
    if any(c.isspace() for c in stripped):
        raise ValidationError(field, f"URI must not contain spaces. {_URI_EXAMPLE}")
    if "://" not in stripped:
        raise ValidationError(field, f"URI {stripped!r} lacks '://'. {_URI_EXAMPLE}")
    match = _URI_RE.fullmatch(stripped)
    if match is None:
        raise ValidationError(field, f"URI {stripped!r} is not a libvirt URI. {_URI_EXAMPLE}")
    driver = match["driver"].lower()
    if driver not in KNOWN_DRIVERS:
        raise ValidationError(
            field,
            f"URI names an unknown driver {driver!r} (known: qemu, test, lxc, xen, ...). "
            f"{_URI_EXAMPLE}",
        )
    transport = (match["transport"] or "").lower()
    if match["transport"] is not None and transport not in REMOTE_TRANSPORTS:
        allowed = ", ".join(sorted(REMOTE_TRANSPORTS))
        raise ValidationError(
            field,
            f"URI names an unknown transport {match['transport']!r} (allowed: {allowed}). "
            f"{_URI_EXAMPLE}",
        )
    authority = _AUTHORITY_RE.fullmatch(match["authority"])
    if authority is None:
        raise ValidationError(
            field, f"URI has a bad host part {match['authority']!r}. {_URI_EXAMPLE}"
        )
    port: int | None = None
    if authority["port"] is not None:
        text = authority["port"]
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ValidationError(
                field, f"URI port must be a number from 1 to 65535 (got {text!r}). {_URI_EXAMPLE}"
            )
        port = int(text)
    host = authority["host"]
    if (port is not None or authority["user"]) and not host:
        raise ValidationError(field, f"URI has a user or port but no host. {_URI_EXAMPLE}")
    path = match["path"] or ""
    if driver == "qemu" and path.rstrip("/") not in ("/system", "/session", "/embed"):
        raise ValidationError(
            field,
            f"A QEMU URI must end in /system or /session (got {path or 'no path'!r}). "
            f"{_URI_EXAMPLE}",
        )
    return LibvirtURI(
        uri=stripped,
        driver=driver,
        transport=transport,
        user=authority["user"] or "",
        host=host,
        port=port,
        path=path,
        query=match["query"] or "",
    )


def validate_uri(uri: str) -> str:
    """Check a libvirt connection URI.

    Accepts ``driver[+transport]://[user@][host][:port]/path[?query]`` such as
    "qemu:///system", "qemu+ssh://root@host/system",
    "qemu+tls://host:16514/system?no_verify=1", "test:///default", "lxc:///".

    Args:
        uri: the URI as typed; surrounding whitespace is ignored.

    Returns:
        The stripped URI.

    Raises:
        ValidationError: see :func:`parse_uri`.
    """
    return parse_uri(uri).uri


def host_display_name(uri: str) -> str:
    """A friendly label for a host connection.

    Examples: "qemu:///system" → "QEMU/KVM (system)", "qemu:///session" →
    "QEMU/KVM (user session)", "qemu+ssh://root@srv1/system" → "srv1 (QEMU/KVM over
    ssh)", "test:///default" → "Test driver (default)", "test:///x/demo.xml" →
    "Test driver (demo.xml)". An invalid URI is shown as is.

    Args:
        uri: a libvirt URI.

    Returns:
        The label.
    """
    try:
        parts = parse_uri(uri)
    except ValidationError:
        return uri
    label = _DRIVER_LABELS[parts.driver]
    path = parts.path.rstrip("/")
    if parts.driver == "qemu":
        detail = "user session" if path == "/session" else path.lstrip("/")
    elif parts.driver == "test":
        detail = posixpath.basename(path) if path != "/default" else "default"
    else:
        detail = path.lstrip("/")
    if not parts.is_remote:
        return f"{label} ({detail})" if detail else label
    host = parts.host if parts.port is None else f"{parts.host}:{parts.port}"
    what = label if detail in ("", "system") else f"{label} {detail}"
    if parts.transport:
        what = f"{what} over {parts.transport}"
    return f"{host} ({what})"
