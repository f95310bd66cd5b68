"""The OS image catalog and local disk images: entries, checksums, format detection.

The built-in catalog ships as ``vmgui/data/catalog.json`` (its source is
``resources/catalog.json``); a user's ``$XDG_CONFIG_HOME/vmgui/catalog.json`` with the same
schema adds entries or replaces built-in ones by id. An entry names a download (``url``) or a
local file (``path``). Local files are qcow2, raw or ISO images, told apart by magic bytes.
"""

from __future__ import annotations

import enum
import json
import re
import string
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from vmgui.core.errors import VmguiError
from vmgui.core.settings import config_dir

ALGORITHMS = ("sha256", "sha512")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

QCOW2_MAGIC = b"QFI\xfb"
ISO_MAGIC = b"CD001"
ISO_MAGIC_OFFSET = 0x8001
HEADER_BYTES = 0x8010  # enough for every magic checked here
_SECTOR = 512

# Files that are not disk images but are often mistaken for one: magic → (what, hint).
_NOT_IMAGES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xfd7zXZ\x00", "an xz-compressed file", "Decompress it first (unxz)."),
    (b"\x1f\x8b", "a gzip-compressed file", "Decompress it first (gunzip)."),
    (b"BZh", "a bzip2-compressed file", "Decompress it first (bunzip2)."),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file", "Decompress it first (unzstd)."),
    (b"PK\x03\x04", "a zip archive", "Extract the disk image from it first."),
    (b"\x7fELF", "a program (ELF)", "Choose a disk image or an ISO."),
    (b"%PDF", "a PDF document", "Choose a disk image or an ISO."),
    (b"KDMV", "a VMDK image", "Convert it first: qemu-img convert -O qcow2 in.vmdk out.qcow2."),
    (b"vhdxfile", "a VHDX image", "Convert it first: qemu-img convert -O qcow2 in.vhdx out.qcow2."),
    (b"conectix", "a VHD image", "Convert it first: qemu-img convert -O qcow2 in.vhd out.qcow2."),
)
_TEXT = frozenset(string.printable.encode())


class ImageFormat(enum.Enum):
    """Disk image formats vmgui accepts."""

    QCOW2 = "qcow2"
    RAW = "raw"
    ISO = "iso"

    @property
    def volume_format(self) -> str:
        """The libvirt volume / driver format ("raw" for an ISO)."""
        return "qcow2" if self is ImageFormat.QCOW2 else "raw"


@dataclass(frozen=True, slots=True)
class Checksum:
    """How a download is verified: a known value, or a checksum file to look it up in.

    Attributes:
        algorithm: "sha256" or "sha512".
        value: the lowercase hex digest, or "" when ``url`` gives it.
        url: a checksum file (``SHA256SUMS`` / ``CHECKSUM`` style), or "".
    """

    algorithm: str
    value: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One OS image a guest can be made from.

    Attributes:
        id: short unique id, e.g. "debian-12" (lowercase letters, digits, '.', '_', '-').
        name: what people see.
        url: where to download it ("" for a local file).
        path: a local file ("" for a download).
        format: the image format.
        checksum: how to verify a download (None for a local file).
        osinfo: the libosinfo OS id, e.g. "http://debian.org/debian/12", or "".
        cloud_init: whether the image runs cloud-init (a NoCloud seed configures it).
        vcpus: default vCPUs.
        memory_mib: default memory.
        disk_gib: default disk size.
        user: whether the entry comes from the user's catalog.
    """

    id: str
    name: str
    url: str = ""
    path: str = ""
    format: ImageFormat = ImageFormat.QCOW2
    checksum: Checksum | None = None
    osinfo: str = ""
    cloud_init: bool = True
    vcpus: int = 2
    memory_mib: int = 2048
    disk_gib: int = 20
    user: bool = False

    @property
    def filename(self) -> str:
        """The file name of the image (from the URL or the path)."""
        if self.path:
            return Path(self.path).name
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1]) or f"{self.id}.img"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A local disk image as read from its header.

    Attributes:
        path: the file.
        format: qcow2, raw or iso.
        virtual_size: the disk size the guest sees (bytes).
        file_size: the file's size (bytes).
        backing_file: True for a qcow2 that has a backing file (it cannot stand alone).
    """

    path: Path
    format: ImageFormat
    virtual_size: int
    file_size: int
    backing_file: bool = False


def user_catalog_file() -> Path:
    """Where a user's own catalog entries live."""
    return config_dir() / "catalog.json"


