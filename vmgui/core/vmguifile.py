"""The ``.vmgui`` file: one guest as a tar archive (pure layout, manifest and checks).

Layout (an uncompressed POSIX tar, members in this order)::

    domain.xml              the guest's inactive definition
    disks/<target>.<fmt>    each disk: writable disks as standalone qcow2 (overlays flattened),
                            the read-only cloud-init seed as raw
    manifest.json           last, because it holds the disks' checksums

The manifest (:class:`Manifest`) names the format version, the guest, the source host and,
per disk, its target, format, virtual size, size in the file and checksum. Version 2 (what
vmgui writes) has each disk's BLAKE3 as ``"blake3"``; version 1 had its SHA-256 as
``"sha256"`` and is still read (:mod:`vmgui.core.diskhash` says why the change). A file is refused
(:class:`VmguiFileError`) before anything is created when it is truncated, when a member is
missing or of the wrong size, when a checksum differs, or when the version is unknown.
Writers stream members through :func:`member_header` and :func:`member_padding`; readers
take :func:`read_index` over the file's tar headers.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from typing import IO

from vmgui.core.diskhash import BLAKE3, SHA256

FORMAT = "vmgui-guest"
#: The version vmgui writes.
VERSION = 2
#: The versions vmgui reads, and the checksum each one's disks carry.
ALGORITHM_OF_VERSION = {1: SHA256, 2: BLAKE3}
SUFFIX = ".vmgui"
MANIFEST = "manifest.json"
DOMAIN_XML = "domain.xml"
BLOCK = tarfile.BLOCKSIZE
#: What ends a tar archive: two zero blocks.
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


class VmguiFileError(ValueError):
    """A ``.vmgui`` file cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class DiskEntry:
    """One disk in a ``.vmgui`` file.

    Attributes:
        target: the guest device ("vda").
        member: its member's name ("disks/vda.qcow2").
        format: "qcow2" or "raw".
        virtual_size: the disk's size as the guest sees it, bytes.
        size: the member's size in the file, bytes.
        checksum: the member's digest, hex.
        readonly: attached read-only (the cloud-init seed).
        algorithm: the checksum's algorithm ("blake3"; "sha256" in version 1 files).
    """

    target: str
    member: str
    format: str
    virtual_size: int
    size: int
    checksum: str
    readonly: bool = False
    algorithm: str = BLAKE3


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a ``.vmgui`` file holds.

    Attributes:
        guest: the guest's name at export.
        source_host: the host it came from (URI).
        created: export time, seconds since the epoch.
        disks: the disks, in the domain's order.
        networks: the libvirt networks the guest's interfaces use.
        left_out: notes on what the file does not carry (installer ISOs).
        version: the format version.
    """

    guest: str
    source_host: str
    created: int
    disks: tuple[DiskEntry, ...]
    networks: tuple[str, ...] = ()
    left_out: tuple[str, ...] = field(default=())
    version: int = VERSION

    @property
    def total_size(self) -> int:
        """Bytes of disk data in the file."""
        return sum(d.size for d in self.disks)


def disk_member(target: str, fmt: str) -> str:
    """The member name of a disk: "disks/vda.qcow2"."""
    return f"disks/{target}.{fmt}"


def manifest_json(manifest: Manifest) -> bytes:
    """The manifest as the file stores it.

    Raises:
        ValueError: a disk's checksum is not the one its version carries.
    """
    algorithm = ALGORITHM_OF_VERSION[manifest.version]
    for disk in manifest.disks:
        if disk.algorithm != algorithm:
            raise ValueError(
                f"a version {manifest.version} file carries {algorithm}, not {disk.algorithm}"
            )
    doc = {
        "format": FORMAT,
        "version": manifest.version,
        "guest": manifest.guest,
        "source_host": manifest.source_host,
        "created": manifest.created,
        "networks": list(manifest.networks),
        "left_out": list(manifest.left_out),
        "disks": [
            {
                "target": d.target,
                "member": d.member,
                "format": d.format,
                "virtual_size": d.virtual_size,
                "size": d.size,
                algorithm: d.checksum,
                "readonly": d.readonly,
            }
            for d in manifest.disks
        ],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def parse_manifest(data: bytes) -> Manifest:
    """Read a manifest.

    Raises:
        VmguiFileError: it is not JSON, not a vmgui manifest, of an unknown version, or lacks
            a field.
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VmguiFileError(f"the manifest is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise VmguiFileError("the manifest is not a vmgui guest manifest")
    version = doc.get("version")
    if type(version) is not int or version not in ALGORITHM_OF_VERSION:
        readable = " and ".join(str(v) for v in sorted(ALGORITHM_OF_VERSION))
        raise VmguiFileError(
            f"the file has format version {version!r}; this vmgui reads versions {readable}"
        )
    algorithm = ALGORITHM_OF_VERSION[version]
    try:
        disks = tuple(
            DiskEntry(
                target=str(d["target"]),
                member=str(d["member"]),
                format=str(d["format"]),
                virtual_size=int(d["virtual_size"]),
                size=int(d["size"]),
                checksum=_hex(d[algorithm], algorithm),
                readonly=bool(d.get("readonly", False)),
                algorithm=algorithm,
            )
            for d in doc["disks"]
        )
        return Manifest(
            guest=str(doc["guest"]),
            source_host=str(doc.get("source_host", "")),
            created=int(doc.get("created", 0)),
            disks=disks,
            networks=tuple(str(n) for n in doc.get("networks", ())),
            left_out=tuple(str(n) for n in doc.get("left_out", ())),
            version=version,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VmguiFileError(f"the manifest lacks or garbles a field ({exc})") from None


def _hex(value: object, algorithm: str) -> str:
    """A checksum from the manifest: 64 lower-case hex digits for both algorithms."""
    text = str(value)
    if len(text) != 64 or text.strip("0123456789abcdef"):
        raise ValueError(f"{algorithm} {text!r} is not 64 hex digits")
    return text


def member_header(name: str, size: int, mtime: int) -> bytes:
    """The tar header of a member of ``size`` bytes (PAX records where ustar cannot)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def member_padding(size: int) -> bytes:
    """The zeros that follow a member of ``size`` bytes to the next block."""
    return b"\0" * (-size % BLOCK)


@dataclass(frozen=True, slots=True)
class Member:
    """A member of the archive: where its data starts in the file and how long it is."""

    name: str
    offset: int
    size: int


def read_index(handle: IO[bytes], file_size: int) -> dict[str, Member]:
    """The members of a ``.vmgui`` file, by name (headers only; data is not read).

    Raises:
        VmguiFileError: not a tar archive, truncated (a member's data or the end of the
            archive missing), or without manifest.json / domain.xml.
    """
    try:
        with tarfile.open(fileobj=handle, mode="r:") as tar:
            members = {
                m.name: Member(m.name, m.offset_data, m.size)
                for m in tar.getmembers()
                if m.isfile()
            }
    except tarfile.TarError as exc:
        raise VmguiFileError(f"the file is not a readable tar archive ({exc})") from None
    if not members:
        raise VmguiFileError("the file holds no members")
    end = max(m.offset + m.size for m in members.values())
    if end > file_size:
        raise VmguiFileError(
            f"the file is truncated: it has {file_size} bytes, its members need {end}"
        )
    for needed in (MANIFEST, DOMAIN_XML):
        if needed not in members:
            raise VmguiFileError(f"the file has no {needed} (truncated or not a vmgui file)")
    return members


def check_layout(manifest: Manifest, members: dict[str, Member]) -> None:
    """Every disk the manifest names is in the file with its size.

    Raises:
        VmguiFileError: a disk member is missing or of another size.
    """
    for disk in manifest.disks:
        member = members.get(disk.member)
        if member is None:
            raise VmguiFileError(f"the file lacks {disk.member}")
        if member.size != disk.size:
            raise VmguiFileError(
                f"{disk.member} has {member.size} bytes, the manifest says {disk.size}"
            )
