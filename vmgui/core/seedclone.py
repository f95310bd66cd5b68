"""A cloud-init seed for a copy of a guest: the source's seed read back, with a new host name.

A clone or an imported copy must not boot as its source: cloud-init keys its first-boot work
on the instance id, and the host name would clash. :func:`rehost_seed` keeps every file of the
source's seed (user, password hash, keys, network) and changes only ``instance-id``,
``local-hostname`` and the user-data's ``hostname``/``fqdn``. vmgui writes those documents as
JSON (which is YAML); other tools' YAML is edited line by line.
"""

from __future__ import annotations

import io
import json
import re

import pycdlib
import pycdlib.pycdlibexception

from vmgui.core.cloudinit import guest_hostname, validate_hostname

_META_KEYS = ("instance-id", "local-hostname")


class SeedReadError(ValueError):
    """The seed is not an ISO 9660 image with NoCloud files."""


def read_seed_iso(data: bytes) -> dict[str, bytes]:
    """The files of a NoCloud seed ISO by name (``user-data``, ``meta-data``, ...).

    Raises:
        SeedReadError: if ``data`` is not an ISO 9660 image holding ``meta-data``.
    """
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(data))
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise SeedReadError(f"not an ISO 9660 image: {exc}") from None
    files: dict[str, bytes] = {}
    try:
        for child in iso.list_children(iso_path="/"):
            if child.is_dir():
                continue
            name = _child_name(child)
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, iso_path=f"/{child.file_identifier().decode()}")
            files[name] = out.getvalue()
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise SeedReadError(f"unreadable ISO 9660 image: {exc}") from None
    finally:
        iso.close()
    if "meta-data" not in files:
        raise SeedReadError("the image has no meta-data file")
    return files


def _child_name(child: pycdlib.dr.DirectoryRecord) -> str:
    if child.rock_ridge is not None and child.rock_ridge.name():
        return str(child.rock_ridge.name().decode())
    ident = str(child.file_identifier().decode()).split(";")[0].rstrip(".")
    return {"USERDATA": "user-data", "METADATA": "meta-data", "NETWORK": "network-config"}.get(
        ident.upper(), ident.lower()
    )


def rehost_seed(files: dict[str, bytes], hostname: str) -> dict[str, bytes]:
    """The seed's files with a new instance id and host name.

    Args:
        files: the source seed's files (:func:`read_seed_iso`).
        hostname: the copy's host name (validated).

    Raises:
        ValidationError: if ``hostname`` is not a valid host name.
    """
    validate_hostname(hostname)
    short = hostname.split(".")[0]
    out = dict(files)
    values = {"instance-id": f"iid-{guest_hostname(hostname)}", "local-hostname": short}
    out["meta-data"] = _edit(files.get("meta-data", b""), values, add=True)
    if "user-data" in files:
        user = {"hostname": short}
        if "." in hostname:
            user["fqdn"] = hostname
        out["user-data"] = _edit(files["user-data"], user, add=False)
    return out


def _edit(document: bytes, values: dict[str, str], *, add: bool) -> bytes:
    text = document.decode("utf-8", errors="replace")
    header, _, body = text.partition("\n") if text.startswith("#") else ("", "", text)
    try:
        doc = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        for key, value in values.items():
            if add or key in doc:
                doc[key] = value
        new = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        return (f"{header}\n{new}" if header else new).encode()
    lines = text.splitlines()
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(key)}\s*:")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        for i in hits:
            lines[i] = f"{key}: {json.dumps(value)}"
        if not hits and add:
            lines.append(f"{key}: {json.dumps(value)}")
    return ("\n".join(lines) + "\n").encode()
