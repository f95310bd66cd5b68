"""The ssh command lines of vmgui.virt.tunnel, and the probe that decides whether to offer it."""

from __future__ import annotations

import asyncio

from vmgui.core.consoleroute import SshEndpoint
from vmgui.virt.askpass import SshTarget
from vmgui.virt.tunnel import forward_argv, master_argv, ssh_unavailable

FULL = SshEndpoint(
    "admin", "far.example", 2200, keyfile="/k/id", known_hosts="/kh", command="/opt/ssh"
)


def test_master_logs_in_like_libvirts_ssh_and_holds_a_control_socket() -> None:
    argv = master_argv(FULL, "/run/vmgui-ssh-x/c1")
    assert argv[:9] == [
        "/opt/ssh",
        "-l",
        "admin",
        "-p",
        "2200",
        "-i",
        "/k/id",
        "-o",
        "UserKnownHostsFile=/kh",
    ]
    assert argv[-2:] == ["--", "far.example"]
    for option in ("-M", "-N", "ControlPersist=no"):
        assert option in argv
    assert argv[argv.index("-S") + 1] == "/run/vmgui-ssh-x/c1"
    assert "StrictHostKeyChecking=no" not in argv, "an unknown key is asked, never accepted"
    assert "BatchMode=yes" not in argv, "the master may ask (askpass)"


def test_master_follows_no_verify_and_no_tty() -> None:
    argv = master_argv(SshEndpoint("", "h", no_verify=True, batch=True), "/c")
    assert argv[0] == "ssh" and "-l" not in argv and "-p" not in argv
    assert "StrictHostKeyChecking=no" in argv and "BatchMode=yes" in argv


def test_forward_is_a_mux_client_that_never_asks() -> None:
    argv = forward_argv(FULL, "/c1", "127.0.0.1", 5901)
    assert argv[argv.index("-W") + 1] == "127.0.0.1:5901"
    assert argv[argv.index("-S") + 1] == "/c1"
    assert "ControlMaster=no" in argv and "BatchMode=yes" in argv
    assert argv[-2:] == ["--", "far.example"]
    assert forward_argv(FULL, "/c1", "::1", 5900)[-3] == "[::1]:5900"


def test_askpass_recognises_the_master_as_the_uris_ssh() -> None:
    """The askpass server answers the ssh whose -l/-p/host match the URI's (askpass.py)."""
    uri = "qemu+ssh://admin@far.example:2200/system?keyfile=/k/id"
    assert SshTarget.from_argv(master_argv(FULL, "/c")) == SshTarget.from_uri(uri)
    bare = SshEndpoint("", "far.example")
    assert SshTarget.from_argv(master_argv(bare, "/c")) == SshTarget.from_uri(
        "qemu+ssh://far.example/system"
    )


def test_probe_finds_an_ssh_banner_and_says_why_not() -> None:
    async def scenario() -> tuple[str, str, str]:
        async def ssh(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"SSH-2.0-OpenSSH_9.2p1\r\n")
            await w.drain()
            w.close()

        async def http(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"HTTP/1.0 400 Bad\r\n")
            await w.drain()
            w.close()

        good = await asyncio.start_server(ssh, "127.0.0.1", 0)
        bad = await asyncio.start_server(http, "127.0.0.1", 0)
        ports = [s.sockets[0].getsockname()[1] for s in (good, bad)]
        closed = await asyncio.start_server(ssh, "127.0.0.1", 0)
        closed_port = closed.sockets[0].getsockname()[1]
        closed.close()
        await closed.wait_closed()
        try:
            return (
                await ssh_unavailable(SshEndpoint("", "127.0.0.1", ports[0])),
                await ssh_unavailable(SshEndpoint("", "127.0.0.1", ports[1])),
                await ssh_unavailable(SshEndpoint("", "127.0.0.1", closed_port)),
            )
        finally:
            for server in (good, bad):
                server.close()

    found, wrong, refused = asyncio.run(scenario())
    assert found == ""
    assert wrong.endswith("does not speak SSH")
    assert "no SSH server answers on 127.0.0.1:" in refused and "refused" in refused
    missing = asyncio.run(ssh_unavailable(SshEndpoint("", "h", command="/nonexistent/ssh")))
    assert missing == "/nonexistent/ssh is not installed here"
