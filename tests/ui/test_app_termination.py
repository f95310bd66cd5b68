"""SIGTERM (a session logout) closes vmgui like its close button: the layout is saved."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import fixture_uri


def test_sigterm_closes_the_window_and_saves_the_layout(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "vmgui", "--connect", fixture_uri()],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        bufsize=0,  # raw pipe: select() sees every byte that arrived
    )
    try:
        assert child.stderr is not None
        deadline = time.monotonic() + 30
        seen = ""
        while not ("listed 60 guests" in seen and "console feature loaded" in seen):
            # listed, and the console feature preloaded while idle after start
            left = deadline - time.monotonic()
            assert left > 0, f"vmgui did not get ready within 30 s: {seen}"
            ready, _, _ = select.select([child.stderr], [], [], left)
            if ready:
                chunk = os.read(child.stderr.fileno(), 65536).decode(errors="replace")
                assert chunk, f"vmgui exited early ({child.wait()}): {seen}"
                seen += chunk
        child.send_signal(signal.SIGTERM)
        rest = child.stderr.read().decode(errors="replace")
        assert child.wait(timeout=20) == 0, rest
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "SIGTERM received: closing the window" in rest
    assert "Traceback" not in rest
    ui_ini = tmp_path / "config" / "vmgui" / "ui.ini"
    text = ui_ini.read_text()
    assert "geometry=" in text and "mainSplitter=" in text
