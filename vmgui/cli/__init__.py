"""vmgui-cli: vmgui's engine on the command line (same core and virt layers as the GUI).

One module per verb group (:mod:`~vmgui.cli.listing`, :mod:`~vmgui.cli.images`,
:mod:`~vmgui.cli.provision`, :mod:`~vmgui.cli.templates`, ...). A verb module defines
``HELP_ORDER`` (where its verbs appear in ``--help``) and ``add_parser(subparsers)``, which adds
its subcommands and sets each one's handler with ``set_defaults(run=handler)``; a handler is
``async def handler(args) -> int`` (the exit status). Modules are found by listing this package,
so a new verb is a new module: no other file changes. Shared options, host connections, result
and progress printing are in :mod:`~vmgui.cli.common`.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from vmgui import __version__
from vmgui.core.errors import VmguiError


def verb_modules() -> list[ModuleType]:
    """The verb modules of this package, in ``--help`` order."""
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in ("__main__", "common"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "add_parser"):
            modules.append(module)
    return sorted(modules, key=lambda m: (m.HELP_ORDER, m.__name__))


def build_parser() -> argparse.ArgumentParser:
    """``vmgui-cli``'s parser: every verb module's subcommands."""
    parser = argparse.ArgumentParser(prog="vmgui-cli", description="vmgui on the command line")
    parser.add_argument("--version", action="version", version=f"vmgui-cli {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in verb_modules():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run vmgui-cli; a failure prints one line and exits non-zero."""
    args = build_parser().parse_args(argv)
    try:
        status: int = asyncio.run(args.run(args))
    except VmguiError as exc:
        print(f"vmgui-cli: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vmgui-cli: cancelled (everything this run created was removed)", file=sys.stderr)
        return 130
    return status
