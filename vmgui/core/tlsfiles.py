"""``qemu+tls`` certificates: the files libvirt reads, and what its failures mean (pure).

libvirt's client reads three files from a ``pkipath=`` folder: ``cacert.pem`` (the CA that
signed the server), ``clientcert.pem`` and ``clientkey.pem`` (us). Without ``pkipath`` it uses
``~/.pki/libvirt/`` for a non-root user when all three are there, else the system places
(:data:`SYSTEM_FILES`). :func:`libvirt_tls_problem` turns libvirt's messages into one sentence
and what to do; :func:`verify_problem` does the same for a server-certificate check made with
OpenSSL (libvirt itself only says "Failed to verify peer's certificate").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from vmgui.core.validation import ValidationError, parse_uri

#: The file names libvirt reads from a ``pkipath=`` folder, in that order.
PKI_FILES = ("cacert.pem", "clientcert.pem", "clientkey.pem")
#: Where root's libvirt looks without ``pkipath``.
SYSTEM_FILES = (
    Path("/etc/pki/CA/cacert.pem"),
    Path("/etc/pki/libvirt/clientcert.pem"),
    Path("/etc/pki/libvirt/private/clientkey.pem"),
)
#: libvirt's message when the server's certificate failed the client's check.
PEER_VERIFY_FAILED = "Failed to verify peer's certificate"
#: libvirt's message when the server dropped the handshake (it refused our certificate).
SERVER_REFUSED = "Unable to read TLS confirmation"

_FOLDER_HINT = (
    "Choose a certificate folder (pkipath) that holds cacert.pem, clientcert.pem and "
    "clientkey.pem: the CA's certificate and the client certificate and key it signed."
)


@dataclass(frozen=True, slots=True)
class TlsProblem:
    """Why a TLS connect failed, in words for the user.

    Attributes:
        details: one sentence naming the file or the name and the reason.
        hint: what to do about it.
    """

    details: str
    hint: str


def uri_pkipath(uri: str) -> str:
    """The ``pkipath=`` of a URI ("" when it has none or is not a URI)."""
    try:
        query = parse_uri(uri).query
    except ValidationError:
        return ""
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key == "pkipath":
            return unquote(value)
    return ""


def client_files(pkipath: str, *, home: Path, root: bool) -> tuple[Path, Path, Path]:
    """The CA, client certificate and key libvirt reads for ``pkipath`` ("" = its defaults)."""
    if pkipath:
        folder = Path(os.path.expanduser(pkipath))
        return (folder / PKI_FILES[0], folder / PKI_FILES[1], folder / PKI_FILES[2])
    if not root:
        user = tuple(home / ".pki" / "libvirt" / name for name in PKI_FILES)
        if all(path.exists() for path in user):
            return (user[0], user[1], user[2])
    return SYSTEM_FILES


def missing_files(files: tuple[Path, ...]) -> list[str]:
    """A sentence per file that is missing or unreadable (reads the file system)."""
    problems = []
    for path in files:
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif not os.access(path, os.R_OK):
            problems.append(f"{path} is not readable")
    return problems


def pki_folder_problem(folder: str) -> str:
    """Why ``folder`` is not a usable ``pkipath`` ("" when it is; reads the file system)."""
    path = Path(os.path.expanduser(folder.strip()))
    if not path.is_dir():
        return f"Certificate folder {folder.strip()!r} does not exist."
    missing = [n for n in PKI_FILES if not (path / n).is_file()]
    if missing:
        return f"Certificate folder {folder.strip()!r} lacks {', '.join(missing)}."
    unreadable = [n for n in PKI_FILES if not os.access(path / n, os.R_OK)]
    if unreadable:
        return f"In {folder.strip()!r}, {', '.join(unreadable)} cannot be read."
    return ""


_CANNOT_READ = re.compile(r"Cannot read (CA certificate|certificate|private key) '([^']*)': (.*)")
_OWN_INVALID = re.compile(r"Our own certificate (\S+) failed validation against (\S+): (.*)")
_OWN_TIME = re.compile(r"The (client|CA) certificate (\S+) (has expired|is not yet active)")
_IMPORT = re.compile(r"Unable to import (client certificate|private key|CA certificate) (\S+)")
_KINDS = {
    "CA certificate": "The CA certificate",
    "certificate": "The client certificate",
    "private key": "The client key",
    "client certificate": "The client certificate",
}


def libvirt_tls_problem(message: str) -> TlsProblem | None:
    """What libvirt's TLS failure ``message`` means when it says so itself, or None.

    The two messages that need a look at the files or the server (:data:`PEER_VERIFY_FAILED`,
    :data:`SERVER_REFUSED`) are not handled here.
    """
    if match := _CANNOT_READ.search(message):
        kind, path, reason = match.groups()
        return TlsProblem(f"{_KINDS[kind]} {path} cannot be read ({reason}).", _FOLDER_HINT)
    if match := _OWN_INVALID.search(message):
        cert, ca, reason = match.groups()
        reason = reason.rstrip(".")
        return TlsProblem(
            f"The client certificate {cert} is not signed by the CA in {ca} ({reason}).",
            "Use the client certificate the host's CA signed, or the CA certificate that "
            "signed yours.",
        )
    if match := _OWN_TIME.search(message):
        kind, path, state = match.groups()
        renew = "Ask the host's administrator for a new certificate signed by the same CA"
        return TlsProblem(
            f"The {kind} certificate {path} {state}.",
            f"{renew}, or check this computer's clock." if "not yet" in state else f"{renew}.",
        )
    if match := _IMPORT.search(message):
        kind, path = match.groups()
        return TlsProblem(
            f"{_KINDS[kind]} {path} is not a PEM certificate or key libvirt can read.",
            _FOLDER_HINT,
        )
    return None


# OpenSSL's X509_V_ERR_* codes (Python's ssl.SSLCertVerificationError.verify_code).
_UNKNOWN_ISSUER = frozenset({2, 18, 19, 20, 21})
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = frozenset({62, 64})


def verify_problem(code: int, message: str, host: str, ca_file: Path) -> TlsProblem:
    """The server certificate's problem from OpenSSL's verify ``code`` and ``message``."""
    if code in _UNKNOWN_ISSUER:
        return TlsProblem(
            f"The server's certificate is not signed by the CA in {ca_file} ({message}).",
            "Put the certificate of the CA that signed the server (ask its administrator) "
            "in the certificate folder as cacert.pem.",
        )
    if code in _NAME_MISMATCH:
        return TlsProblem(
            f"The server's certificate is not valid for the name {host!r}.",
            "Connect with the host name or address its certificate names, or ask its "
            "administrator for a certificate with this name.",
        )
    if code in (_EXPIRED, _NOT_YET_VALID):
        state = "has expired" if code == _EXPIRED else "is not yet valid"
        return TlsProblem(
            f"The server's certificate {state}.",
            "Ask the host's administrator to renew it, or check this computer's clock.",
        )
    return TlsProblem(
        f"The server's certificate was refused: {message}.",
        "Check the server's certificate and the CA in the certificate folder.",
    )


def refused_problem(files: tuple[Path, ...]) -> TlsProblem:
    """The server ended the handshake: our certificate is missing or it does not trust it."""
    missing = missing_files(files[1:])
    if missing:
        return TlsProblem(
            "The server asked for a client certificate, but " + " and ".join(missing) + ".",
            _FOLDER_HINT,
        )
    return TlsProblem(
        f"The server refused the client certificate {files[1]}.",
        "Ask the host's administrator whether its CA signed this certificate and whether "
        "its name is allowed (tls_allowed_dn_list).",
    )
