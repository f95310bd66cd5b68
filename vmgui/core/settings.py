"""Saved hosts: which libvirt URIs vmgui knows and which it opens at start.

Stored as JSON in the XDG config directory (``$XDG_CONFIG_HOME/vmgui/hosts.json``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from vmgui.core.errors import VmguiError

APP_NAME = "vmgui"
#: The local hypervisor URIs: the system daemon and this user's session daemon.
SYSTEM_URI = "qemu:///system"
SESSION_URI = "qemu:///session"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A saved host.

    Attributes:
        uri: the libvirt URI (its connection fields: :func:`vmgui.core.hosturi.fields_from_uri`).
        autoconnect: open it when vmgui starts.
        name: the display name the user gave it ("" = derived from the URI).
    """

    uri: str
    autoconnect: bool = True
    name: str = ""


def config_dir() -> Path:
    """vmgui's XDG config directory (not created)."""
    return Path(platformdirs.user_config_dir(APP_NAME))


def hosts_file() -> Path:
    """Where the saved hosts live."""
    return config_dir() / "hosts.json"


def load_hosts(path: Path | None = None) -> list[HostEntry] | None:
    """Read the saved hosts.

    Returns:
        The saved hosts, or None when nothing was ever saved (first run).

    Raises:
        VmguiError: the file exists but cannot be read; it is left untouched.
    """
    path = path or hosts_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VmguiError(f"Could not read the saved hosts from {path}", str(exc)) from exc
    try:
        data = json.loads(text)
        entries = [
            HostEntry(
                uri=str(item["uri"]),
                autoconnect=bool(item.get("autoconnect", True)),
                name=str(item.get("name", "")),
            )
            for item in data["hosts"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise VmguiError(
            f"The saved hosts file {path} is damaged",
            str(exc),
            "Fix or remove the file; vmgui will not overwrite it until then.",
        ) from exc
    unique: dict[str, HostEntry] = {}
    for entry in entries:
        unique.setdefault(entry.uri, entry)
    return list(unique.values())


def save_hosts(entries: list[HostEntry], path: Path | None = None) -> None:
    """Write the saved hosts atomically (a crash never leaves half a file)."""
    path = path or hosts_file()
    payload = {
        "version": _VERSION,
        "hosts": [
            {"uri": e.uri, "autoconnect": e.autoconnect, **({"name": e.name} if e.name else {})}
            for e in entries
        ],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".hosts-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise VmguiError(f"Could not save the hosts to {path}", str(exc)) from exc


def local_default_uri(system_socket: Path = Path("/run/libvirt/libvirt-sock")) -> str:
    """The local hypervisor a new user should see first.

    ``qemu:///system`` when this user may talk to the system daemon (root, or the socket is
    writable, e.g. as a member of the libvirt group), else ``qemu:///session``.
    """
    if os.geteuid() == 0:
        return SYSTEM_URI
    if system_socket.exists() and os.access(system_socket, os.R_OK | os.W_OK):
        return SYSTEM_URI
    return SESSION_URI


def ui_state_file() -> Path:
    """Where the window's geometry and other UI state live (an INI file Qt writes)."""
    return config_dir() / "ui.ini"


def demo_host_uri(fixture: Path) -> str:
    """The URI of the demo host: libvirt's test driver on a bundled node description."""
    return f"test://{fixture.resolve()}"
