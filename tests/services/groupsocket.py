"""A libvirt socket for the members of group ``libvirt``, as Debian's polkit rule would allow.

The main libvirtd authorises non-root Unix clients through polkit, and this machine has no
system D-Bus (libvirtd: "Unable to get system bus connection"; it never retries once that
failed), so the test user of the loopback sshd cannot reach ``qemu:///system`` itself.
:class:`GroupSocket` listens on ``FOLDER/libvirt-sock`` (mode 0666) and relays every client whose
user is root or in group ``libvirt`` (``SO_PEERCRED`` + the group database) to a root-only
daemon socket; others are closed at once. The daemon sees root (this process) and skips polkit.
:class:`~tests.services.sshd.LoopbackSshd` bind-mounts the folder over ``/run/libvirt`` in its own
mount namespace, so ``virt-ssh-helper`` on the remote end uses it unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import socket
import struct
from pathlib import Path

from tests.services.common import LoopThread

MAIN_SOCKET = Path("/run/libvirt/libvirt-sock")
_CHUNK = 65536


def _member(uid: int, gid: int, group: str) -> bool:
    if uid == 0:
        return True
    try:
        wanted = grp.getgrnam(group).gr_gid
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    return wanted in os.getgrouplist(name, gid)


class GroupSocket:
    """A running relay (see the module docstring); :meth:`start` makes one.

    Attributes:
        path: the socket clients connect to.
        upstream: the daemon socket it relays to.
        refused: how many clients it turned away.
    """

    def __init__(self, path: Path, upstream: Path, group: str) -> None:
        self.path = path
        self.upstream = upstream
        self.group = group
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._loop: LoopThread | None = None

    @classmethod
    def start(
        cls, folder: Path, upstream: Path = MAIN_SOCKET, group: str = "libvirt"
    ) -> GroupSocket:
        """Listen on ``folder/libvirt-sock`` (``folder`` is made, mode 0755)."""
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        relay = cls(folder / "libvirt-sock", upstream, group)
        relay._loop = LoopThread("group-socket")
        try:
            relay._loop.run(relay._listen())
            relay.path.chmod(0o666)
        except BaseException:
            relay.stop()
            raise
        return relay

    async def _listen(self) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))

    async def _accept(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        sock = cwriter.get_extra_info("socket")
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, gid = struct.unpack("3i", creds)
        if not _member(uid, gid, self.group):
            self.refused += 1
            cwriter.close()
            return
        writers = [cwriter]
        try:
            sreader, swriter = await asyncio.open_unix_connection(str(self.upstream))
            writers.append(swriter)
            await asyncio.gather(_copy(creader, swriter), _copy(sreader, cwriter))
        except OSError:
            pass
        finally:
            for writer in writers:
                writer.close()

    def stop(self) -> None:
        """Close the socket and every link, remove the socket file (idempotent)."""
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.run(self._stop())
            self._loop.close()
            self._loop = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()
