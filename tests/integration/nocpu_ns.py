"""Run inside the second host's new mount namespace, before its usual set-up: hide one cgroup
controller from it.

Started by :class:`tests.integration.nocpuhost.NoCpuHost` as ``python -I nocpu_ns.py HIERARCHY
NS_SCRIPT ARGS...`` (standard library only). It unmounts the cgroup v1 hierarchy ``HIERARCHY``
(e.g. ``/sys/fs/cgroup/cpu``) in this namespace only — the mounts are private, the main daemon
and every other process keep it — then runs the second host's own namespace script
(``tests/services/secondhost_ns.py``) with ``ARGS``. libvirtd started there finds no such
controller: what a host without it looks like.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> None:
    """Unmount ``argv[0]`` here, then become the namespace script ``argv[1]`` with the rest."""
    hierarchy, script, *rest = argv
    subprocess.run(["umount", hierarchy], check=True)
    os.execv(sys.executable, [sys.executable, "-I", script, *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
