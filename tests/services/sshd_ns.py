"""Run inside ``unshare --mount --propagation private``: show a folder as ``/run/libvirt``, exec.

Started by :meth:`tests.services.sshd.LoopbackSshd.start` as ``python -I sshd_ns.py RUN_DIR
SSHD ARG...`` (standard library only). The bind mount makes ``RUN_DIR/libvirt-sock`` (a
:class:`~tests.services.groupsocket.GroupSocket`) the libvirt socket every process of the server
sees; then it becomes the server itself (same pid).
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> None:
    """Bind-mount, then exec the server (never returns)."""
    run_dir, server, *args = argv
    subprocess.run(["mount", "--bind", run_dir, "/run/libvirt"], check=True)
    os.execv(server, [server, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
