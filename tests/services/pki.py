"""Certificates for ``qemu+tls`` tests, made with ``openssl`` (Debian ``openssl``).

:func:`make_pki` writes a CA, a server certificate for 127.0.0.1 and a client
certificate signed by it, plus what the failure tests need: a second, unrelated CA and a client
certificate that has expired. Every command is an
argv list; keys are EC P-256 (fast to make).

The folders use libvirt's file names, so :attr:`Pki.client_dir` is a ``pkipath=`` folder as is
(``cacert.pem``, ``clientcert.pem``, ``clientkey.pem``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.services.common import ServiceUnavailableError, require

_PACKAGE = "openssl"
#: The server certificate names only this address: dialling ``localhost`` is a name mismatch.
SERVER_NAMES = ("127.0.0.1",)
#: The client certificate's distinguished name (what ``tls_allowed_dn_list`` may name).
CLIENT_DN = "/O=vmgui tests/CN=vmgui-client"

_CA_CONF = """\
[ca]
default_ca = expired_ca
[expired_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = anything
copy_extensions = copy
x509_extensions = client_ext
unique_subject = no
[anything]
organizationName = optional
commonName = supplied
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"""


@dataclass(frozen=True, slots=True)
class Pki:
    """Where :func:`make_pki` put its files.

    Attributes:
        folder: everything lives here.
        ca_cert: the CA the server trusts (and the good client folders hold).
        server_cert / server_key: the server's, for 127.0.0.1 only, by the CA.
        client_dir: a good ``pkipath=`` folder (CA, client cert and key).
        rogue_ca_dir: a ``pkipath=`` folder of another CA (its ``cacert.pem`` and a client
            certificate it signed): the server's certificate is not signed by a CA it knows.
        expired_client_dir: a ``pkipath=`` folder whose client certificate expired in 2020.
    """

    folder: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_dir: Path
    rogue_ca_dir: Path
    expired_client_dir: Path


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        raise ServiceUnavailableError(
            f"{' '.join(argv[:3])} failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"
        )


def _key(openssl: str, path: Path) -> None:
    _run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", str(path)], path.parent)  # fmt: skip
    path.chmod(0o600)


def _ca(openssl: str, folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}-key.pem", folder / f"{name}-cert.pem"
    _key(openssl, key)
    _run([openssl, "req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", "30",
          "-subj", f"/O=vmgui tests/CN={name}",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], folder)  # fmt: skip
    return key, cert


def _signed(
    openssl: str, ca: tuple[Path, Path], out: Path, subject: str, extensions: list[str]
) -> Path:
    """A certificate for a new key ``out``-key.pem signed by ``ca``; returns the key's path."""
    key = out.with_name(out.stem + "-key.pem")
    csr = out.with_suffix(".csr")
    _key(openssl, key)
    _run([openssl, "req", "-new", "-key", str(key), "-out", str(csr), "-subj", subject],
         out.parent)  # fmt: skip
    ext = out.with_suffix(".ext")
    ext.write_text("\n".join(extensions) + "\n")
    _run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
          "-CAcreateserial", "-days", "30", "-sha256", "-extfile", str(ext),
          "-out", str(out)], out.parent)  # fmt: skip
    return key


def _server_ext(names: tuple[str, ...]) -> list[str]:
    alt = ",".join(f"IP:{n}" if n[0].isdigit() else f"DNS:{n}" for n in names)
    return [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        f"subjectAltName={alt}",
    ]


_CLIENT_EXT = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=clientAuth",
]


def _client_folder(folder: Path, ca_cert: Path, cert: Path, key: Path) -> Path:
    folder.mkdir(mode=0o700)
    shutil.copyfile(ca_cert, folder / "cacert.pem")
    shutil.copyfile(cert, folder / "clientcert.pem")
    shutil.copyfile(key, folder / "clientkey.pem")
    (folder / "clientkey.pem").chmod(0o600)
    return folder


def _expired_client(openssl: str, folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A client certificate valid only in 2020 (``openssl ca`` sets any dates)."""
    work = folder / "expired-ca"
    work.mkdir()
    (work / "index.txt").write_text("")
    (work / "serial").write_text("1000\n")
    conf = work / "ca.conf"
    conf.write_text(_CA_CONF.format(dir=work))
    key = work / "client-key.pem"
    _key(openssl, key)
    csr = work / "client.csr"
    _run([openssl, "req", "-new", "-key", str(key), "-out", str(csr), "-subj", CLIENT_DN], work)
    cert = work / "client-cert.pem"
    _run([openssl, "ca", "-batch", "-config", str(conf), "-cert", str(ca[1]),
          "-keyfile", str(ca[0]), "-in", str(csr), "-out", str(cert), "-notext",
          "-startdate", "20200101000000Z", "-enddate", "20200201000000Z"], work)  # fmt: skip
    return cert, key


def make_pki(folder: Path) -> Pki:
    """Make every certificate of :class:`Pki` under ``folder`` (created; must not exist).

    Raises:
        ServiceUnavailableError: ``openssl`` is missing or one of its commands failed.
    """
    openssl = require("openssl", _PACKAGE)
    folder.mkdir(mode=0o755, parents=True)
    ca = _ca(openssl, folder, "vmgui-test-ca")
    rogue = _ca(openssl, folder, "vmgui-rogue-ca")
    server_cert = folder / "server-cert.pem"
    server_key = _signed(
        openssl, ca, server_cert, "/O=vmgui tests/CN=127.0.0.1", _server_ext(SERVER_NAMES)
    )
    client_cert = folder / "client-cert.pem"
    client_key = _signed(openssl, ca, client_cert, CLIENT_DN, _CLIENT_EXT)
    rogue_cert = folder / "rogue-client-cert.pem"
    rogue_key = _signed(openssl, rogue, rogue_cert, CLIENT_DN, _CLIENT_EXT)
    expired_cert, expired_key = _expired_client(openssl, folder, ca)
    return Pki(
        folder=folder,
        ca_cert=ca[1],
        server_cert=server_cert,
        server_key=server_key,
        client_dir=_client_folder(folder / "client", ca[1], client_cert, client_key),
        rogue_ca_dir=_client_folder(folder / "rogue", rogue[1], rogue_cert, rogue_key),
        expired_client_dir=_client_folder(folder / "expired", ca[1], expired_cert, expired_key),
    )
