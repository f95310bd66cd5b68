"""What vmgui-cli's verbs share: ``--connect``/``--json``, a connected host, result printing.

Failures raise :class:`~vmgui.core.errors.VmguiError`; :func:`vmgui.cli.main` prints them as one
line and exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from vmgui.core.errors import VmguiError
from vmgui.core.hosturi import uri_warnings
from vmgui.core.provisioning import Progress, ProvisionResult, Step
from vmgui.core.sshprompts import HostKeyQuestion
from vmgui.core.units import format_bytes, format_rate, format_seconds
from vmgui.virt.connection import HostConnection, NullObserver
from vmgui.virt.credentials import AuthenticationError, CredentialAnswer, CredentialRequest
from vmgui.virt.download import TransferProgress
from vmgui.virt.passwords import SecretStore

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What a verb module's ``add_parser`` gets."""

Handler = Callable[[argparse.Namespace], Awaitable[int]]
"""A verb: runs with the parsed arguments, returns the exit status."""

HostHandler = Callable[[argparse.Namespace, HostConnection], Awaitable[int]]
"""A verb that works on the host ``--connect`` names."""


def add_connect(parser: argparse.ArgumentParser, *, repeatable: bool = False) -> None:
    """The ``--connect URI`` option (required; ``repeatable``: a list of one or more) and
    ``--accept-host-key``."""
    if repeatable:
        parser.add_argument("--connect", metavar="URI", required=True, action="append")
    else:
        parser.add_argument("--connect", metavar="URI", required=True)
    parser.add_argument(
        "--accept-host-key",
        action="store_true",
        help="trust the host's key if it is unknown (its fingerprint is printed)",
    )


class TerminalAsker:
    """The CLI's CredentialAsker: passwords from the terminal (getpass) when there is one;
    an unknown host key only with ``--accept-host-key``.

    Attributes:
        note: why the last question was refused, for the error line ("" if none was).
    """

    def __init__(self, accept_host_key: bool, interactive: bool) -> None:
        self._accept = accept_host_key
        self._interactive = interactive
        self.note = ""

    async def confirm_host_key(self, uri: str, question: HostKeyQuestion) -> bool:
        """Trust the key only with ``--accept-host-key`` (and say so on stderr)."""
        key = f"{question.key_type} key {question.fingerprint}".strip()
        if not self._accept:
            self.note = f"the host key is unknown ({key}); pass --accept-host-key to trust it"
            return False
        print(f"vmgui-cli: trusting the {key} of {question.host}", file=sys.stderr)
        return True

    async def ask_credentials(self, request: CredentialRequest) -> CredentialAnswer | None:
        """Read the answers from the terminal; refuse without one."""
        if not self._interactive:
            self.note = "the host asks for a password and stdin is not a terminal"
            return None
        loop = asyncio.get_running_loop()
        values = []
        for prompt in request.prompts:
            shown = prompt.default if prompt.echo else ""  # (never echo a secret's default)
            text = prompt.text.rstrip(": ") + (f" [{shown}]: " if shown else ": ")
            read = input if prompt.echo else getpass.getpass
            values.append(await loop.run_in_executor(None, read, text) or shown)
        return CredentialAnswer(tuple(values))


def add_json(parser: argparse.ArgumentParser, help_text: str | None = "print JSON") -> None:
    """The ``--json`` flag."""
    parser.add_argument("--json", action="store_true", help=help_text)


def on_host(handler: HostHandler) -> Handler:
    """A verb that connects to ``--connect`` first and closes the host afterwards."""

    async def run(args: argparse.Namespace) -> int:
        host = await open_host(args.connect, getattr(args, "accept_host_key", False))
        try:
            return await handler(args, host)
        finally:
            await host.close()

    return run


async def open_host(uri: str, accept_host_key: bool) -> HostConnection:
    """Connect to ``uri`` once (warnings about the URI on stderr; the terminal answers the
    host's questions).

    Raises:
        VmguiError: the connect failed (the host is closed again).
    """
    for warning in uri_warnings(uri):
        print(f"vmgui-cli: warning: {warning}", file=sys.stderr)
    asker = TerminalAsker(accept_host_key, sys.stdin.isatty())
    host = HostConnection(uri, NullObserver(), keepalive=None, asker=asker, secrets=SecretStore())
    try:
        await host.connect()  # one attempt: a failed connect never reconnects
    except AuthenticationError as exc:
        if asker.note:
            exc.hint = asker.note
        await host.close()
        raise
    except VmguiError:
        await host.close()
        raise
    return host


def uuid_of(host: HostConnection, name: str) -> str:
    """The UUID of guest ``name`` on ``host``.

    Raises:
        VmguiError: there is no such guest.
    """
    for guest in host.guests.values():
        if guest.name == name:
            return guest.uuid
    raise VmguiError(f"There is no guest {name!r} on {host.display_name}")


def print_json(data: object) -> None:
    """``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2))


# -- provisioning results and progress --------------------------------------------------------


def step_printer(quiet: bool) -> Callable[[Progress], None]:
    """A progress callback: the download's transfer line on a terminal, nothing otherwise."""

    def on_progress(p: Progress) -> None:
        if quiet:
            return
        if p.step is Step.DOWNLOAD and p.total_bytes and sys.stderr.isatty():
            print_transfer(
                TransferProgress("download", p.done_bytes, p.total_bytes, p.speed, p.eta)
            )

    return on_progress


def print_result(result: ProvisionResult, as_json: bool) -> None:
    """What a provisioning or clone run made: its timings, or JSON."""
    if as_json:
        print_json(result_json(result))
        return
    for t in result.timings:
        note = f"  ({t.note})" if t.note else ""
        print(f"{t.step.value:<9} {t.seconds:8.3f} s{note}")
    print(f"{'total':<9} {result.total_seconds:8.3f} s")
    for warning in result.warnings:
        print(f"warning: {warning}")
    state = "running" if result.started else "defined"
    print(f"{result.name} ({result.uuid}) {state} on {result.host_uri}, {result.virt_type}")


def result_json(result: ProvisionResult) -> dict[str, object]:
    """A result as plain JSON data."""
    return {
        "host": result.host_uri,
        "name": result.name,
        "uuid": result.uuid,
        "virt_type": result.virt_type,
        "started": result.started,
        "disk": result.disk_path,
        "base": result.base_path,
        "seed": result.seed_path,
        "timings": {t.step.value: round(t.seconds, 4) for t in result.timings},
        "notes": {t.step.value: t.note for t in result.timings if t.note},
        "total_seconds": round(result.total_seconds, 4),
        "libvirt_start_seconds": round(result.libvirt_start_seconds, 4),
        "warnings": list(result.warnings),
    }


def print_transfer(p: TransferProgress) -> None:
    """Rewrite the transfer line on stderr (only on a terminal)."""
    if not sys.stderr.isatty():
        return
    total = f"/{format_bytes(p.total_bytes)}" if p.total_bytes else ""
    speed = f" {format_rate(p.speed)}" if p.speed else ""
    eta = f" ETA {format_seconds(p.eta)}" if p.eta is not None else ""
    sys.stderr.write(f"\r{p.phase}: {format_bytes(p.done_bytes)}{total}{speed}{eta}   ")
    sys.stderr.flush()


def end_transfer_line() -> None:
    """End the transfer line (only on a terminal)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")
