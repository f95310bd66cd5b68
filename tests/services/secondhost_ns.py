"""Run inside ``unshare --mount --uts --propagation private``: set up the second host's view.

Started by :meth:`tests.services.secondhost.SecondHost.start` as ``python -I secondhost_ns.py
STATE_DIR HOSTNAME CGROUP_NAME VIRTLOGD LIBVIRTD HIERARCHY...`` (standard library only, no package
imports: ``-I`` keeps the caller's paths out). It records the namespace id, bind-mounts
the private cgroup subtrees and state folders over the system ones, sets the host name, starts
``virtlogd`` and ``libvirtd`` (each daemonises once ready) and exits; the namespace lives as long
as its daemons do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

#: state sub-folder -> the system folder it replaces inside the namespace.
BINDS = {
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "etc": "/etc/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}


def _bind(source: str, target: str) -> None:
    subprocess.run(["mount", "--bind", source, target], check=True)


def main(argv: list[str]) -> int:
    """Set up the namespace and start the daemons; return the exit status."""
    state, hostname, cgroup_name, virtlogd, libvirtd, *hierarchies = argv
    with open(os.path.join(state, "ns"), "w") as out:
        out.write(os.readlink("/proc/self/ns/mnt"))
    for hierarchy in hierarchies:
        _bind(os.path.join(hierarchy, cgroup_name), hierarchy)
    for sub, target in BINDS.items():
        _bind(os.path.join(state, sub), target)
    socket.sethostname(hostname)
    pids = os.path.join(state, "pids")
    subprocess.run([virtlogd, "-d", "-p", os.path.join(pids, "virtlogd.pid")], check=True)
    subprocess.run([libvirtd, "-d", "-l", "-p", os.path.join(pids, "libvirtd.pid")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
