"""The errors of the RFB client."""

from __future__ import annotations

from vmgui.core.errors import VmguiError


class RfbError(VmguiError):
    """The VNC server sent what the client cannot accept (a malformed or unsupported stream)."""

    def __init__(self, details: str, hint: str = "") -> None:
        super().__init__("The VNC display failed", details, hint)


class RfbAuthError(RfbError):
    """The VNC server refused the connection (security handshake); ``details`` is its reason."""