def builtin_catalog_text() -> str:
    """The catalog shipped with vmgui, as JSON text."""
    return (resources.files("vmgui") / "data" / "catalog.json").read_text(encoding="utf-8")


def load_catalog(user_file: Path | None = None) -> list[CatalogEntry]:
    """The built-in catalog with the user's entries merged in (same id: the user's wins).

    Args:
        user_file: the user's catalog (default :func:`user_catalog_file`); a missing file
            adds nothing.

    Raises:
        VmguiError: a catalog is malformed (naming the file and the entry).
    """
    entries = {e.id: e for e in parse_catalog(builtin_catalog_text(), "the built-in catalog")}
    path = user_file or user_catalog_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return list(entries.values())
    except OSError as exc:
        raise VmguiError(f"Could not read the image catalog {path}", str(exc)) from exc
    for entry in parse_catalog(text, str(path), user=True):
        entries[entry.id] = entry
    return list(entries.values())


def find_entry(entries: list[CatalogEntry], image_id: str) -> CatalogEntry:
    """The entry with ``image_id``.

    Raises:
        VmguiError: no such entry (the message lists the known ids).
    """
    for entry in entries:
        if entry.id == image_id:
            return entry
    known = ", ".join(sorted(e.id for e in entries))
    raise VmguiError(
        f"There is no image {image_id!r} in the catalog",
        f"known images: {known}",
        "Run 'vmgui-cli images' to list them, or pass the path of a local image.",
    )


def parse_catalog(text: str, source: str, *, user: bool = False) -> list[CatalogEntry]:
    """Parse catalog JSON (``{"version": 1, "images": [...]}``).

    Raises:
        VmguiError: malformed JSON or entry; the message names ``source`` and the entry.
    """
    try:
        data = json.loads(text)
        images = data["images"]
        if not isinstance(images, list):
            raise TypeError("'images' must be a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise VmguiError(f"The image catalog ({source}) is malformed", str(exc)) from exc
    entries = []
    for index, item in enumerate(images):
        try:
            entries.append(_parse_entry(item, user))
        except (ValueError, KeyError, TypeError) as exc:
            label = item.get("id", f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
            raise VmguiError(
                f"Image {label!r} in the image catalog ({source}) is malformed", str(exc)
            ) from exc
    return entries


def _parse_entry(item: dict[str, Any], user: bool) -> CatalogEntry:
    image_id = str(item["id"])
    if not _ID_RE.fullmatch(image_id):
        raise ValueError(f"bad id {image_id!r}: use lowercase letters, digits, '.', '_', '-'")
    url, path = str(item.get("url", "")), str(item.get("path", ""))
    if url.startswith("file://"):
        url, path = "", unquote(urlsplit(url).path)
    if bool(url) == bool(path):
        raise ValueError("give exactly one of 'url' and 'path'")
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"the url must be http(s): {url!r}")
    checksum = None
    if url:
        spec = item.get("checksum")
        if not isinstance(spec, dict):
            raise ValueError("a download needs a 'checksum' ({algorithm, value or url})")
        checksum = _parse_checksum(spec)
    defaults = item.get("defaults", {})
    return CatalogEntry(
        id=image_id,
        name=str(item.get("name", image_id)),
        url=url,
        path=path,
        format=ImageFormat(str(item.get("format", "qcow2"))),
        checksum=checksum,
        osinfo=str(item.get("osinfo", "")),
        cloud_init=bool(item.get("cloud_init", True)),
        vcpus=_positive(defaults, "vcpus", 2),
        memory_mib=_positive(defaults, "memory_mib", 2048),
        disk_gib=_positive(defaults, "disk_gib", 20),
        user=user,
    )


def _parse_checksum(spec: dict[str, Any]) -> Checksum:
    algorithm = str(spec.get("algorithm", "sha256")).lower()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm {algorithm!r} (use sha256 or sha512)")
    value = str(spec.get("value", "")).lower()
    url = str(spec.get("url", ""))
    if bool(value) == bool(url):
        raise ValueError("the checksum needs exactly one of 'value' and 'url'")
    if value and not re.fullmatch(f"[0-9a-f]{{{_HEX_LENGTH[algorithm]}}}", value):
        raise ValueError(f"the {algorithm} checksum is not {_HEX_LENGTH[algorithm]} hex digits")
    return Checksum(algorithm, value, url)


def _positive(defaults: dict[str, Any], key: str, fallback: int) -> int:
    value = defaults.get(key, fallback)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"defaults.{key} must be a positive whole number (got {value!r})")
    return value


