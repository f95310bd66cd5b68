"""TLS in core: the certificate folder field, ``pkipath=`` URIs, libvirt's messages mapped."""

from __future__ import annotations

from pathlib import Path

from vmgui.core.hosturi import (
    HostFields,
    Transport,
    build_uri,
    field_errors,
    fields_from_uri,
    uri_warnings,
)
from vmgui.core.tlsfiles import (
    PKI_FILES,
    SYSTEM_FILES,
    client_files,
    libvirt_tls_problem,
    pki_folder_problem,
    refused_problem,
    uri_pkipath,
    verify_problem,
)


def pki_folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "pki dir"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("pem")
    return folder


def test_pki_folder_round_trips_through_the_uri(tmp_path: Path) -> None:
    folder = pki_folder(tmp_path, *PKI_FILES)
    fields = HostFields(transport=Transport.TLS, user="ann", host="srv", pki_path=str(folder))
    assert field_errors(fields) == {}
    uri = build_uri(fields)
    assert uri == f"qemu+tls://ann@srv/system?pkipath={str(folder).replace(' ', '%20')}"
    assert uri_pkipath(uri) == str(folder)
    assert fields_from_uri(uri) == fields
    ssh = HostFields(transport=Transport.SSH, host="srv", pki_path=str(folder))
    assert "pkipath" not in build_uri(ssh)  # only TLS reads it


def test_pki_folder_must_hold_libvirts_three_files(tmp_path: Path) -> None:
    folder = pki_folder(tmp_path, "cacert.pem")
    errors = field_errors(HostFields(transport=Transport.TLS, host="h", pki_path=str(folder)))
    assert errors == {
        "pki_path": f"Certificate folder {str(folder)!r} lacks clientcert.pem, clientkey.pem."
    }
    assert "does not exist" in pki_folder_problem(str(tmp_path / "nope"))


def test_default_files_follow_libvirt(tmp_path: Path) -> None:
    assert client_files("", home=tmp_path, root=True) == SYSTEM_FILES
    assert client_files("", home=tmp_path, root=False) == SYSTEM_FILES  # ~/.pki incomplete
    user = tmp_path / ".pki" / "libvirt"
    user.mkdir(parents=True)
    for name in PKI_FILES:
        (user / name).write_text("pem")
    assert client_files("", home=tmp_path, root=False)[1] == user / "clientcert.pem"
    assert client_files("/p", home=tmp_path, root=False)[2] == Path("/p/clientkey.pem")


def test_typed_no_verify_warns_about_the_certificate() -> None:
    [warning] = uri_warnings("qemu+tls://h/system?no_verify=1")
    assert "certificate is not checked" in warning


def test_libvirt_messages_become_one_sentence_and_a_hint() -> None:
    cases = {
        "Cannot read CA certificate '/p/cacert.pem': No such file or directory": (
            "The CA certificate /p/cacert.pem cannot be read (No such file or directory)."
        ),
        "The client certificate /p/clientcert.pem has expired": (
            "The client certificate /p/clientcert.pem has expired."
        ),
        "Our own certificate /p/clientcert.pem failed validation against /p/cacert.pem: "
        "The certificate hasn't got a known issuer.": (
            "The client certificate /p/clientcert.pem is not signed by the CA in /p/cacert.pem "
            "(The certificate hasn't got a known issuer)."
        ),
        "Unable to import client certificate /p/clientcert.pem": (
            "The client certificate /p/clientcert.pem is not a PEM certificate or key libvirt "
            "can read."
        ),
    }
    for message, details in cases.items():
        problem = libvirt_tls_problem(message)
        assert problem is not None and problem.details == details and problem.hint
    assert libvirt_tls_problem("authentication failed: Failed to verify peer's certificate") is None


def test_openssl_verify_codes(tmp_path: Path) -> None:
    ca = tmp_path / "cacert.pem"
    assert "not signed by the CA in" in verify_problem(20, "unable to get", "h", ca).details
    assert "not valid for the name 'h'" in verify_problem(62, "Hostname mismatch", "h", ca).details
    assert "has expired" in verify_problem(10, "certificate has expired", "h", ca).details
    folder = pki_folder(tmp_path, "cacert.pem", "clientcert.pem")
    files = client_files(str(folder), home=tmp_path, root=True)
    assert refused_problem(files).details.endswith("clientkey.pem is missing.")
    (folder / "clientkey.pem").write_text("pem")
    assert "refused the client certificate" in refused_problem(files).details


def test_probe_of_an_unreadable_ca_says_nothing(tmp_path: Path) -> None:
    from vmgui.virt.tlsprobe import probe_server

    assert probe_server("127.0.0.1", 1, tmp_path / "missing.pem") is None
    (tmp_path / "junk.pem").write_text("not a certificate")
    assert probe_server("127.0.0.1", 1, tmp_path / "junk.pem") is None
