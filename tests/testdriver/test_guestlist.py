"""The bulk guest list against libvirt's test driver, whose stats hold only ``state.*``."""

from __future__ import annotations

import libvirt

from tests.conftest import fixture_uri
from vmgui.virt import guestlist, inspect
from vmgui.virt.events import ensure_event_loop


def test_bulk_list_equals_reading_each_guest() -> None:
    uri = fixture_uri("node50.xml")
    ensure_event_loop()
    conn = libvirt.open(uri)
    try:
        bulk = guestlist.list_guests(uri, conn)
        each = [inspect.guest_info(uri, dom) for dom in conn.listAllDomains(0)]
    finally:
        conn.close()
    assert len(bulk) == len(each) > 50
    assert sorted(bulk, key=lambda g: g.uuid) == sorted(each, key=lambda g: g.uuid)
