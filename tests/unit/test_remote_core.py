"""The ssh prompt parsers and the Add Host form's URI rules (pure)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from vmgui.core.hosturi import (
    HostFields,
    Transport,
    build_uri,
    field_errors,
    fields_from_uri,
    uri_warnings,
)
from vmgui.core.sshprompts import (
    PromptKind,
    classify_prompt,
    match_scanned_key,
    md5_fingerprint,
    parse_libssh2_host_key,
    parse_openssh_host_key,
    sha256_fingerprint,
)

# Recorded from OpenSSH 9.2 (askpass argv[1]) and libvirt 9.0 (libssh2 ECHOPROMPT).
OPENSSH_QUESTION = (
    "The authenticity of host '[127.0.0.1]:2291 ([127.0.0.1]:2291)' can't be established.\n"
    "ED25519 key fingerprint is SHA256:8eLTTpGCId6kpJ1xz/Fvq9qU2xHDBmetLrIeWwK0kJQ.\n"
    "This key is not known by any other names.\n"
    "Are you sure you want to continue connecting (yes/no/[fingerprint])? "
)
LIBSSH2_QUESTION = (
    "Accept SSH host key with hash '81:DB:56:E0:F3:2C:45:41:9E:32:07:74:DC:62:C0:B4' "
    "for host '127.0.0.1:2293' (y/n)?"
)
KEY_LINE = (
    "[127.0.0.1]:2292 ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIM1ASnje9flqUugFhTKbybTjxa+9nVdMFEtBdTncWppA"
)


def test_openssh_question_is_parsed() -> None:
    question = parse_openssh_host_key(OPENSSH_QUESTION)
    assert question is not None
    assert question.host == "[127.0.0.1]:2291"
    assert question.key_type == "ED25519"
    assert question.fingerprint == "SHA256:8eLTTpGCId6kpJ1xz/Fvq9qU2xHDBmetLrIeWwK0kJQ"
    assert classify_prompt(OPENSSH_QUESTION) is PromptKind.HOST_KEY


def test_a_changed_key_is_never_a_question() -> None:
    changed = "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n" + OPENSSH_QUESTION
    assert parse_openssh_host_key(changed) is None


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("vmgui-svc@127.0.0.1's password: ", PromptKind.PASSWORD),
        ("Enter root's password for 127.0.0.1", PromptKind.PASSWORD),
        ("Passphrase for key '/root/.ssh/id_ed25519'", PromptKind.PASSPHRASE),
        ("Enter passphrase for key '/k': ", PromptKind.PASSPHRASE),
        (LIBSSH2_QUESTION, PromptKind.HOST_KEY),
        ("Verification code: ", PromptKind.OTHER),
    ],
)
def test_prompts_are_classified(prompt: str, kind: PromptKind) -> None:
    assert classify_prompt(prompt) is kind


def test_libssh2_md5_is_matched_to_the_scanned_key() -> None:
    host, md5 = parse_libssh2_host_key(LIBSSH2_QUESTION) or ("", "")
    assert host == "127.0.0.1:2293"
    blob = base64.b64decode(KEY_LINE.split()[2])
    scanned = "# banner\n" + KEY_LINE + "\n"
    question = match_scanned_key(host, md5_fingerprint(blob).upper(), scanned)
    assert question is not None
    assert question.key_type == "ED25519"
    assert question.fingerprint == sha256_fingerprint(blob)
    assert match_scanned_key(host, md5, scanned) is None  # another key's hash


def test_fingerprints_are_openssh_style() -> None:
    blob = b"key blob"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert sha256_fingerprint(blob) == "SHA256:" + digest
    assert md5_fingerprint(blob).count(":") == 16


def test_uri_from_fields_and_back(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("k")
    fields = HostFields(
        transport=Transport.SSH, user="root", host="srv.example", port="2222", key_file=str(key)
    )
    assert field_errors(fields) == {}
    uri = build_uri(fields)
    assert uri == f"qemu+ssh://root@srv.example:2222/system?keyfile={key}"
    assert fields_from_uri(uri) == fields
    assert build_uri(HostFields(session=True)) == "qemu:///session"
    v6 = HostFields(transport=Transport.SSH, host="fd00::1", verify_host_key=False)
    assert build_uri(v6) == "qemu+ssh://[fd00::1]/system?no_verify=1"
    # TLS never gets no_verify from the form; a typed URI with it stays typed.
    tls = HostFields(transport=Transport.TLS, host="fd00::1", verify_host_key=False)
    assert build_uri(tls) == "qemu+tls://[fd00::1]/system"
    assert fields_from_uri("qemu+tls://h/system?no_verify=1") is None
    assert fields_from_uri("qemu+ssh://h/system?known_hosts=/x") is None  # typed: kept verbatim


def test_field_errors_name_the_field(tmp_path: Path) -> None:
    bad = HostFields(
        transport=Transport.SSH,
        host="bad host",
        port="70000",
        user="a b",
        key_file=str(tmp_path / "missing"),
    )
    errors = field_errors(bad)
    assert set(errors) == {"host", "port", "user", "key_file"}
    assert "65535" in errors["port"]
    assert field_errors(HostFields(transport=Transport.TCP))["host"] == "Host must not be empty."


def test_warnings() -> None:
    assert "qemu+libssh2" in uri_warnings("qemu+libssh://h/system")[0]
    assert uri_warnings("qemu+libssh2://h/system") == []
    assert uri_warnings("qemu+tcp://h/system")
    assert uri_warnings("qemu+ssh://h/system?no_verify=1")
