"""What ssh and libvirt ask while a remote host opens, parsed for vmgui's dialogs (pure).

Measured on OpenSSH 9.2 and libvirt 9.0 (RECIPES.md §5):

* ``qemu+ssh``: OpenSSH runs the askpass program with the question as argv[1]: the host-key
  question ("The authenticity of host '[127.0.0.1]:2222 ([127.0.0.1]:2222)' can't be
  established. ED25519 key fingerprint is SHA256:…. … (yes/no/[fingerprint])? ") or a password
  prompt ("user@host's password: ").
* ``qemu+libssh2``: libvirt's auth callback gets ``VIR_CRED_ECHOPROMPT`` "Accept SSH host key
  with hash '33:C5:…' for host '127.0.0.1:2222' (y/n)?" (an upper-case MD5 of the key) and
  ``VIR_CRED_PASSPHRASE`` "Enter user's password for host" or "Passphrase for key '…'".

Host keys are shown the way OpenSSH shows them (``SHA256:`` + unpadded base64).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from dataclasses import dataclass

_OPENSSH_HOST_KEY_RE = re.compile(
    r"The authenticity of host '(?P<host>[^' ]+)(?: \([^)]*\))?' can't be established\.\s*"
    r"(?P<type>[A-Z0-9-]+) key fingerprint is (?P<fp>SHA256:[A-Za-z0-9+/=]+|MD5:[0-9a-f:]+)",
    re.S,
)
_OPENSSH_CHANGED_RE = re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED", re.I)
_LIBSSH2_HOST_KEY_RE = re.compile(
    r"Accept SSH host key with hash '(?P<hash>[0-9A-Fa-f:]+)' for host '(?P<host>[^']+)'"
)
_PASSWORD_RE = re.compile(r"password", re.I)
_PASSPHRASE_RE = re.compile(r"passphrase", re.I)


class PromptKind(enum.Enum):
    """What a prompt asks for."""

    HOST_KEY = "host key"
    PASSWORD = "password"
    PASSPHRASE = "key passphrase"
    USER_NAME = "user name"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class HostKeyQuestion:
    """An unknown host key the user must accept or refuse.

    Attributes:
        host: the host as ssh names it ("[127.0.0.1]:2222", "server.example").
        key_type: "ED25519", "RSA", "ECDSA", … or "" when not known.
        fingerprint: OpenSSH's form, "SHA256:…"; "MD5:…" when only that is known.
        prompt: the question as asked.
    """

    host: str
    key_type: str
    fingerprint: str
    prompt: str


def classify_prompt(prompt: str) -> PromptKind:
    """What ``prompt`` (an askpass argv[1] or a libvirt credential prompt) asks for."""
    if parse_openssh_host_key(prompt) is not None or _LIBSSH2_HOST_KEY_RE.search(prompt):
        return PromptKind.HOST_KEY
    if "(yes/no" in prompt or "(y/n)" in prompt:
        return PromptKind.HOST_KEY
    if _PASSPHRASE_RE.search(prompt):
        return PromptKind.PASSPHRASE
    if _PASSWORD_RE.search(prompt):
        return PromptKind.PASSWORD
    return PromptKind.OTHER


def parse_openssh_host_key(prompt: str) -> HostKeyQuestion | None:
    """The host-key question OpenSSH hands its askpass program, or None for anything else.

    A *changed* key is never a question: OpenSSH refuses it itself.
    """
    if _OPENSSH_CHANGED_RE.search(prompt):
        return None
    match = _OPENSSH_HOST_KEY_RE.search(prompt)
    if match is None:
        return None
    return HostKeyQuestion(match["host"], match["type"], match["fp"], prompt)


def parse_libssh2_host_key(prompt: str) -> tuple[str, str] | None:
    """(host, "MD5:aa:bb:…") from libvirt's libssh2 host-key prompt, or None."""
    match = _LIBSSH2_HOST_KEY_RE.search(prompt)
    if match is None:
        return None
    return match["host"], "MD5:" + match["hash"].lower()


def sha256_fingerprint(blob: bytes) -> str:
    """OpenSSH's fingerprint of a public key blob: "SHA256:" + unpadded base64."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def md5_fingerprint(blob: bytes) -> str:
    """The legacy fingerprint of a public key blob: "MD5:aa:bb:…" (lower case)."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return "MD5:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


_KEY_TYPE_NAMES = {
    "ssh-ed25519": "ED25519",
    "ssh-rsa": "RSA",
    "ssh-dss": "DSA",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "sk-ssh-ed25519@openssh.com": "ED25519-SK",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
}


def match_scanned_key(
    host: str, md5: str, scanned: str, prompt: str = ""
) -> HostKeyQuestion | None:
    """The key among ``ssh-keyscan`` output lines whose MD5 is ``md5``, as a question.

    Args:
        host: the host as libvirt named it.
        md5: "MD5:aa:bb:…" from :func:`parse_libssh2_host_key`.
        scanned: ``ssh-keyscan`` output (``host keytype base64`` lines).
        prompt: the original prompt.

    Returns:
        The matching key with its SHA256 fingerprint, or None when no line matches.
    """
    for line in scanned.splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except ValueError:
            continue
        if md5_fingerprint(blob).lower() == md5.lower():
            key_type = _KEY_TYPE_NAMES.get(fields[1], fields[1])
            return HostKeyQuestion(host, key_type, sha256_fingerprint(blob), prompt)
    return None
