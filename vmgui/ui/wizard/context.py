"""What every wizard page shares: the state, the hosts, owned tasks and fetched host data.

Host data (networks, pools, volumes, templates, domain types) is fetched through the virt
layer on the host's worker, once per host and wizard, and awaited by the pages that need it;
a failed fetch is forgotten so that the next request retries it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from vmgui.core.catalog import CatalogEntry, load_catalog
from vmgui.ui.controller import HostController
from vmgui.ui.shell import UsageLink
from vmgui.ui.tasks import TaskOwner
from vmgui.ui.wizard.advice import PlacementAdvisor
from vmgui.ui.wizard.state import EngineFactory, WizardState
from vmgui.virt import hostchoices
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

CatalogLoader = Callable[[], list[CatalogEntry]]


class WizardContext:
    """The wizard's shared state and services (no widgets).

    Args:
        controller: the hosts.
        engine_factory: makes the engine for a host.
        catalog_loader: reads the image catalog (blocking; run on a thread).
        downloader: knows where downloaded images are cached.
        usage: the hosts' measured usage (the window's link), for placement advice.
    """

    def __init__(
        self,
        controller: HostController,
        engine_factory: EngineFactory,
        catalog_loader: CatalogLoader = load_catalog,
        downloader: Downloader | None = None,
        usage: UsageLink | None = None,
    ) -> None:
        self.state = WizardState()
        self.controller = controller
        self.engine_factory = engine_factory
        self.catalog_loader = catalog_loader
        self.downloader = downloader or Downloader()
        #: Ranks the connected hosts for the planned guest(s) (host page, summary).
        self.placement = PlacementAdvisor(controller, usage, self.downloader)
        self._tasks = TaskOwner(None, name="wizard task")
        self._fetches: dict[tuple[str, str], asyncio.Task[Any]] = {}

    # -- hosts ------------------------------------------------------------------------------

    def host(self) -> HostConnection:
        """The chosen host's connection (KeyError if it was removed)."""
        return self.controller.host(self.state.uri)

    def host_label(self) -> str:
        """The chosen host's name for people."""
        try:
            return self.controller.label(self.state.uri)
        except KeyError:
            return self.state.uri

    def guest_names(self) -> set[str]:
        """The names of the chosen host's guests, as last listed (no libvirt call)."""
        try:
            return {g.name for g in self.host().guests.values()}
        except KeyError:
            return set()

    # -- tasks ------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` owned by the wizard (cancelled by :meth:`cancel_all`; failures are
        logged: the pages show their own errors)."""
        return self._tasks.spawn(coro)

    def cancel_all(self) -> None:
        """Cancel every task and fetch the wizard started."""
        self._tasks.cancel_all()
        self.placement.cancel()
        for task in self._fetches.values():
            task.cancel()
        self._fetches.clear()

    # -- host data ------------------------------------------------------------------------

    async def networks(self) -> tuple[hostchoices.NetworkChoice, ...]:
        """The chosen host's networks (fetched once)."""
        return await self._fetch("networks", hostchoices.fetch_networks)

    async def virt_types(self) -> hostchoices.VirtTypes:
        """The chosen host's domain types (fetched once; may take seconds)."""
        return await self._fetch("virt_types", hostchoices.fetch_virt_types)

    async def pools(self) -> tuple[hostchoices.PoolChoice, ...]:
        """The chosen host's storage pools (fetched once)."""
        return await self._fetch("pools", hostchoices.fetch_pools)

    async def volumes(self) -> tuple[hostchoices.VolumeChoice, ...]:
        """The chosen host's volumes (fetched once)."""
        return await self._fetch("volumes", hostchoices.fetch_volumes)

    async def templates(self) -> tuple[hostchoices.TemplateChoice, ...]:
        """The chosen host's templates (fetched once)."""
        return await self._fetch("templates", hostchoices.fetch_templates)

    def prefetch(self) -> None:
        """Start fetching what later pages need, so it is there when they show."""
        for fetch in (self.networks, self.pools, self.virt_types):
            self.spawn(self._quietly(fetch()))

    async def _quietly(self, awaitable: Coroutine[Any, Any, object]) -> None:
        try:
            await awaitable
        except Exception as exc:  # the page that needs it shows the error
            _log.info("prefetch failed: %s", exc)

    async def _fetch(
        self, what: str, fetch: Callable[[HostConnection], Coroutine[Any, Any, _T]]
    ) -> _T:
        key = (self.state.uri, what)
        task = self._fetches.get(key)
        if task is None:
            task = asyncio.ensure_future(fetch(self.controller.host(self.state.uri)))
            self._fetches[key] = task
        try:
            result: _T = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except BaseException:
            if self._fetches.get(key) is task:
                del self._fetches[key]
            raise
        return result

    # -- catalog ----------------------------------------------------------------------------

    async def catalog(self) -> list[tuple[CatalogEntry, bool]]:
        """The catalog entries, each with whether its image is downloaded (file I/O on a thread).

        Raises:
            VmguiError: a catalog file is malformed.
        """
        entries = await asyncio.to_thread(self.catalog_loader)
        cached = await asyncio.to_thread(lambda: [self._is_cached(e) for e in entries])
        return list(zip(entries, cached, strict=True))

    def _is_cached(self, entry: CatalogEntry) -> bool:
        if entry.path:
            return Path(entry.path).is_file()
        path = self.downloader.cached_path(entry)
        marker = path.with_name(path.name + ".verified")
        return path.is_file() and marker.is_file()
