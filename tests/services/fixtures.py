"""Pytest fixtures for the real test services (import them into a conftest; see README.md).

Each one starts its service once per session (``second_host``, ``loopback_sshd``) or module
(``secret_service``, ``slow_sshd``) and always stops it, also after failing tests. When a
service cannot start (not root, a Debian package missing, a port taken) the test fails with
that one line, or is skipped with it when ``VMGUI_SKIP_INTEGRATION=1``. ``tls_host`` and
``sasl_tls_host`` are module-scoped too.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from tests.services.common import ServiceUnavailableError, Stoppable
from tests.services.delayrelay import DelayRelay
from tests.services.keyring_service import SecretService
from tests.services.secondhost import SecondHost
from tests.services.sshd import LoopbackSshd
from tests.services.tlshost import SASL_TCP_PORT, SASL_TLS_PORT, TlsHost

#: The second host's state dir: fixed, so a crashed run's instance is found and ended.
SECOND_HOST_STATE = Path("/var/lib/vmgui-svc-secondhost")
#: The TLS hosts' state dirs (fixed for the same reason; their own ports: see tlshost.py).
TLS_HOST_STATE = Path("/var/lib/vmgui-svc-tlshost")
SASL_HOST_STATE = Path("/var/lib/vmgui-svc-saslhost")
TINY_IMAGE = Path("/var/tmp/vmgui-tiny-guest/tiny.qcow2")
#: One-way delay of :func:`slow_sshd` (100 ms round trip).
SLOW_DELAY = 0.05

_S = TypeVar("_S", bound=Stoppable)


def _unavailable(exc: ServiceUnavailableError) -> NoReturn:
    if os.environ.get("VMGUI_SKIP_INTEGRATION") == "1":
        pytest.skip(str(exc))
    pytest.fail(f"{exc} (set VMGUI_SKIP_INTEGRATION=1 to skip)", pytrace=False)


def _started(start: Callable[[], _S]) -> _S:
    """``start()``, or the test fails (or is skipped) with the reason it gives."""
    try:
        return start()
    except ServiceUnavailableError as exc:
        _unavailable(exc)


def tiny_image() -> Path:
    """The tiny guest image (``VMGUI_TINY_IMAGE`` or the default build place)."""
    return Path(os.environ.get("VMGUI_TINY_IMAGE") or TINY_IMAGE)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def second_host() -> Iterator[SecondHost]:
    """A second libvirt host on ``qemu+tcp://127.0.0.1:16519/system``; its ``default`` pool
    holds a copy of the tiny guest image (when it is built)."""
    image = tiny_image()
    with _started(
        lambda: SecondHost.start(SECOND_HOST_STATE, seed_files=[image] if image.is_file() else [])
    ) as host:
        yield host


@pytest.fixture(scope="session")
def loopback_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSshd]:
    """An sshd on 127.0.0.1 (a free port) in front of the main libvirtd, for the test user."""
    with _started(
        lambda: LoopbackSshd.start(tmp_path_factory.mktemp("sshd"), port=free_port())
    ) as server:
        yield server


@pytest.fixture(scope="module")
def slow_sshd(loopback_sshd: LoopbackSshd) -> Iterator[DelayRelay]:
    """A :class:`DelayRelay` (50 ms each way) in front of ``loopback_sshd``, whose
    ``known_hosts`` trusts it; dial ``loopback_sshd.uri_ssh(port=slow_sshd.port)``."""
    relay = DelayRelay.start(loopback_sshd.port, delay_up=SLOW_DELAY, delay_down=SLOW_DELAY)
    try:
        loopback_sshd.trust_port(relay.port)
        yield relay
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    """gnome-keyring on a private session bus; pass ``secret_service.env`` to client processes."""
    with _started(lambda: SecretService.start(tmp_path_factory.mktemp("keyring"))) as service:
        yield service


@pytest.fixture(scope="module")
def tls_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHost]:
    """A libvirt host on ``qemu+tls://127.0.0.1:16524/system`` (certificates: ``.pki``;
    ``.uri_tls()`` dials it with the good client folder)."""
    with _started(
        lambda: TlsHost.start(TLS_HOST_STATE, tmp_path_factory.mktemp("tls") / "files")
    ) as host:
        yield host


@pytest.fixture(scope="module")
def sasl_tls_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHost]:
    """Like ``tls_host`` on port 16534, asking for SASL SCRAM-SHA-256 (``.sasl_user``,
    ``.sasl_password``) after the TLS handshake."""
    with _started(
        lambda: TlsHost.start(
            SASL_HOST_STATE,
            tmp_path_factory.mktemp("sasl") / "files",
            sasl=True,
            tls_port=SASL_TLS_PORT,
            tcp_port=SASL_TCP_PORT,
            hostname="vmgui-svc-saslhost",
        )
    ) as host:
        yield host
