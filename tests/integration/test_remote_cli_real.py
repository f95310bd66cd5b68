"""vmgui-cli against the loopback sshd: one attempt, no prompt without a terminal, and an
unknown host key only with --accept-host-key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.lab import Lab
from tests.integration.test_remote_real import ed25519_fingerprint, ssh_uri
from tests.services.fixtures import loopback_sshd as loopback_sshd
from tests.services.sshd import LoopbackSshd

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vmgui.cli", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # no terminal: never a prompt
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done, time.monotonic() - started


def test_an_unknown_host_key_needs_accept_host_key(
    lab: Lab, loopback_sshd: LoopbackSshd, tmp_path: Path
) -> None:
    uri = ssh_uri(loopback_sshd, tmp_path, known=False, key=loopback_sshd.client_key)
    refused, seconds = cli("list", "--connect", uri)
    assert refused.returncode != 0 and refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert ed25519_fingerprint(loopback_sshd) in line and "--accept-host-key" in line
    assert "Traceback" not in refused.stderr and seconds < 15
    assert (tmp_path / "known_hosts").read_text() == ""

    accepted, _ = cli("list", "--connect", uri, "--accept-host-key", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert ed25519_fingerprint(loopback_sshd) in accepted.stderr  # it says what it trusted
    assert "ssh-ed25519" in (tmp_path / "known_hosts").read_text()


def test_a_password_without_a_terminal_fails_in_one_line(
    lab: Lab, loopback_sshd: LoopbackSshd
) -> None:
    done, seconds = cli("host", "--connect", loopback_sshd.uri_libssh2(sshauth="password"))
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert "stdin is not a terminal" in line and "Could not connect" in line
    assert seconds < 15
