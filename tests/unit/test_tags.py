"""Tag rules (vmgui.core.tags) and vmgui's metadata element (vmgui.core.xml.metadata)."""

from __future__ import annotations

import pytest

from vmgui.core.tags import (
    MAX_TAG_LENGTH,
    add_tag,
    all_tags,
    format_tag_list,
    has_tag,
    parse_tag_list,
    remove_tag,
    validate_tag,
    validate_tags,
)
from vmgui.core.validation import ValidationError
from vmgui.core.xml.base import VMGUI_NS, parse_root
from vmgui.core.xml.edit import template_metadata
from vmgui.core.xml.metadata import read_tags, tags_metadata


def test_a_valid_tag_is_stripped() -> None:
    assert validate_tag("  web ") == "web"
    assert validate_tag("team:blue/db_1.x") == "team:blue/db_1.x"
    assert validate_tag("x" * MAX_TAG_LENGTH) == "x" * MAX_TAG_LENGTH


@pytest.mark.parametrize(
    ("tag", "says"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("a b", "space"),
        ("a\tb", "space"),
        ("a,b", "comma"),
        ("a\x00b", "control character"),
        ("x" * (MAX_TAG_LENGTH + 1), f"at most {MAX_TAG_LENGTH}"),
    ],
)
def test_bad_tags_are_refused_in_one_line(tag: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_tag(tag)
    assert says in caught.value.message
    assert "\n" not in caught.value.message and caught.value.field == "Tags"


def test_tags_are_unique_case_insensitively() -> None:
    assert validate_tags(["web", "DB"]) == ("web", "DB")
    with pytest.raises(ValidationError, match="'Web' is given twice"):
        validate_tags(["web", "Web"])
    assert has_tag(("web", "db"), " WEB ")
    assert not has_tag(("web",), "we")


def test_parse_and_format_a_tag_line() -> None:
    assert parse_tag_list(" web, db ,, prod ") == ("web", "db", "prod")
    assert parse_tag_list("") == ()
    assert format_tag_list(("web", "db")) == "web, db"
    assert parse_tag_list(format_tag_list(("a", "b-c"))) == ("a", "b-c")
    with pytest.raises(ValidationError, match="space"):
        parse_tag_list("web, two words")


def test_add_and_remove() -> None:
    assert add_tag(("web",), "db") == ("web", "db")
    with pytest.raises(ValidationError, match="already has the tag 'WEB'"):
        add_tag(("web",), "WEB")
    with pytest.raises(ValidationError, match="space"):
        add_tag((), "a b")
    assert remove_tag(("web", "db"), "WEB") == ("db",)
    with pytest.raises(ValidationError, match="has no tag 'x'"):
        remove_tag(("web",), "x")


def test_all_tags_once_sorted() -> None:
    assert all_tags([("web", "prod"), ("Web", "db"), ("web",), ()]) == ["db", "prod", "web"]
    # A tie is decided by the spelling, not by the order the guests come in.
    assert all_tags([("web",), ("Web",)]) == all_tags([("Web",), ("web",)]) == ["Web"]


# -- the metadata element ------------------------------------------------------------------


def test_tags_round_trip_through_the_element() -> None:
    xml = tags_metadata(None, ("web", "db"))
    assert xml is not None
    assert read_tags(xml) == ("web", "db")
    root = parse_root(xml, "vmgui")
    assert [t.text for t in root.iterfind("tags/tag")] == ["web", "db"]


def test_tags_keep_the_template_mark_and_the_mark_keeps_the_tags() -> None:
    marked = template_metadata(None, True)
    tagged = tags_metadata(marked, ("web",))
    assert tagged is not None and parse_root(tagged, "vmgui").find("template") is not None
    unmarked = template_metadata(tagged, False)
    assert read_tags(unmarked) == ("web",)
    assert unmarked is not None and parse_root(unmarked, "vmgui").find("template") is None
    # Removing every tag leaves the mark; removing both leaves nothing to store.
    assert read_tags(tags_metadata(tagged, ())) == ()
    assert template_metadata(tags_metadata(tagged, ()), False) is None
    assert tags_metadata(None, ()) is None


def test_read_tags_is_lenient() -> None:
    # As libvirt returns it (no namespaces), with whitespace, repeats and an empty tag.
    element = (
        "<vmgui>\n  <tags>\n    <tag> web </tag>\n    <tag>WEB</tag><tag/><tag>db</tag>\n"
        "  </tags>\n</vmgui>"
    )
    assert read_tags(element) == ("web", "db")
    # As it appears inside a domain's XML (namespaced).
    namespaced = (
        f'<vmgui:vmgui xmlns:vmgui="{VMGUI_NS}"><vmgui:tags><vmgui:tag>a</vmgui:tag>'
        "</vmgui:tags></vmgui:vmgui>"
    )
    assert read_tags(namespaced) == ("a",)
    assert read_tags(None) == ()
    assert read_tags("<vmgui><tags>") == ()
    assert read_tags("<other><tags><tag>x</tag></tags></other>") == ()


def test_writing_tags_escapes_and_keeps_unknown_children() -> None:
    existing = "<vmgui><future kind='x'>keep</future></vmgui>"
    xml = tags_metadata(existing, ("a&b", "<c>"))
    assert xml is not None and "&amp;" in xml and "&lt;c&gt;" in xml
    root = parse_root(xml, "vmgui")
    assert root.findtext("future") == "keep"
    assert read_tags(xml) == ("a&b", "<c>")
    replaced = tags_metadata(xml, ("z",))
    assert read_tags(replaced) == ("z",)
    assert replaced is not None and len(parse_root(replaced, "vmgui").findall("tags")) == 1
