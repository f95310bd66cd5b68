"""A libvirt host that listens on ``qemu+tls`` (and optionally asks for SASL SCRAM-SHA-256).

A :class:`~tests.services.secondhost.SecondHost` of its own (state dir, ports, host name, host
UUID: the ``second_host`` fixture is untouched) whose ``libvirtd.conf`` adds ``listen_tls=1`` on
:data:`TLS_PORT` with the certificates of :func:`~tests.services.pki.make_pki`. With ``sasl``,
``auth_tls="sasl"`` and a Cyrus SASL config (``SASL_CONF_PATH`` in the daemon's environment)
that offers only ``scram-sha-256`` against a sasldb made with ``saslpasswd2`` (Debian
``sasl2-bin``; the mechanism is ``libscram.so`` of ``libsasl2-modules``).

The server certificate names only ``127.0.0.1``: dialling ``localhost`` is the hostname-mismatch
case. Needs root.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tests.services.common import ServiceUnavailableError, Stoppable, remove_tree, require
from tests.services.pki import Pki, make_pki
from tests.services.secondhost import TCP_ADDRESS, SecondHost

TLS_PORT = 16524
TLS_TCP_PORT = 16529
SASL_TLS_PORT = 16534
SASL_TCP_PORT = 16539
SASL_USER = "vmgui-sasl"
SASL_PASSWORD = "vmgui-sasl-Pass-3"
_SASL_PACKAGE = "sasl2-bin"
_SCRAM_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/sasl2/libscram.so")


@dataclass
class TlsHost(Stoppable):
    """A running TLS host; :meth:`start` makes one.

    Attributes:
        host: the libvirt daemons (see :class:`SecondHost`).
        pki: its certificates; ``pki.client_dir`` is a good ``pkipath=``.
        tls_port: its TLS port on 127.0.0.1.
        sasl_user / sasl_password: the SASL account ("" when started without SASL).
        folder: the certificates and SASL files (removed by :meth:`stop`).
    """

    host: SecondHost
    pki: Pki
    tls_port: int
    sasl_user: str
    sasl_password: str
    folder: Path

    @classmethod
    def start(
        cls,
        state_dir: Path,
        folder: Path,
        *,
        sasl: bool = False,
        tls_port: int = TLS_PORT,
        tcp_port: int = TLS_TCP_PORT,
        hostname: str = "vmgui-svc-tlshost",
    ) -> TlsHost:
        """Make the certificates in ``folder`` (new) and start the daemon in ``state_dir``.

        Raises:
            ServiceUnavailableError: openssl, saslpasswd2 or the SCRAM plugin is missing, or
                the daemon did not start (the message says which).
        """
        pki = make_pki(folder / "pki")
        settings: dict[str, str | int] = {
            "listen_tls": 1,
            "tls_port": str(tls_port),
            "ca_file": str(pki.ca_cert),
            "cert_file": str(pki.server_cert),
            "key_file": str(pki.server_key),
            "auth_tls": "sasl" if sasl else "none",
        }
        environ: dict[str, str] = {}
        user = password = ""
        try:
            if sasl:
                user, password = SASL_USER, SASL_PASSWORD
                environ["SASL_CONF_PATH"] = str(_sasl_config(folder / "sasl", hostname))
            host = SecondHost.start(
                state_dir,
                hostname=hostname,
                tcp_port=tcp_port,
                settings=settings,
                environ=environ,
            )
        except BaseException:
            remove_tree(folder)
            raise
        return cls(host, pki, tls_port, user, password, folder)

    def uri_tls(self, *, host: str = TCP_ADDRESS, pkipath: Path | None = None) -> str:
        """``qemu+tls://HOST:PORT/system?pkipath=…`` (the good client folder by default)."""
        folder = self.pki.client_dir if pkipath is None else pkipath
        return f"qemu+tls://{host}:{self.tls_port}/system?pkipath={quote(str(folder), safe='/')}"

    def stop(self) -> None:
        """Stop the daemons and remove the certificates (idempotent)."""
        try:
            self.host.stop()
        finally:
            remove_tree(self.folder)


def _sasl_config(folder: Path, realm: str) -> Path:
    """A ``libvirt.conf`` for Cyrus SASL (SCRAM-SHA-256 only) and its sasldb; the folder."""
    saslpasswd2 = require("saslpasswd2", _SASL_PACKAGE)
    if not _SCRAM_PLUGIN.exists():
        raise ServiceUnavailableError(
            f"{_SCRAM_PLUGIN} is missing: install the Debian package libsasl2-modules"
        )
    folder.mkdir(mode=0o700, parents=True)
    db = folder / "passwd.db"
    (folder / "libvirt.conf").write_text(f"mech_list: scram-sha-256\nsasldb_path: {db}\n")
    done = subprocess.run(
        [saslpasswd2, "-f", str(db), "-a", "libvirt", "-u", realm, "-p", "-c", SASL_USER],
        input=SASL_PASSWORD,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServiceUnavailableError(f"saslpasswd2 failed: {done.stderr.strip()}")
    return folder
