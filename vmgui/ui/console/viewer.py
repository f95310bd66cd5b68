"""Opening a SPICE guest's display in virt-viewer, outside vmgui.

vmgui's console does not embed SPICE (spice-client-glib would need GLib's main context, which
vmgui leaves to libvirt's event thread), so a SPICE guest on this machine can be opened in
``virt-viewer --attach`` instead (:func:`~vmgui.virt.display.viewer_argv`). The viewer is
started detached (``QProcess.startDetached``: no shell, not a child vmgui must reap) and lives
until the user closes it.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QProcess

from vmgui.virt.display import viewer_installed


class ViewerLauncher(Protocol):
    """Starts an external viewer (tests pass a fake)."""

    def available(self) -> bool:
        """Whether the viewer is installed."""
        ...

    def launch(self, argv: list[str]) -> bool:
        """Start ``argv`` detached; False if it could not start."""
        ...


class DetachedLauncher:
    """Starts the viewer with ``QProcess.startDetached`` (an argv list, never a shell)."""

    def available(self) -> bool:
        """Whether virt-viewer is on the PATH."""
        return viewer_installed()

    def launch(self, argv: list[str]) -> bool:
        """Start ``argv`` detached from vmgui; False if it could not start."""
        started, _pid = QProcess.startDetached(argv[0], argv[1:])
        return bool(started)
