"""What may be deleted or resized: the storage rules, without a host."""

from __future__ import annotations

import pytest

from vmgui.core.pools import (
    StorageVolume,
    check_resize,
    pool_users,
    validate_volume_format,
    volume_delete_refusal,
)
from vmgui.core.validation import ValidationError
from vmgui.core.xml.pool import read_pool_description, read_volume_backing

GIB = 1 << 30


def _vol(used_by: tuple[str, ...] = (), backs: tuple[str, ...] = ()) -> StorageVolume:
    return StorageVolume("p", "v.qcow2", "/p/v.qcow2", "qcow2", GIB, 0, (), used_by, backs)


def test_delete_refusals() -> None:
    assert volume_delete_refusal(_vol()) == ""
    assert volume_delete_refusal(_vol(used_by=("a", "b"))) == "v.qcow2 is used by a, b"
    assert volume_delete_refusal(_vol(backs=("/p/x", "/p/y"))) == (
        "v.qcow2 backs 2 other volumes: /p/x, /p/y"
    )
    assert pool_users([_vol(used_by=("b",)), _vol(used_by=("a", "b"))]) == ("a", "b")


def test_resize_rules() -> None:
    check_resize(_vol(), 2 * GIB, ())
    with pytest.raises(ValidationError, match="only grows"):
        check_resize(_vol(), GIB // 2, ())
    with pytest.raises(ValidationError, match="running guest web"):
        check_resize(_vol(), 2 * GIB, ("web",))
    with pytest.raises(ValidationError, match="above zero"):
        check_resize(_vol(), 0, ())
    assert validate_volume_format("raw") == "raw"
    with pytest.raises(ValidationError, match="qcow2, raw"):
        validate_volume_format("vmdk")


def test_readers() -> None:
    pool = read_pool_description("<pool type='dir'><target><path>/a</path></target></pool>")
    assert (pool.type, pool.target_path) == ("dir", "/a")
    assert read_pool_description("<nope/>").type == ""
    vol = read_volume_backing(
        "<volume><target><format type='qcow2'/></target><backingStore><path>/b</path>"
        "<format type='raw'/></backingStore></volume>"
    )
    assert (vol.format, vol.backing_path, vol.backing_format) == ("qcow2", "/b", "raw")
