"""Placement advice for the wizard (no widgets): the connected hosts ranked for the planned
guest(s).

Real headroom comes from the stats engine (through the window's
:class:`~vmgui.ui.shell.UsageLink`: each host's own guests' mean CPU over the last
:data:`USAGE_WINDOW` seconds and their resident memory now); commitments, pool free space,
KVM and whether the base image is already on the host come from
:mod:`vmgui.virt.placement`, fetched once per host, pool and image for the wizard. The host
page ranks with the sizes known when it shows; the summary re-checks with the final ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from vmgui.core.catalog import CatalogEntry
from vmgui.core.errors import VmguiError
from vmgui.core.model import ConnectionState
from vmgui.core.placement import HostFacts, Placement, PlacementRequest, rank
from vmgui.ui.controller import HostController
from vmgui.ui.shell import UsageLink
from vmgui.ui.wizard.state import SourceKind, WizardState
from vmgui.virt.download import Downloader
from vmgui.virt.placement import ImageRef, fetch_facts, image_ref, with_measured

_log = logging.getLogger(__name__)

#: The stats history placement reads (seconds): "CPU idle over the last 10 min".
USAGE_WINDOW = 600.0


def placement_request(state: WizardState, image: ImageRef, *, per_host: bool) -> PlacementRequest:
    """What the wizard plans, as a placement request.

    Args:
        state: the wizard's choices (sizes, count, source).
        image: the chosen image's sizes (``ImageRef()`` when none or unknown).
        per_host: with "spread" on, ask for one guest (what each host must take at least);
            otherwise for the whole batch on one host.
    """
    vcpus, memory, disk = state.vcpus, state.memory_mib, float(state.disk_gib)
    if state.kind is SourceKind.TEMPLATE and state.template is not None:
        vcpus, memory = state.template.vcpus, max(1, state.template.memory_kib // 1024)
        disk = 0.0  # copy-on-write overlays
    elif state.kind in (SourceKind.TEMPLATE, SourceKind.VOLUME):
        disk = 0.0  # the existing volume
    count = 1 if per_host and state.spread else max(1, state.count)
    return PlacementRequest(
        max(1, vcpus), max(1, memory), disk, count, image.virtual_bytes, image.file_bytes
    )


class PlacementAdvisor:
    """Ranks the wizard's connected hosts (fetches are cached for the wizard's life).

    Args:
        controller: the hosts.
        usage: the window's usage link (None: no measured usage; "not measured" is said).
        downloader: where downloaded catalog images are cached (their volume name).
    """

    def __init__(
        self, controller: HostController, usage: UsageLink | None, downloader: Downloader
    ) -> None:
        self.controller = controller
        self.usage = usage
        self.downloader = downloader
        self._facts: dict[tuple[str, str, str], asyncio.Task[HostFacts]] = {}
        self._latest: dict[str, HostFacts] = {}
        self._images: dict[tuple[object, ...], asyncio.Task[ImageRef]] = {}

    def connected(self) -> list[str]:
        """The URIs of the connected hosts, in the controller's order."""
        return [
            uri
            for uri in self.controller.uris()
            if self.controller.host(uri).state is ConnectionState.CONNECTED
        ]

    async def rank_hosts(
        self,
        state: WizardState,
        *,
        per_host: bool = True,
        on_partial: Callable[[list[Placement]], None] | None = None,
    ) -> list[Placement]:
        """The connected hosts ranked for ``state``'s plan, best first (see
        :func:`placement_request` for ``per_host``).

        ``on_partial`` gets the ranking of the hosts that answered so far each time one more
        answers (all but the last): one slow host does not keep the others waiting.
        """
        image = await self.image(state)
        request = placement_request(state, image, per_host=per_host)
        pending = [
            asyncio.ensure_future(self._host_facts(uri, state.pool, image.volume_name))
            for uri in self.connected()
        ]
        facts: list[HostFacts] = []
        try:
            for answer in asyncio.as_completed(pending):
                facts.append(await answer)
                if on_partial is not None and len(facts) < len(pending):
                    on_partial(rank([self.measured(f) for f in facts], request))
        finally:
            for task in pending:
                task.cancel()  # (the fetches themselves are shielded and cached)
        return rank([self.measured(f) for f in facts], request)

    def rank_known(self, state: WizardState, *, per_host: bool = True) -> list[Placement]:
        """:meth:`rank_hosts` from what was fetched already (no wait; hosts not read yet are
        left out)."""
        facts = [self._latest[uri] for uri in self.connected() if uri in self._latest]
        return rank([self.measured(f) for f in facts], self.request(state, per_host=per_host))

    def request(self, state: WizardState, *, per_host: bool) -> PlacementRequest:
        """:func:`placement_request` with the image's sizes as far as they are known."""
        return placement_request(state, self._known_image(state), per_host=per_host)

    def measured(self, facts: HostFacts) -> HostFacts:
        """``facts`` with the stats engine's figures for the host's guests, where it has any."""
        usage = None if self.usage is None else self.usage.host_usage(facts.uri, USAGE_WINDOW)
        if usage is None or facts.error:
            return facts
        return with_measured(
            facts, usage.guests_cpu_percent, usage.guests_memory_kib, usage.covered_seconds
        )

    async def image(self, state: WizardState) -> ImageRef:
        """The chosen source's base image (``ImageRef()`` when it has none, or it cannot be
        read: then the check says nothing about it)."""
        source = self._image_source(state)
        if source is None:
            return ImageRef()
        key = state.source_key()[1:]
        task = self._images.get(key)
        if task is None:
            task = asyncio.ensure_future(image_ref(source, self.downloader))
            self._images[key] = task
        try:
            return await asyncio.shield(task)
        except VmguiError as exc:
            _log.info("placement: the image could not be read: %s", exc)
            return ImageRef()

    def cancel(self) -> None:
        """Cancel every fetch (the wizard closes)."""
        for task in [*self._facts.values(), *self._images.values()]:
            task.cancel()
        self._facts.clear()
        self._images.clear()

    # -- internals ---------------------------------------------------------------------------

    def _image_source(self, state: WizardState) -> CatalogEntry | Path | None:
        if state.kind is SourceKind.CATALOG:
            return state.entry
        if state.kind in (SourceKind.LOCAL, SourceKind.ISO) and state.image is not None:
            return state.image.path
        return None

    def _known_image(self, state: WizardState) -> ImageRef:
        task = self._images.get(state.source_key()[1:])
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return ImageRef()
        return task.result()

    async def _host_facts(self, uri: str, pool: str, image_volume: str) -> HostFacts:
        key = (uri, pool, image_volume)
        task = self._facts.get(key)
        if task is None:
            task = asyncio.ensure_future(self._read(uri, pool, image_volume))
            self._facts[key] = task
        facts = await asyncio.shield(task)
        if facts.error:  # retried next time
            self._facts.pop(key, None)
        self._latest[uri] = facts
        return facts

    async def _read(self, uri: str, pool: str, image_volume: str) -> HostFacts:
        try:
            host = self.controller.host(uri)
            return await fetch_facts(host, pool=pool, image_volume=image_volume)
        except KeyError:
            return HostFacts.unreachable(uri, "the host was removed")
        except VmguiError as exc:
            return HostFacts.unreachable(uri, str(exc))
