"""Why a ``qemu+tls`` handshake failed, when libvirt does not say (blocking; on a worker).

libvirt reports every problem with the server's certificate as "Failed to verify peer's
certificate" (the reason goes only to its log), and a server that refuses our certificate as
"Unable to read TLS confirmation". :func:`diagnose` looks again: it checks the client files and
repeats the server-certificate check with Python's OpenSSL against the same CA file, which
names the reason (unknown CA, name mismatch, expired).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from pathlib import Path

from vmgui.core.tlsfiles import (
    PEER_VERIFY_FAILED,
    SERVER_REFUSED,
    TlsProblem,
    client_files,
    refused_problem,
    uri_pkipath,
    verify_problem,
)
from vmgui.core.validation import ValidationError, parse_uri

_log = logging.getLogger(__name__)

#: libvirt's TLS port.
DEFAULT_TLS_PORT = 16514
#: Seconds the second handshake may take.
PROBE_TIMEOUT = 5.0


def diagnose(uri: str, message: str) -> TlsProblem | None:
    """The reason behind libvirt's TLS ``message`` for ``uri``, or None if it is not one."""
    if PEER_VERIFY_FAILED not in message and SERVER_REFUSED not in message:
        return None
    try:
        parts = parse_uri(uri)
    except ValidationError:
        return None
    if parts.transport != "tls":
        return None
    files = client_files(uri_pkipath(uri), home=Path.home(), root=os.geteuid() == 0)
    if SERVER_REFUSED in message:
        return refused_problem(files)
    return probe_server(parts.host.strip("[]"), parts.port or DEFAULT_TLS_PORT, files[0])


def probe_server(host: str, port: int, ca_file: Path) -> TlsProblem | None:
    """Check the server's certificate against ``ca_file`` and ``host``; its problem or None."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        with (
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return verify_problem(exc.verify_code, exc.verify_message, host, ca_file)
    except (OSError, ssl.SSLError) as exc:  # unreachable now, or TLS itself failed
        _log.info("TLS probe of %s:%s failed: %s", host, port, exc)
        return None
