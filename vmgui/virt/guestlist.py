"""A host's guest list in a fixed number of round trips (blocking; on the host's worker).

Reading each guest (``info``, ``isPersistent``, ``hasManagedSaveImage``) costs 2-3 round trips
per guest: 2.5 s for 9 guests at 100 ms RTT (RECIPES.md §5). :func:`list_guests` asks three
bulk questions instead, whatever the number of guests: ``getAllDomainStats`` (state, balloon
and vCPU groups, ``NOWAIT`` so a guest busy in a job never blocks it) and two filtered
``listAllDomains`` (transient guests, guests with a managed save image). A guest whose stats
lack a field (libvirt's test driver reports only ``state.*``; a ``NOWAIT`` skip) is read the
one-by-one way.

Tags live in each guest's metadata, which no bulk call returns: they are one ``metadata`` call
per guest, made concurrently on a remote host (libvirt's remote client carries many calls at
once on one connection), so they add about one round trip, not one per guest.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import libvirt

from vmgui.core.model import GuestInfo, guest_state_from_libvirt
from vmgui.core.xml.metadata import read_tags
from vmgui.virt import inspect

#: How many tag reads a remote host gets at once.
_TAG_READERS = 16

#: The stats groups that hold a list row's fields.
LIST_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
)
_NEEDED = ("state.state", "balloon.current", "balloon.maximum", "vcpu.current")


def list_guests(uri: str, conn: libvirt.virConnect) -> list[GuestInfo]:
    """Every guest on the host (3 round trips, plus one read per guest the stats leave out)."""
    stats = conn.getAllDomainStats(LIST_STATS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
    transient = _uuids(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
    saved = _uuids(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)
    result = []
    bulk = [(dom, values) for dom, values in stats if all(key in values for key in _NEEDED)]
    tags = _tags(uri, [dom for dom, _values in bulk])
    for dom, values in stats:
        if any(key not in values for key in _NEEDED):
            result += _one_by_one(uri, dom)
            continue
        uuid = dom.UUIDString()  # name, UUID and id come with the domain: no round trip
        result.append(
            GuestInfo(
                host_uri=uri,
                uuid=uuid,
                name=dom.name(),
                state=guest_state_from_libvirt(int(values["state.state"]), uuid in saved),
                vcpus=int(values["vcpu.current"]),
                memory_kib=int(values["balloon.current"]),
                max_memory_kib=int(values["balloon.maximum"]),
                persistent=uuid not in transient,
                domain_id=int(dom.ID()),
                tags=tags.get(uuid, ()),
            )
        )
    return result


def _tags(uri: str, domains: list[libvirt.virDomain]) -> dict[str, tuple[str, ...]]:
    """Each guest's tags by UUID (a guest gone meanwhile has none)."""

    def read(dom: libvirt.virDomain) -> tuple[str, tuple[str, ...]]:
        try:
            return dom.UUIDString(), read_tags(inspect.vmgui_metadata(dom))
        except libvirt.libvirtError:
            return dom.UUIDString(), ()

    if not _remote(uri) or len(domains) < 2:
        return dict(map(read, domains))
    with ThreadPoolExecutor(min(_TAG_READERS, len(domains)), "vmgui-tags") as pool:
        return dict(pool.map(read, domains))


def _remote(uri: str) -> bool:
    """Whether calls to ``uri`` cross a network (a transport or a host name in it)."""
    parsed = urlsplit(uri)
    return "+" in parsed.scheme or bool(parsed.hostname)


def _uuids(conn: libvirt.virConnect, flags: int) -> set[str]:
    return {dom.UUIDString() for dom in conn.listAllDomains(flags)}


def _one_by_one(uri: str, dom: libvirt.virDomain) -> list[GuestInfo]:
    try:
        return [inspect.guest_info(uri, dom)]
    except libvirt.libvirtError as exc:  # gone meanwhile
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
        return []