def parse_checksum_file(text: str, filename: str, algorithm: str) -> str:
    """Find ``filename``'s digest in a checksum file.

    Understands GNU lines (``<hex>  name`` or ``<hex> *name``, as in SHA256SUMS), BSD
    lines (``SHA256 (name) = <hex>``, as in Fedora's CHECKSUM) and a file holding one bare
    digest (as Alpine's ``.sha512`` files sometimes do).

    Raises:
        VmguiError: the file does not list ``filename`` with an ``algorithm`` digest.
    """
    length = _HEX_LENGTH[algorithm]
    bsd = re.compile(rf"{algorithm}\s*\((?P<name>.+)\)\s*=\s*(?P<hex>[0-9a-f]{{{length}}})", re.I)
    gnu = re.compile(rf"(?P<hex>[0-9a-f]{{{length}}})\s+\*?(?P<name>.+)", re.I)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        match = bsd.fullmatch(line) or gnu.fullmatch(line)
        if match and Path(match["name"].strip()).name == filename:
            return match["hex"].lower()
    if len(lines) == 1 and re.fullmatch(f"[0-9a-fA-F]{{{length}}}", lines[0]):
        return lines[0].lower()
    raise VmguiError(
        f"The checksum file does not list {filename}",
        f"no {algorithm} line for {filename} among {len(lines)} lines",
        "The image may have been replaced upstream; update the catalog entry.",
    )


def qcow2_virtual_size(header: bytes) -> int:
    """The virtual disk size stored in a qcow2 header (big-endian u64 at offset 24).

    Raises:
        ValueError: ``header`` is not a qcow2 header.
    """
    if len(header) < 32 or header[:4] != QCOW2_MAGIC:
        raise ValueError("not a qcow2 header")
    return int(struct.unpack_from(">Q", header, 24)[0])


def detect_format(header: bytes, file_size: int) -> ImageFormat:
    """Tell qcow2, ISO 9660 and raw images apart by their first bytes.

    Args:
        header: at least the first :data:`HEADER_BYTES` bytes (fewer for a small file).
        file_size: the size of the whole file.

    Raises:
        VmguiError: the data is not a disk image (compressed, an archive, text, another
            image format, or too small / not whole sectors to be a raw disk).
    """
    if header[:4] == QCOW2_MAGIC:
        return ImageFormat.QCOW2
    if header[ISO_MAGIC_OFFSET : ISO_MAGIC_OFFSET + 5] == ISO_MAGIC:
        return ImageFormat.ISO
    for magic, what, hint in _NOT_IMAGES:
        if header.startswith(magic):
            raise VmguiError("The file is not a disk image", f"it is {what}", hint)
    if file_size < 64 * 1024 or file_size % _SECTOR:
        raise VmguiError(
            "The file is not a disk image",
            f"{file_size} bytes is not a whole number of 512-byte sectors of at least 64 KiB",
            "Choose a qcow2 or raw disk image, or an ISO.",
        )
    sample = header[:4096]
    if sample.strip(b"\x00") and all(byte in _TEXT for byte in sample):
        raise VmguiError(
            "The file is not a disk image",
            "it starts with text",
            "Choose a qcow2 or raw disk image, or an ISO.",
        )
    return ImageFormat.RAW


def read_image_info(path: Path) -> ImageInfo:
    """Read a local image's format and sizes (blocking: reads 32 KiB).

    Raises:
        VmguiError: the file cannot be read or is not a disk image.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(HEADER_BYTES)
        file_size = path.stat().st_size
    except OSError as exc:
        raise VmguiError(f"Could not read the image {path}", str(exc)) from exc
    try:
        image_format = detect_format(header, file_size)
    except VmguiError as exc:
        raise VmguiError(f"{path.name} is not a disk image", exc.details, exc.hint) from None
    if image_format is ImageFormat.QCOW2:
        backing_offset = struct.unpack_from(">Q", header, 8)[0] if len(header) >= 16 else 0
        return ImageInfo(
            path, image_format, qcow2_virtual_size(header), file_size, bool(backing_offset)
        )
    return ImageInfo(path, image_format, file_size, file_size)


def local_entry(path: Path, info: ImageInfo) -> CatalogEntry:
    """A catalog entry for a local image file (id "local", defaults from the file)."""
    min_gib = max(1, -(-info.virtual_size // (1 << 30)))
    return CatalogEntry(
        id="local",
        name=path.name,
        path=str(path),
        format=info.format,
        cloud_init=info.format is not ImageFormat.ISO,
        disk_gib=max(min_gib, 20) if info.format is ImageFormat.ISO else max(min_gib, 10),
    )
