"""The Add/Edit Host form's fields, the libvirt URI they make, and warnings about a URI (pure).

vmgui's defaults (``known_hosts=`` for libssh2, ``keyfile=``, ``no_verify=``, ``pkipath=``) go
only into URIs built here from the fields; a URI the user types is used verbatim.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from vmgui.core.tlsfiles import pki_folder_problem
from vmgui.core.validation import ValidationError, parse_uri


class Transport(enum.Enum):
    """How vmgui reaches the host."""

    LOCAL = "local"
    SSH = "ssh"
    TLS = "tls"
    TCP = "tcp"

    @property
    def label(self) -> str:
        """The text the form shows."""
        return {
            Transport.LOCAL: "Local",
            Transport.SSH: "SSH",
            Transport.TLS: "TLS",
            Transport.TCP: "TCP (unencrypted)",
        }[self]


_HOST_RE = re.compile(
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]+")
_USER_RE = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*\$?")


@dataclass(frozen=True, slots=True)
class HostFields:
    """What the Add/Edit Host form holds.

    Attributes:
        session: the user's session daemon instead of the system one.
        transport: local, SSH, TLS or TCP.
        user: the remote user ("" = the local user).
        host: host name or IP address (IPv6 without brackets).
        port: "" for the transport's default, else 1-65535.
        key_file: an SSH private key ("" = ssh's own choice).
        verify_host_key: False adds ``no_verify=1`` to an SSH URI (never silently; TLS never
            gets it from the form: a typed URI with it is used as typed, with a warning).
        pki_path: the TLS certificate folder, ``pkipath=`` ("" = libvirt's default places).
    """

    session: bool = False
    transport: Transport = Transport.LOCAL
    user: str = ""
    host: str = ""
    port: str = ""
    key_file: str = ""
    verify_host_key: bool = True
    pki_path: str = ""


def field_errors(fields: HostFields) -> dict[str, str]:
    """The problem of each field that has one (field name -> sentence), or {}."""
    errors: dict[str, str] = {}
    if fields.transport is Transport.LOCAL:
        return errors
    host = fields.host.strip()
    if not host:
        errors["host"] = "Host must not be empty."
    elif not (_HOST_RE.fullmatch(host) or (":" in host and _IPV6_RE.fullmatch(host))):
        errors["host"] = f"Host {host!r} is not a host name or IP address."
    port = fields.port.strip()
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        errors["port"] = f"Port must be a number from 1 to 65535 (got {port!r})."
    user = fields.user.strip()
    if user and not _USER_RE.fullmatch(user):
        errors["user"] = f"User {user!r} is not a user name."
    key = fields.key_file.strip()
    if key and fields.transport is Transport.SSH:
        path = os.path.expanduser(key)
        if not os.path.isfile(path):
            errors["key_file"] = f"Key file {key!r} does not exist."
        elif not os.access(path, os.R_OK):
            errors["key_file"] = f"Key file {key!r} is not readable."
    pki = fields.pki_path.strip() if fields.transport is Transport.TLS else ""
    if pki and (problem := pki_folder_problem(pki)):
        errors["pki_path"] = problem
    return errors


def build_uri(fields: HostFields) -> str:
    """The libvirt URI for ``fields`` (check :func:`field_errors` first)."""
    path = "/session" if fields.session else "/system"
    if fields.transport is Transport.LOCAL:
        return f"qemu://{path}"
    host = fields.host.strip()
    if ":" in host:
        host = f"[{host}]"
    user = fields.user.strip()
    authority = f"{quote(user, safe='')}@{host}" if user else host
    if fields.port.strip():
        authority += f":{fields.port.strip()}"
    query: list[str] = []
    if fields.transport is Transport.SSH and fields.key_file.strip():
        query.append("keyfile=" + quote(os.path.expanduser(fields.key_file.strip()), safe="/"))
    if fields.transport is Transport.TLS and fields.pki_path.strip():
        query.append("pkipath=" + quote(os.path.expanduser(fields.pki_path.strip()), safe="/"))
    if not fields.verify_host_key and fields.transport is Transport.SSH:
        query.append("no_verify=1")
    tail = "?" + "&".join(query) if query else ""
    return f"qemu+{fields.transport.value}://{authority}{path}{tail}"


def fields_from_uri(uri: str) -> HostFields | None:
    """The form fields that rebuild ``uri`` exactly, or None when the form cannot show it."""
    try:
        parts = parse_uri(uri)
    except ValidationError:
        return None
    if parts.driver != "qemu":
        return None
    transport = {"": Transport.LOCAL, "ssh": Transport.SSH, "tls": Transport.TLS}.get(
        parts.transport, Transport.TCP if parts.transport == "tcp" else None
    )
    if transport is None or (transport is Transport.LOCAL and parts.host):
        return None
    params = dict(item.partition("=")[::2] for item in parts.query.split("&") if item)
    fields = HostFields(
        session=parts.path.rstrip("/") == "/session",
        transport=transport,
        user=parts.user,
        host=parts.host.strip("[]"),
        port="" if parts.port is None else str(parts.port),
        key_file=params.pop("keyfile", ""),
        verify_host_key=params.pop("no_verify", "0") != "1",
        pki_path=unquote(params.pop("pkipath", "")),
    )
    return fields if build_uri(fields) == parts.uri else None


def uri_warnings(uri: str) -> list[str]:
    """What the user should know before connecting ``uri`` (sentences; [] for none)."""
    try:
        parts = parse_uri(uri)
    except ValidationError:
        return []
    warnings = []
    if parts.transport == "libssh":
        warnings.append(
            "qemu+libssh is unreliable with libvirt 9.0 (large replies stall and a wrong "
            "password can hang the connect for ever): use qemu+ssh or qemu+libssh2."
        )
    if parts.transport == "tcp":
        warnings.append("qemu+tcp is not encrypted unless SASL negotiates it.")
    if "no_verify=1" in parts.query.split("&"):
        if parts.transport == "tls":
            warnings.append(
                "no_verify=1: the server's certificate is not checked (any server that claims "
                "this address is trusted)."
            )
        else:
            warnings.append("no_verify=1 accepts any host key or certificate, even a changed one.")
    return warnings
