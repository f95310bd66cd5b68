"""cloud-init seeds: SHA-512 crypt against known vectors, the documents, the ISO read back."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pycdlib
import pytest

from vmgui.core.cloudinit import (
    CloudInitConfig,
    StaticNetwork,
    build_seed_iso,
    guest_hostname,
    hash_password,
    is_sha512_hash,
    meta_data,
    network_config,
    seed_files,
    sha512_crypt,
    user_data,
    validate_ssh_key,
    yaml_document,
)
from vmgui.core.validation import ValidationError

# The test vectors of Ulrich Drepper's specification ("Unix crypt using SHA-256 and SHA-512").
SPEC_VECTORS = [
    (
        "saltstring",
        None,
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOf"
        "aS35inz1",
    ),
    (
        "saltstringsaltstring",
        10000,
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOu"
        "ZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "toolongsaltstring",
        5000,
        "This is just a test",
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yx"
        "dYcz/e1JSbq3y6JMxxl8audkUEm0",
    ),
    (
        "anotherlongsaltstring",
        1400,
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9"
        "t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (
        "short",
        77777,
        "we have a short salt string but not a short password",
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmt"
        "lcGZelFl5CxtgfiAc0",
    ),
    (
        "asaltof16chars..",
        123456,
        "a short string",
        "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK"
        "25fs2xXgMNrCzIMVcgEJAstJeonj1",
    ),
    (
        "roundstoolow",
        10,
        "the minimum number is still observed",
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4Z"
        "EQpyUNGc0dqbpBYYBaHHrsX.",
    ),
]


@pytest.mark.parametrize(("salt", "rounds", "password", "expected"), SPEC_VECTORS)
def test_sha512_crypt_spec_vectors(
    salt: str, rounds: int | None, password: str, expected: str
) -> None:
    assert sha512_crypt(password, salt, rounds) == expected


@pytest.mark.skipif(shutil.which("mkpasswd") is None, reason="mkpasswd (Debian 'whois') missing")
@pytest.mark.parametrize(
    ("password", "salt"),
    [
        ("secret", "abcdefgh"),
        ("x", "xsaltsal"),
        ("p" * 64, "0123456789abcdef"),
        ("p" * 200, "ABCDEF./"),
        ("ünïcødé pässwörd", "saltsalt"),
        ("with spaces and $igns:", "s1s2s3s4"),
    ],
)
def test_sha512_crypt_matches_mkpasswd(password: str, salt: str) -> None:
    expected = subprocess.run(
        ["mkpasswd", "--method=sha-512", f"--salt={salt}", "--stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sha512_crypt(password, salt) == expected


@pytest.mark.skipif(shutil.which("mkpasswd") is None, reason="mkpasswd (Debian 'whois') missing")
def test_sha512_crypt_rounds_match_mkpasswd() -> None:
    expected = subprocess.run(
        ["mkpasswd", "--method=sha-512", "--salt=roundsalt", "--rounds=7000", "--stdin"],
        input="pw",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sha512_crypt("pw", "roundsalt", 7000) == expected


def test_hash_password_is_salted_and_valid() -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second
    assert is_sha512_hash(first) and is_sha512_hash(second)
    salt = first.split("$")[2]
    assert len(salt) == 16
    assert sha512_crypt("secret", salt) == first
    with pytest.raises(ValidationError):
        hash_password("")


def _config(**kwargs: object) -> CloudInitConfig:
    defaults: dict[str, object] = {
        "hostname": "web1",
        "user": "alice",
        "password_hash": sha512_crypt("s3cret-Passw0rd", "fixedsalt"),
        "ssh_keys": ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@laptop",),
        "packages": ("qemu-guest-agent", "htop"),
        "instance_id": "iid-web1-1",
    }
    defaults.update(kwargs)
    return CloudInitConfig(**defaults)  # type: ignore[arg-type]


def _cloud_config(text: str) -> object:
    """The document after user-data's ``#cloud-config`` line.

    No YAML parser is installed in vmgui's environment; the documents are JSON (a subset of
    YAML), so ``json.loads`` reads them as cloud-init's PyYAML does.
    """
    header, _, body = text.partition("\n")
    assert header == "#cloud-config"
    return json.loads(body)


def test_user_data_document() -> None:
    password_hash = sha512_crypt("s3cret-Passw0rd", "fixedsalt")
    text = user_data(_config())
    assert text.startswith("#cloud-config\n")
    assert _cloud_config(text) == {
        "hostname": "web1",
        "manage_etc_hosts": True,
        "users": [
            "default",
            {
                "name": "alice",
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": False,
                "passwd": password_hash,
                "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@laptop"],
            },
        ],
        "ssh_pwauth": True,
        "package_update": True,
        "packages": ["qemu-guest-agent", "htop"],
    }
    assert "s3cret-Passw0rd" not in text


def test_user_data_without_user_configures_the_default_user() -> None:
    text = user_data(_config(user="", password_hash="", packages=()))
    doc = _cloud_config(text)
    assert isinstance(doc, dict)
    assert "users" not in doc
    assert doc["ssh_authorized_keys"] == ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@laptop"]
    assert doc["ssh_pwauth"] is False
    assert "packages" not in text


def test_user_data_with_a_domain_name_sets_the_fqdn() -> None:
    doc = _cloud_config(user_data(_config(hostname="web1.example.org")))
    assert isinstance(doc, dict)
    assert (doc["hostname"], doc["fqdn"]) == ("web1", "web1.example.org")


def test_meta_and_network_config() -> None:
    assert (
        meta_data(_config()) == '{\n  "instance-id": "iid-web1-1",\n  "local-hostname": "web1"\n}\n'
    )
    assert json.loads(meta_data(_config(hostname="web2", instance_id="")))["instance-id"] == (
        "iid-web2"
    )
    assert network_config(_config()) is None
    static = StaticNetwork("192.168.122.50/24", "192.168.122.1", ("1.1.1.1",))
    text = network_config(_config(network=static))
    assert text is not None
    assert json.loads(text) == {
        "version": 2,
        "ethernets": {
            "nic0": {
                "match": {"name": "e*"},
                "dhcp4": False,
                "addresses": ["192.168.122.50/24"],
                "routes": [{"to": "default", "via": "192.168.122.1"}],
                "nameservers": {"addresses": ["1.1.1.1"]},
            }
        },
    }
    assert set(seed_files(_config(network=static))) == {"user-data", "meta-data", "network-config"}


# What a hand-made YAML emitter gets wrong: mapping and comment syntax, quotes, line breaks,
# list markers, YAML 1.1 booleans, and text beyond ASCII (and beyond the BMP).
HOSTILE = [
    "key: value",
    "# not a comment",
    "trailing #hash",
    "'single' and \"double\" quotes",
    "two\nlines\r\nand a tab\t",
    "- a list?",
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "0o17",
    "1e3",
    "[not, a, list]",
    "{not: a map}",
    "&anchor *alias !tag %directive @at `tick`",
    "back\\slash",
    "Grüße, 日本語, emoji 😀",
    " leading and trailing spaces ",
    "",
]


def test_hostile_strings_round_trip() -> None:
    doc = {"strings": HOSTILE, "map": {text: text for text in HOSTILE}, "nested": [{"x": HOSTILE}]}
    text = yaml_document(doc, "#cloud-config")
    assert _cloud_config(text) == doc
    assert json.loads(yaml_document(doc)) == doc
    # Written as is, not as "\\ud83d\\ude00": PyYAML reads such a pair as two lone surrogates.
    assert "😀" in text and "\\ud83d" not in text


def test_hostile_ssh_key_comment_round_trips_through_user_data() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx - yes: no # 'on' \"off\" Grüße 😀"
    for config in (_config(ssh_keys=(key,)), _config(user="", ssh_keys=(key,))):
        doc = _cloud_config(user_data(config))
        assert isinstance(doc, dict)
        keys = doc["users"][1]["ssh_authorized_keys"] if config.user else doc["ssh_authorized_keys"]
        assert keys == [key]


@pytest.mark.parametrize("hidden", ["\x85", "\u2028", "\u2029", "\x7f", "\x1b", "\ufeff", "\r"])
def test_ssh_keys_with_control_characters_are_refused(hidden: str) -> None:
    with pytest.raises(ValidationError, match="printable characters only"):
        validate_ssh_key(f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx bad{hidden}comment")
    assert validate_ssh_key("ssh-ed25519\tAAAAC3Nza\tcomment ") == "ssh-ed25519\tAAAAC3Nza\tcomment"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hostname": "bad_host"}, "Host name"),
        ({"hostname": ""}, "Host name"),
        ({"user": "Root"}, "User"),
        ({"password_hash": "plaintext"}, "Password"),
        ({"ssh_keys": ("-----BEGIN OPENSSH PRIVATE KEY-----",)}, "SSH key"),
        ({"ssh_keys": ("not a key",)}, "SSH key"),
        ({"packages": ("rm -rf /",)}, "Packages"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _config(**kwargs)
    assert info.value.field == field


def test_password_hash_not_in_repr() -> None:
    assert "$6$" not in repr(_config())


def test_guest_hostname() -> None:
    assert guest_hostname("web_1.prod") == "web-1-prod"
    assert guest_hostname("---") == "guest"


def _read_iso(data: bytes) -> tuple[str, dict[str, bytes], dict[str, bytes]]:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        label = iso.pvd.volume_identifier.decode().strip()
        rock: dict[str, bytes] = {}
        for name in ("user-data", "meta-data", "network-config"):
            out = io.BytesIO()
            try:
                iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            except pycdlib.pycdlibexception.PyCdlibInvalidInput:
                continue
            rock[name] = out.getvalue()
        joliet: dict[str, bytes] = {}
        for name in rock:
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
            joliet[name] = out.getvalue()
        assert iso.has_rock_ridge() and iso.has_joliet()
    finally:
        iso.close()
    return label, rock, joliet


def test_seed_iso_reads_back() -> None:
    config = _config()
    data = build_seed_iso(seed_files(config))
    label, rock, joliet = _read_iso(data)
    assert label == "cidata"
    assert set(rock) == {"user-data", "meta-data"}
    assert rock == joliet
    assert rock["meta-data"].decode() == meta_data(config)
    assert config.password_hash.encode() in rock["user-data"]
    assert b"s3cret-Passw0rd" not in data


def test_seed_iso_with_network_config() -> None:
    config = _config(network=StaticNetwork("10.0.0.5/8"))
    _label, rock, _joliet = _read_iso(build_seed_iso(seed_files(config)))
    assert b"10.0.0.5/8" in rock["network-config"]
