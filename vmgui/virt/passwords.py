"""Saved host passwords, in the Secret Service only (blocking D-Bus calls: use a worker).

``keyring``'s ``SecretService.Keyring`` backend is used directly, never
``keyring.get_keyring()``: with ``keyrings.alt`` installed and no Secret Service, that one
silently writes secrets base64-encoded to a plain file (RECIPES.md §6). When no Secret
Service is usable, saving is refused with the reason. Secrets are keyed by URI + user.
"""

from __future__ import annotations

import contextlib
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

from vmgui.core.errors import VmguiError

if TYPE_CHECKING:
    from keyring.errors import KeyringError, PasswordDeleteError

#: The service name prefix of vmgui's secrets (followed by the host's URI).
SERVICE_PREFIX = "vmgui:"


class _Connection(Protocol):
    def close(self) -> None: ...


class _Collection(Protocol):
    connection: _Connection


class _Backend(Protocol):
    """The part of ``SecretService.Keyring`` used here (keyring's methods are untyped)."""

    def get_preferred_collection(self) -> _Collection: ...
    def get_password(self, service: str, username: str) -> str | None: ...
    def set_password(self, service: str, username: str, password: str) -> None: ...
    def delete_password(self, service: str, username: str) -> None: ...


def _secret_service() -> ModuleType:
    """keyring's Secret Service backend, imported on first use: keyring, secretstorage and
    cryptography cost ~35 ms, which must not come before the first window."""
    from keyring.backends import SecretService

    return SecretService


def _errors() -> tuple[type[KeyringError], type[PasswordDeleteError]]:
    from keyring.errors import KeyringError, PasswordDeleteError

    return KeyringError, PasswordDeleteError


def service_name(uri: str) -> str:
    """The Secret Service "service" attribute of a host's password."""
    return SERVICE_PREFIX + uri


class SecretStore:
    """The passwords vmgui saved in the Secret Service (every method blocks)."""

    def __init__(self) -> None:
        self._loaded: _Backend | None = None
        self._refused: set[tuple[str, str]] = set()
        self._refused_lock = threading.Lock()

    def mark_refused(self, uri: str, user: str) -> None:
        """The host refused the saved password: ask instead while vmgui runs (until a new
        one is saved or it is forgotten). Nothing is deleted from the Secret Service."""
        with self._refused_lock:
            self._refused.add((uri, user))

    def refused(self, uri: str, user: str) -> bool:
        """Whether the host refused the saved password of ``user`` on ``uri`` in this run."""
        with self._refused_lock:
            return (uri, user) in self._refused

    def _clear_refused(self, uri: str, user: str) -> None:
        with self._refused_lock:
            self._refused.discard((uri, user))

    @property
    def _backend(self) -> _Backend:
        if self._loaded is None:
            self._loaded = cast("type[_Backend]", _secret_service().Keyring)()
        return self._loaded

    def unavailable_reason(self) -> str:
        """Why passwords cannot be saved now (one sentence), or "" when they can."""
        keyring_error, _ = _errors()
        try:
            _secret_service().Keyring.priority  # noqa: B018 - raises when unusable
        except (RuntimeError, OSError, ValueError) as exc:  # no bus: jeepney's OSError
            return f"No Secret Service is available: {exc or type(exc).__name__}"
        try:
            with contextlib.closing(self._backend.get_preferred_collection().connection):
                pass
        except (keyring_error, OSError) as exc:
            return f"The Secret Service keyring cannot be used: {exc}"
        return ""

    def get(self, uri: str, user: str) -> str | None:
        """The saved password of ``user`` on ``uri``, or None.

        Raises:
            VmguiError: the Secret Service cannot be used.
        """
        self._require()
        keyring_error, _ = _errors()
        try:
            return self._backend.get_password(service_name(uri), user)
        except (keyring_error, OSError) as exc:
            raise VmguiError("Could not read the saved password", str(exc)) from exc

    def save(self, uri: str, user: str, password: str) -> None:
        """Save the password of ``user`` on ``uri``.

        Raises:
            VmguiError: no Secret Service is usable (nothing is written anywhere else).
        """
        self._require()
        keyring_error, _ = _errors()
        try:
            self._backend.set_password(service_name(uri), user, password)
        except (keyring_error, OSError) as exc:
            raise VmguiError("Could not save the password", str(exc)) from exc
        self._clear_refused(uri, user)

    def forget(self, uri: str, user: str) -> bool:
        """Delete the saved password; False if there was none.

        Raises:
            VmguiError: the Secret Service cannot be used.
        """
        self._require()
        self._clear_refused(uri, user)
        keyring_error, delete_error = _errors()
        try:
            self._backend.delete_password(service_name(uri), user)
        except delete_error:
            return False
        except (keyring_error, OSError) as exc:
            raise VmguiError("Could not forget the saved password", str(exc)) from exc
        return True

    def _require(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise VmguiError("The password cannot be kept", reason)
