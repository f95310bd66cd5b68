"""vmgui-askpass: the askpass program vmgui gives OpenSSH (``SSH_ASKPASS``).

OpenSSH runs it with one argument, its question (a host key to confirm, a password), and
reads the answer from stdout. This program forwards the question to the running vmgui over
its private Unix socket (``VMGUI_ASKPASS_SOCKET``, with ``VMGUI_ASKPASS_TOKEN``; vmgui writes
both into the small wrapper it names in ``SSH_ASKPASS``, since libvirt passes ssh only a few
environment variables) and prints the answer. Exit status 1 = refused or cancelled.

Standard library only: vmgui runs this file directly (``python -I``), so it works whether or
not the package is installed.
"""

from __future__ import annotations

import json
import os
import socket
import sys

#: Longest reply read from vmgui (bytes).
MAX_REPLY = 65536


def ask(socket_path: str, token: str, prompt: str) -> str | None:
    """Send ``prompt`` to vmgui and wait for the answer (None = refused)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(json.dumps({"token": token, "prompt": prompt}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n") and len(data) < MAX_REPLY:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data or b"{}")
    answer = reply.get("answer")
    return answer if isinstance(answer, str) else None


def main(argv: list[str] | None = None) -> int:
    """Forward argv[1] to vmgui and print its answer."""
    args = sys.argv[1:] if argv is None else argv
    socket_path = os.environ.get("VMGUI_ASKPASS_SOCKET", "")
    token = os.environ.get("VMGUI_ASKPASS_TOKEN", "")
    if not socket_path or not token:
        print(
            "vmgui-askpass: only vmgui runs this (VMGUI_ASKPASS_SOCKET is not set)", file=sys.stderr
        )
        return 2
    try:
        answer = ask(socket_path, token, args[0] if args else "")
    except (OSError, ValueError) as exc:
        print(f"vmgui-askpass: cannot reach vmgui: {exc}", file=sys.stderr)
        return 1
    if answer is None:
        return 1
    sys.stdout.write(answer + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
