"""Tags on the test driver: vmgui.virt.tags, the listing that reads them, and vmgui-cli."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import libvirt
import pytest

from tests.conftest import fixture_uri, wait_until
from tests.testdriver.helpers import Recorder
from vmgui.cli import main
from vmgui.core.errors import VmguiError
from vmgui.core.model import GuestConfigEdit, GuestInfo, GuestState
from vmgui.core.xml.base import VMGUI_NS
from vmgui.core.xml.metadata import read_tags
from vmgui.virt import guests as guest_service
from vmgui.virt import inspect
from vmgui.virt.connection import HostConnection
from vmgui.virt.tags import add_tag, remove_tag, set_tags

Run = Callable[..., Any]
TAGGED = fixture_uri("tagged.xml")


def _guest(host: HostConnection, name: str) -> GuestInfo:
    return next(g for g in host.guests.values() if g.name == name)


def _element(host: HostConnection, run: Run, uuid: str, flags: int) -> str | None:
    element: str | None = run(
        host.call(lambda c: inspect.vmgui_metadata(inspect.lookup(c, uuid), flags), "read")
    )
    return element


@pytest.fixture
def tagged(arun: Run) -> Iterator[tuple[HostConnection, Recorder, Run]]:
    rec = Recorder()
    host = HostConnection(TAGGED, rec)
    arun(host.connect())
    yield host, rec, arun
    arun(host.close())


def test_listing_reads_tags(tagged: tuple[HostConnection, Recorder, Run]) -> None:
    _host, rec, _run = tagged
    listed = {g.name: g.tags for g in rec.listed[0]}
    assert listed == {
        "web-1": ("web", "prod"),
        "web-2": ("web",),
        "db-1": ("db", "prod"),
        "golden": ("base",),
        "plain": (),
    }


def test_add_to_a_running_guest_writes_config_and_live(
    tagged: tuple[HostConnection, Recorder, Run],
) -> None:
    host, _rec, run = tagged
    guest = _guest(host, "web-1")
    assert guest.state is GuestState.RUNNING
    assert run(add_tag(host, guest, " blue ")) == ("web", "prod", "blue")
    for flags in (libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE):
        assert read_tags(_element(host, run, guest.uuid, flags)) == ("web", "prod", "blue")
    run(wait_until(lambda: _guest(host, "web-1").tags == ("web", "prod", "blue")))
    assert run(remove_tag(host, guest, "PROD")) == ("web", "blue")
    run(wait_until(lambda: _guest(host, "web-1").tags == ("web", "blue")))


def test_removing_the_last_tag_keeps_the_template_mark(
    tagged: tuple[HostConnection, Recorder, Run],
) -> None:
    host, _rec, run = tagged
    golden = _guest(host, "golden")
    assert run(remove_tag(host, golden, "base")) == ()
    element = _element(host, run, golden.uuid, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert element is not None and "<template" in element and "tags" not in element
    assert run(set_tags(host, golden, ["a", "b"])) == ("a", "b")
    # plain has no metadata at all: tagging creates it, untagging removes it again.
    plain = _guest(host, "plain")
    run(add_tag(host, plain, "x"))
    run(remove_tag(host, plain, "x"))
    assert _element(host, run, plain.uuid, libvirt.VIR_DOMAIN_AFFECT_CONFIG) is None


def test_refusals_are_one_line_and_change_nothing(
    tagged: tuple[HostConnection, Recorder, Run],
) -> None:
    host, _rec, run = tagged
    guest = _guest(host, "web-2")
    for attempt, says in (
        (add_tag(host, guest, "WEB"), "already has the tag 'WEB'"),
        (add_tag(host, guest, "two words"), "has a space"),
        (remove_tag(host, guest, "nope"), "has no tag 'nope'"),
        (set_tags(host, guest, ["a", "A"]), "given twice"),
    ):
        with pytest.raises(VmguiError) as caught:
            run(attempt)
        assert says in str(caught.value) and "\n" not in str(caught.value)
    element = _element(host, run, guest.uuid, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert read_tags(element) == ("web",)


def test_a_metadata_event_refreshes_the_guest(
    tagged: tuple[HostConnection, Recorder, Run],
) -> None:
    """A change made without vmgui's refresh request (as another client would) shows up."""
    host, rec, run = tagged
    guest = _guest(host, "db-1")
    element = "<vmgui><tags><tag>from-outside</tag></tags></vmgui>"

    def outside(conn: libvirt.virConnect) -> None:
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
        dom = inspect.lookup(conn, guest.uuid)
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, element, "vmgui", VMGUI_NS, flags)

    run(host.call(outside, "set"))
    run(wait_until(lambda: any(g.tags == ("from-outside",) for g in rec.changed)))
    assert _guest(host, "db-1").tags == ("from-outside",)


def test_apply_edit_sets_tags(tagged: tuple[HostConnection, Recorder, Run]) -> None:
    host, _rec, run = tagged
    guest = _guest(host, "web-2")
    run(guest_service.apply_edit(host, GuestConfigEdit(guest=guest, tags=("a", "b"))))
    run(wait_until(lambda: _guest(host, "web-2").tags == ("a", "b")))


# -- vmgui-cli ---------------------------------------------------------------------------------


def test_cli_lists_by_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--connect", TAGGED, "--tag", "PROD", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(g["name"], g["tags"]) for g in data] == [
        ("db-1", ["db", "prod"]),
        ("web-1", ["web", "prod"]),
    ]
    assert main(["list", "--connect", TAGGED, "--tag", "web"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "VCPUS", "MEMORY", "MiB", "TAGS"]
    assert [line.split()[0] for line in lines[1:]] == ["web-1", "web-2"]
    assert lines[1].endswith("web, prod")


def test_cli_shows_adds_and_removes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--connect", TAGGED, "web-1"]) == 0
    assert capsys.readouterr().out == "web-1: web, prod\n"
    assert main(["tag", "--connect", TAGGED, "web-1", "add", "blue"]) == 0
    assert capsys.readouterr().out == "web-1: web, prod, blue\n"
    assert main(["tag", "--connect", TAGGED, "--json", "golden", "remove", "base"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == []
    assert main(["tag", "--connect", TAGGED, "plain"]) == 0
    assert capsys.readouterr().out == "plain: no tags\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tag", "nope"], "There is no guest 'nope'"),
        (["tag", "web-1", "add", "a b"], "has a space"),
        (["tag", "web-1", "add", "web"], "already has the tag 'web'"),
        (["tag", "web-1", "remove", "x"], "has no tag 'x'"),
        (["tag", "web-1", "add"], "add needs a TAG"),
        (["list", "--tag", "a,b"], "has a comma"),
    ],
)
def test_cli_errors_are_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([argv[0], "--connect", TAGGED, *argv[1:]]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("vmgui-cli: ") and says in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
