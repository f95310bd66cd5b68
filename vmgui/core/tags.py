"""Guest tags: the rules a tag follows, and the list operations the UI and the CLI share.

A tag is a short label ("web", "db-primary", "team:blue") kept in the guest's libvirt
metadata (:mod:`vmgui.core.xml.metadata`). Tags compare case-insensitively ("Web" and "web"
are one tag) but keep the spelling they were given. A guest's tags keep their order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from vmgui.core.validation import ValidationError

MAX_TAG_LENGTH = 40
_FIELD = "Tags"


def validate_tag(tag: str) -> str:
    """Check one tag.

    Args:
        tag: the tag as typed; surrounding whitespace is ignored.

    Returns:
        The tag without surrounding whitespace.

    Raises:
        ValidationError: empty, longer than :data:`MAX_TAG_LENGTH`, or it holds whitespace,
            a comma or a control character.
    """
    value = tag.strip()
    if not value:
        raise ValidationError(_FIELD, "A tag cannot be empty.")
    if any(c.isspace() for c in value):
        raise ValidationError(_FIELD, f"Tag {value!r} has a space in it; use - or _ instead.")
    if "," in value:
        raise ValidationError(_FIELD, f"Tag {value!r} has a comma in it; tags are single words.")
    if not value.isprintable():
        raise ValidationError(_FIELD, f"Tag {value!r} has a control character in it.")
    if len(value) > MAX_TAG_LENGTH:
        raise ValidationError(
            _FIELD, f"Tag {value[:12]}… is {len(value)} characters; at most {MAX_TAG_LENGTH}."
        )
    return value


def tag_key(tag: str) -> str:
    """What tags compare by (case-insensitive)."""
    return tag.casefold()


def has_tag(tags: Iterable[str], tag: str) -> bool:
    """Whether ``tags`` holds ``tag`` (case-insensitively)."""
    key = tag_key(tag.strip())
    return any(tag_key(t) == key for t in tags)


def validate_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Check a whole list of tags: each one valid, none twice (case-insensitively).

    Returns:
        The tags, stripped, in their order.

    Raises:
        ValidationError: naming the first bad or repeated tag.
    """
    result: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        value = validate_tag(tag)
        key = tag_key(value)
        if key in seen:
            raise ValidationError(_FIELD, f"Tag {value!r} is given twice.")
        seen.add(key)
        result.append(value)
    return tuple(result)


def parse_tag_list(text: str) -> tuple[str, ...]:
    """Read a comma-separated tag list as typed ("web, db"); empty items are skipped.

    Raises:
        ValidationError: a tag breaks :func:`validate_tag`, or one is given twice.
    """
    return validate_tags(part for part in text.split(",") if part.strip())


def format_tag_list(tags: Sequence[str]) -> str:
    """Tags as the comma-separated line :func:`parse_tag_list` reads."""
    return ", ".join(tags)


def add_tag(tags: Sequence[str], tag: str) -> tuple[str, ...]:
    """``tags`` with ``tag`` appended.

    Raises:
        ValidationError: ``tag`` is invalid or already in ``tags``.
    """
    value = validate_tag(tag)
    if has_tag(tags, value):
        raise ValidationError(_FIELD, f"The guest already has the tag {value!r}.")
    return (*tags, value)


def remove_tag(tags: Sequence[str], tag: str) -> tuple[str, ...]:
    """``tags`` without ``tag`` (matched case-insensitively).

    Raises:
        ValidationError: ``tag`` is not in ``tags``.
    """
    key = tag_key(tag.strip())
    kept = tuple(t for t in tags if tag_key(t) != key)
    if len(kept) == len(tags):
        raise ValidationError(_FIELD, f"The guest has no tag {tag.strip()!r}.")
    return kept


def all_tags(tag_lists: Iterable[Sequence[str]]) -> list[str]:
    """Every tag in ``tag_lists`` once, sorted case-insensitively.

    A tag spelled several ways ("web", "Web") is shown as most guests spell it (on a tie,
    the spelling that sorts first), whatever order the guests come in.
    """
    spellings: dict[str, Counter[str]] = {}
    for tags in tag_lists:
        for tag in tags:
            spellings.setdefault(tag_key(tag), Counter())[tag] += 1
    return [
        min(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0]
        for key in sorted(spellings)
    ]
