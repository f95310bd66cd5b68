"""Leftovers on the test driver: a rollback on a lost host writes them down, a later job takes
them over, a connected host's review finds what is still there (and strikes the rest), removal,
and ``vmgui-cli cleanup``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import Recorder
from vmgui.cli import main
from vmgui.core.leftovers import Leftover, LeftoverBook, guest_leftover, volume_leftover
from vmgui.core.provisioning import ProvisionError, Step
from vmgui.core.xml.build import volume_xml
from vmgui.virt.connection import HostConnection
from vmgui.virt.leftovers import remove_found, review
from vmgui.virt.transaction import Transaction

Run = Callable[..., Any]
URI = fixture_uri("node50.xml")
POOL = "default-pool"
# node50.xml: guest-08 is shut off and alone on its disk; guest-01's disk is guest-01's
G08 = ("bdc4716d-ee94-515d-b9a9-1044488aaaa8", "guest-08", "/var/lib/libvirt/images/guest-08.qcow2")
G01_DISK = "/var/lib/libvirt/images/guest-01.qcow2"
G01_UUID = "ec6d7866-d344-58c4-a3d3-036c76298614"  # guest-01's UUID, under another name below


@pytest.fixture
def book(tmp_path: Path) -> LeftoverBook:
    return LeftoverBook(tmp_path / "leftovers.json")


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    host = HostConnection(URI, Recorder())
    arun(host.connect())
    yield host
    arun(host.close())


def _make_volume(name: str) -> Callable[[libvirt.virConnect], str]:
    def make(conn: libvirt.virConnect) -> str:
        vol = conn.storagePoolLookupByName(POOL).createXML(volume_xml(name, 1 << 20, "raw"), 0)
        return str(vol.path())

    return make


def test_a_rollback_on_a_lost_host_writes_down_what_it_made(
    host: HostConnection, book: LeftoverBook, arun: Run
) -> None:
    txn = Transaction(host, "Could not import web1", leftovers=book)
    made: list[str] = []

    async def upload() -> str:
        made.append(await txn.create_volume(_make_volume("web1-vda.qcow2"), "create"))
        await host.disconnect()  # the connection is lost mid-job
        raise ProvisionError(Step.UPLOAD, "the connection to node50 was lost")

    with pytest.raises(ProvisionError) as info:
        arun(txn.run([(Step.UPLOAD, upload)]))
    error = info.value
    assert error.left_behind and made[0] in error.left_behind[0]
    assert f"vmgui-cli cleanup --connect {URI}" in str(error) and "\n" not in str(error)
    assert book.for_host(URI) == [
        Leftover(URI, "volume", made[0], made[0], "Could not import web1", book.all()[0].since)
    ]
    # a rollback that removes what it made writes nothing down
    arun(host.connect())
    quiet = LeftoverBook(book.path.with_name("other.json"))
    txn2 = Transaction(host, "Could not import web2", leftovers=quiet)

    async def fail() -> str:
        await txn2.create_volume(_make_volume("web2-vda.qcow2"), "create")
        raise ProvisionError(Step.UPLOAD, "disk full")

    with pytest.raises(ProvisionError) as info2:
        arun(txn2.run([(Step.UPLOAD, fail)]))
    assert info2.value.left_behind == () and quiet.all() == []
    assert "cleanup" not in str(info2.value)


def test_a_job_that_makes_the_same_thing_takes_it_over(
    host: HostConnection, book: LeftoverBook
) -> None:
    path = "/var/lib/libvirt/images/web1-vda.qcow2"
    book.add([volume_leftover(URI, path, "Could not move web1"), volume_leftover(URI, "/x", "j")])
    Transaction(host, "Could not import web1", leftovers=book).created_volume(path)
    assert [i.key for i in book.for_host(URI)] == ["/x"]
    book.add([guest_leftover(URI, "u-1", "web1", "j")])
    Transaction(host, "Could not import web1", leftovers=book).created_domain("u-1", "web1")
    assert [i.key for i in book.for_host(URI)] == ["/x"]


def test_review_finds_what_is_there_and_removal_takes_it(
    host: HostConnection, book: LeftoverBook, arun: Run
) -> None:
    uuid, name, disk = G08
    book.add(
        [
            guest_leftover(URI, uuid, name, "Could not move guest-08"),
            volume_leftover(URI, disk, "Could not move guest-08"),
            volume_leftover(URI, G01_DISK, "j"),  # guest-01 uses it: not a leftover any more
            guest_leftover(URI, G01_UUID, "web9", "j"),  # that UUID is another guest now
            volume_leftover(URI, "/var/lib/libvirt/images/gone.qcow2", "j"),
            volume_leftover("test:///default", disk, "j"),  # another host's
        ]
    )
    found = arun(review(host, book))
    assert [f.text for f in found] == [f"guest {name} (shut off)", f"volume {disk} (538 MiB)"]
    assert [i.uri for i in book.all()] == [URI, URI, "test:///default"]  # the rest struck
    removed, failed = arun(remove_found(host, book, found))
    assert failed == [] and [i.kind for i in removed] == ["guest", "volume"]
    assert [i.uri for i in book.all()] == ["test:///default"]

    def there(conn: libvirt.virConnect) -> tuple[list[str], bool]:
        names = [str(d.name()) for d in conn.listAllDomains(0)]
        pool = conn.storagePoolLookupByName(POOL)
        return names, disk in [str(v.path()) for v in pool.listAllVolumes(0)]

    names, disk_there = arun(host.call(there, "read"))
    assert name not in names and "guest-01" in names and not disk_there


def test_cli_cleanup_lists_keeps_and_removes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = LeftoverBook()  # the one vmgui-cli uses (tests/conftest.py: a private XDG folder)
    uuid, name, disk = G08
    book.add([guest_leftover(URI, uuid, name, "Could not move guest-08")])
    try:
        # no terminal, no flag: it lists and exits 1, keeping the entry
        assert main(["cleanup", "--connect", URI]) == 1
        out = capsys.readouterr().out
        assert f"guest {name} (shut off)  [Could not move guest-08]" in out
        assert "kept (remove with --yes, or forget with --keep)" in out
        assert len(book.all()) == 1
        assert main(["cleanup", "--connect", URI, "--yes", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["removed"] == [f"guest {name}"] and data["failed"] == []
        assert book.all() == []
        assert main(["cleanup", "--connect", URI]) == 0
        assert "nothing left on" in capsys.readouterr().out
        # guest-08's disk alone: guest-08 (not a leftover now) uses it, so it is struck unasked
        book.add([volume_leftover(URI, disk, "Could not move guest-08")])
        assert main(["cleanup", "--connect", URI]) == 0 and book.all() == []
        capsys.readouterr()
        book.add([guest_leftover(URI, uuid, name, "Could not move guest-08")])
        assert main(["cleanup", "--connect", URI, "--keep"]) == 0
        assert "forgot 1 leftover; they stay on the host" in capsys.readouterr().out
        assert book.all() == []
    finally:
        book.path.unlink(missing_ok=True)
