"""A private libvirt host whose daemon has no cgroup ``cpu`` controller (the rest is real).

On this machine the ``cpu`` controller is a cgroup v1 hierarchy (``/sys/fs/cgroup/cpu``; the v2
``unified`` hierarchy holds no controller but ``hugetlb``), and v1 cannot switch a controller
off for a subtree (v2's ``cgroup.subtree_control`` can only hand out controllers v2 owns). So
the only host without it that leaves every other process alone is a daemon in a mount namespace
where that hierarchy is not mounted: :class:`NoCpuHost` is the second host
(:class:`tests.services.secondhost.SecondHost`: own state dir, port, host UUID and cgroup
subtrees) started through ``nocpu_ns.py``, which unmounts ``/sys/fs/cgroup/cpu`` in its
namespace first. :meth:`NoCpuHost.stop` removes everything it made, as the second host does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.services.common import ServiceUnavailableError
from tests.services.secondhost import (
    _NS_SCRIPT,
    CGROUP_ROOT,
    SecondHost,
    cgroup_hierarchies,
)

#: Its state and port: apart from the shared second host's (/var/lib/vmgui-svc-secondhost:16519).
STATE_DIR = Path("/var/lib/vmgui-iso-nocpu")
TCP_PORT = 16529
#: The hierarchy hidden from its daemon.
HIDDEN = CGROUP_ROOT / "cpu"
_WRAPPER = Path(__file__).with_name("nocpu_ns.py")


class NoCpuHost(SecondHost):
    """A second host whose libvirtd sees no ``cpu`` cgroup controller."""

    KIND = "no-cpu"

    @classmethod
    def start_here(cls) -> NoCpuHost:
        """Start one at :data:`STATE_DIR` on :data:`TCP_PORT` (see :meth:`SecondHost.start`).

        Raises:
            ServiceUnavailableError: as :meth:`SecondHost.start`, or this machine has no
                separate v1 ``cpu`` hierarchy to hide.
        """
        if HIDDEN not in cgroup_hierarchies():
            raise ServiceUnavailableError(f"no cgroup v1 hierarchy {HIDDEN} to hide here")
        host = cls.start(STATE_DIR, hostname="vmgui-iso-nocpu", tcp_port=TCP_PORT)
        assert isinstance(host, NoCpuHost)
        return host

    def _namespace_command(self) -> list[str]:
        """The wrapper that unmounts :data:`HIDDEN`, then the second host's script."""
        return [sys.executable, "-I", str(_WRAPPER), str(HIDDEN), str(_NS_SCRIPT)]

    def _hierarchies(self) -> list[str]:
        return [str(h) for h in cgroup_hierarchies() if h != HIDDEN]
