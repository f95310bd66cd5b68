"""cloud-init NoCloud seeds: the documents, SHA-512 crypt, and the ISO (built in memory).

The seed is an ISO 9660 image (Joliet + Rock Ridge) with the volume label ``cidata`` and the
files ``user-data``, ``meta-data`` and optionally ``network-config``. cloud-init finds it on any
block device with that label (a CD-ROM or a virtio disk alike).

Passwords never appear in a seed: :func:`hash_password` turns them into SHA-512 crypt hashes
(``$6$...``, the format ``mkpasswd -m sha-512`` writes) as soon as they are read, and only the
hash is kept in :class:`CloudInitConfig`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pycdlib

from vmgui.core.validation import ValidationError

SEED_LABEL = "cidata"
_CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROUNDS_DEFAULT = 5000
_ROUNDS_MIN = 1000
_ROUNDS_MAX = 999_999_999
_SALT_MAX = 16
_HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_KEY_TYPES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-")
_SHA512_HASH_RE = re.compile(r"\$6\$(rounds=\d+\$)?[^$:\n]{1,16}\$[./0-9A-Za-z]{86}")


# ----------------------------------------------------------------------- SHA-512 crypt


def sha512_crypt(password: str, salt: str, rounds: int | None = None) -> str:
    """SHA-512 crypt as specified by Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512").

    Args:
        password: the password (UTF-8 encoded before hashing).
        salt: up to 16 characters (longer salts are cut, as the spec says); no '$'.
        rounds: None for the default 5000 (not written into the result); otherwise
            clamped to 1000..999999999 and written as ``rounds=N``.

    Returns:
        ``$6$[rounds=N$]salt$hash``.
    """
    if "$" in salt or "\n" in salt or ":" in salt:
        raise ValueError("a crypt salt must not contain '$', ':' or a line break")
    key = password.encode("utf-8")
    salt_bytes = salt.encode("utf-8")[:_SALT_MAX]
    count = _ROUNDS_DEFAULT if rounds is None else min(max(rounds, _ROUNDS_MIN), _ROUNDS_MAX)

    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    ctx = hashlib.sha512(key + salt_bytes)
    remaining = len(key)
    while remaining > 64:
        ctx.update(alternate)
        remaining -= 64
    ctx.update(alternate[:remaining])
    bits = len(key)
    while bits > 0:
        ctx.update(alternate if bits & 1 else key)
        bits >>= 1
    digest_a = ctx.digest()

    dp = hashlib.sha512(key * len(key)).digest()
    p_seq = (dp * (len(key) // 64 + 1))[: len(key)]
    ds = hashlib.sha512(salt_bytes * (16 + digest_a[0])).digest()
    s_seq = (ds * (len(salt_bytes) // 64 + 1))[: len(salt_bytes)]

    c = digest_a
    for i in range(count):
        ctx = hashlib.sha512(p_seq if i & 1 else c)
        if i % 3:
            ctx.update(s_seq)
        if i % 7:
            ctx.update(p_seq)
        ctx.update(c if i & 1 else p_seq)
        c = ctx.digest()

    encoded = []
    for i in range(21):
        a, b, d = c[i], c[i + 21], c[i + 42]
        triple = ((a, b, d), (b, d, a), (d, a, b))[i % 3]
        encoded.append(_b64_24bit(*triple, 4))
    encoded.append(_b64_24bit(0, 0, c[63], 2))
    prefix = "$6$" if rounds is None else f"$6$rounds={count}$"
    return f"{prefix}{salt_bytes.decode('utf-8', 'replace')}${''.join(encoded)}"


def _b64_24bit(b2: int, b1: int, b0: int, n: int) -> str:
    word = (b2 << 16) | (b1 << 8) | b0
    chars = []
    for _ in range(n):
        chars.append(_CRYPT_ALPHABET[word & 0x3F])
        word >>= 6
    return "".join(chars)


def hash_password(password: str, *, rounds: int | None = None) -> str:
    """Hash a password for cloud-init's ``passwd`` with a random 16-character salt.

    Raises:
        ValidationError: the password is empty.
    """
    if not password:
        raise ValidationError("Password", "Password must not be empty.")
    salt = "".join(secrets.choice(_CRYPT_ALPHABET) for _ in range(_SALT_MAX))
    return sha512_crypt(password, salt, rounds)


def is_sha512_hash(text: str) -> bool:
    """Whether ``text`` looks like a SHA-512 crypt hash (``$6$...``)."""
    return _SHA512_HASH_RE.fullmatch(text) is not None


# ----------------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class StaticNetwork:
    """A fixed address for the guest's first NIC (else it uses DHCP).

    Attributes:
        address: address with prefix, e.g. "192.168.122.50/24".
        gateway: the default gateway, or "".
        nameservers: DNS servers.
    """

    address: str
    gateway: str = ""
    nameservers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CloudInitConfig:
    """What the NoCloud seed sets up in the guest.

    Attributes:
        hostname: the guest's host name (one or more RFC 1123 labels).
        user: a user to create, or "" to configure the image's default user.
        password_hash: a SHA-512 crypt hash (from :func:`hash_password`), or "".
        ssh_keys: public keys for the user (or the default user).
        packages: packages to install on first boot.
        network: a static address, or None for DHCP (no network-config file).
        instance_id: cloud-init's instance id ("" makes one from the hostname).
    """

    hostname: str
    user: str = ""
    password_hash: str = field(default="", repr=False)
    ssh_keys: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    network: StaticNetwork | None = None
    instance_id: str = ""

    def __post_init__(self) -> None:
        validate_hostname(self.hostname)
        if self.user and not _USER_RE.fullmatch(self.user):
            raise ValidationError(
                "User",
                f"User name {self.user!r} must start with a lowercase letter or '_' and hold "
                "only lowercase letters, digits, '_' and '-' (at most 32).",
            )
        if self.password_hash and not is_sha512_hash(self.password_hash):
            raise ValidationError("Password", "The password must be a SHA-512 crypt hash.")
        for key in self.ssh_keys:
            validate_ssh_key(key)
        for package in self.packages:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9+._:=~-]*", package):
                raise ValidationError("Packages", f"{package!r} is not a package name.")


def validate_hostname(hostname: str) -> str:
    """Check a host name (labels of letters, digits and inner '-', at most 253 long).

    Raises:
        ValidationError: naming the rule broken.
    """
    if not hostname or len(hostname) > 253:
        raise ValidationError("Host name", "Host name must have 1 to 253 characters.")
    for label in hostname.split("."):
        if not _HOSTNAME_LABEL.fullmatch(label):
            raise ValidationError(
                "Host name",
                f"Host name part {label!r} must be 1-63 letters, digits or inner '-'.",
            )
    return hostname


def validate_ssh_key(key: str) -> str:
    """Check one OpenSSH public key line ("ssh-ed25519 AAAA... comment").

    Raises:
        ValidationError: not a single-line public key (a private key is refused), or it
            holds control or line-separator characters (YAML readers fold or refuse those).
    """
    if "PRIVATE KEY" in key:
        raise ValidationError("SSH key", "That is a private key: give the public key (.pub).")
    parts = key.split()
    if "\n" in key.strip() or len(parts) < 2 or not parts[0].startswith(_KEY_TYPES):
        raise ValidationError(
            "SSH key", "An SSH key must be one line such as 'ssh-ed25519 AAAA... comment'."
        )
    hidden = sorted({c for c in key.strip() if not c.isprintable() and c != "\t"})
    if hidden:
        shown = " ".join(repr(c) for c in hidden)
        raise ValidationError(
            "SSH key", f"An SSH key must hold printable characters only ({shown})."
        )
    return key.strip()


def guest_hostname(name: str) -> str:
    """A valid host name derived from a guest name ('.' and '_' become '-')."""
    label = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:63].strip("-")
    return label or "guest"


def yaml_document(doc: Mapping[str, object], header: str = "") -> str:
    """``doc`` as a YAML document: JSON, which is YAML (1.2, and PyYAML's 1.1 reads it too).

    A library serializer quotes every string the user gave (``": "``, ``#``, quotes, a leading
    ``-``, ``yes``/``no``/``on``, line breaks) so that it reads back as the same string.
    Non-ASCII text is written as is: JSON's ``\\u`` escapes would split characters beyond
    the BMP into surrogate pairs, which PyYAML does not join again.

    Args:
        doc: dicts, lists, strings, numbers and booleans.
        header: a first line, e.g. "#cloud-config" (a YAML comment), or "".
    """
    body = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return f"{header}\n{body}" if header else body


def user_data(config: CloudInitConfig) -> str:
    """The ``#cloud-config`` user-data document."""
    doc: dict[str, object] = {
        "hostname": config.hostname.split(".")[0],
        "manage_etc_hosts": True,
    }
    if "." in config.hostname:
        doc["fqdn"] = config.hostname
    if config.user:
        user: dict[str, object] = {
            "name": config.user,
            "shell": "/bin/bash",
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "lock_passwd": not config.password_hash,
        }
        if config.password_hash:
            user["passwd"] = config.password_hash
        if config.ssh_keys:
            user["ssh_authorized_keys"] = list(config.ssh_keys)
        doc["users"] = ["default", user]
    elif config.ssh_keys:
        doc["ssh_authorized_keys"] = list(config.ssh_keys)
    doc["ssh_pwauth"] = bool(config.password_hash)
    if config.packages:
        doc["package_update"] = True
        doc["packages"] = list(config.packages)
    return yaml_document(doc, "#cloud-config")


def meta_data(config: CloudInitConfig) -> str:
    """The meta-data document (instance-id and local-hostname)."""
    instance = config.instance_id or f"iid-{guest_hostname(config.hostname)}"
    doc = {"instance-id": instance, "local-hostname": config.hostname.split(".")[0]}
    return yaml_document(doc)


def network_config(config: CloudInitConfig) -> str | None:
    """The network-config (version 2) document, or None for plain DHCP."""
    net = config.network
    if net is None:
        return None
    nic: dict[str, object] = {"match": {"name": "e*"}, "dhcp4": False, "addresses": [net.address]}
    if net.gateway:
        nic["routes"] = [{"to": "default", "via": net.gateway}]
    if net.nameservers:
        nic["nameservers"] = {"addresses": list(net.nameservers)}
    doc = {"version": 2, "ethernets": {"nic0": nic}}
    return yaml_document(doc)


def seed_files(config: CloudInitConfig) -> dict[str, bytes]:
    """The seed's files by name (``user-data``, ``meta-data``, maybe ``network-config``)."""
    files = {
        "user-data": user_data(config).encode("utf-8"),
        "meta-data": meta_data(config).encode("utf-8"),
    }
    network = network_config(config)
    if network is not None:
        files["network-config"] = network.encode("utf-8")
    return files


_ISO_NAMES = {"user-data": "USERDATA", "meta-data": "METADATA", "network-config": "NETWORK"}


def build_seed_iso(files: dict[str, bytes] | Sequence[tuple[str, bytes]]) -> bytes:
    """An ISO 9660 image labelled ``cidata`` (Joliet + Rock Ridge) holding ``files``.

    Built in memory with pycdlib; file names must be those of :func:`seed_files`.
    """
    items = list(files.items()) if isinstance(files, dict) else list(files)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=SEED_LABEL)
    try:
        for name, data in items:
            short = _ISO_NAMES.get(name) or re.sub(r"[^A-Z0-9_]", "_", name.upper())[:8]
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                f"/{short}.;1",
                rr_name=name,
                joliet_path=f"/{name}",
            )
        out = io.BytesIO()
        iso.write_fp(out)
    finally:
        iso.close()
    return out.getvalue()
