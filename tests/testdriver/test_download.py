"""Downloads from a local HTTP server: progress, resume after a cut, checksums, cache, cancel."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.imageserver import ImageServer
from vmgui.core.catalog import CatalogEntry, Checksum
from vmgui.core.errors import VmguiError
from vmgui.virt.download import Downloader, TransferProgress, default_cache_dir, hash_file

Run = Callable[..., Any]
DATA = os.urandom(3 << 20) + b"end"
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()


@pytest.fixture
def server() -> Iterator[ImageServer]:
    sums = f"{'0' * 64}  other.qcow2\n{SHA256} *img.qcow2\n".encode()
    with ImageServer({"/img.qcow2": DATA, "/SHA256SUMS": sums, "/x.sha512": SHA512.encode()}) as s:
        yield s


def _entry(server: ImageServer, checksum: Checksum) -> CatalogEntry:
    return CatalogEntry("img", "Image", url=server.url("/img.qcow2"), checksum=checksum)


def test_default_cache_dir_is_xdg() -> None:
    assert default_cache_dir() == Path(os.environ["XDG_CACHE_HOME"]) / "vmgui" / "images"


def test_download_verify_and_cache(arun: Run, server: ImageServer, tmp_path: Path) -> None:
    reports: list[TransferProgress] = []
    downloader = Downloader(tmp_path)
    entry = _entry(server, Checksum("sha256", url=server.url("/SHA256SUMS")))
    got = arun(downloader.fetch(entry, reports.append))
    assert got.path == tmp_path / "img" / "img.qcow2"
    assert got.path.read_bytes() == DATA and got.digest == SHA256 and not got.cached
    assert reports[-1].phase == "verify" and reports[-1].fraction == 1.0
    downloads = [r for r in reports if r.phase == "download"]
    assert downloads[-1].done_bytes == len(DATA) and downloads[-1].total_bytes == len(DATA)
    assert not (tmp_path / "img" / "img.qcow2.part").exists()

    again = arun(downloader.fetch(entry))
    assert again.cached and again.path == got.path
    assert [p for p, _ in server.requests].count("/img.qcow2") == 1


def test_resume_after_a_cut(arun: Run, server: ImageServer, tmp_path: Path) -> None:
    server.cut_once("/img.qcow2")
    got = arun(Downloader(tmp_path).fetch(_entry(server, Checksum("sha256", SHA256))))
    assert got.path.read_bytes() == DATA
    ranges = [r for p, r in server.requests if p == "/img.qcow2"]
    assert ranges[0] == "" and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_partial_file_survives_a_failed_run(arun: Run, server: ImageServer, tmp_path: Path) -> None:
    entry = _entry(server, Checksum("sha512", url=server.url("/x.sha512")))
    server.cut_once("/img.qcow2")
    with pytest.raises(VmguiError, match="Could not download Image") as info:
        arun(Downloader(tmp_path, retries=0).fetch(entry))
    assert "resume" in info.value.hint
    part = tmp_path / "img" / "img.qcow2.part"
    assert 0 < part.stat().st_size < len(DATA)
    got = arun(Downloader(tmp_path, retries=0).fetch(entry))
    assert got.path.read_bytes() == DATA and got.algorithm == "sha512"
    assert server.requests[-1] == ("/img.qcow2", f"bytes={len(DATA) // 2}-")


def test_checksum_mismatch_deletes_the_file(arun: Run, server: ImageServer, tmp_path: Path) -> None:
    with pytest.raises(VmguiError, match="checksum does not match") as info:
        arun(Downloader(tmp_path).fetch(_entry(server, Checksum("sha256", "1" * 64))))
    assert "deleted" in info.value.details
    assert list((tmp_path / "img").iterdir()) == []


def test_a_verified_file_of_another_checksum_is_not_reused(
    arun: Run, server: ImageServer, tmp_path: Path
) -> None:
    arun(Downloader(tmp_path).fetch(_entry(server, Checksum("sha256", SHA256))))
    with pytest.raises(VmguiError, match="checksum does not match"):
        arun(Downloader(tmp_path).fetch(_entry(server, Checksum("sha256", "2" * 64))))


def test_http_errors(arun: Run, server: ImageServer, tmp_path: Path) -> None:
    missing = CatalogEntry(
        "gone", "Gone", url=server.url("/gone.qcow2"), checksum=Checksum("sha256", SHA256)
    )
    with pytest.raises(VmguiError, match="HTTP 404"):
        arun(Downloader(tmp_path).fetch(missing))
    unlisted = CatalogEntry(
        "x",
        "X",
        url=server.url("/nope.img"),
        checksum=Checksum("sha256", url=server.url("/SHA256SUMS")),
    )
    with pytest.raises(VmguiError, match=r"does not list nope\.img"):
        arun(Downloader(tmp_path).fetch(unlisted))
    refused = CatalogEntry(
        "r", "R", url="http://127.0.0.1:9/r.img", checksum=Checksum("sha256", SHA256)
    )
    with pytest.raises(VmguiError, match="Could not download R"):
        arun(Downloader(tmp_path, retries=1, timeout=2).fetch(refused))


def test_offline_checksum_file_uses_verified_copy(
    arun: Run, server: ImageServer, tmp_path: Path
) -> None:
    entry = _entry(server, Checksum("sha256", url=server.url("/SHA256SUMS")))
    arun(Downloader(tmp_path).fetch(entry))
    del server.files["/SHA256SUMS"]
    assert arun(Downloader(tmp_path).fetch(entry)).cached


def test_cancel_keeps_the_partial_file(arun: Run, tmp_path: Path) -> None:
    big = os.urandom(64 << 20)
    with ImageServer({"/big.img": big}) as server:
        entry = CatalogEntry(
            "big",
            "Big",
            url=server.url("/big.img"),
            checksum=Checksum("sha256", hashlib.sha256(big).hexdigest()),
        )

        async def cancel_midway() -> None:
            started = asyncio.Event()

            def on_progress(p: TransferProgress) -> None:
                if p.done_bytes > 0:
                    started.set()

            task = asyncio.ensure_future(Downloader(tmp_path).fetch(entry, on_progress))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        arun(cancel_midway())
    part = tmp_path / "big" / "big.img.part"
    assert part.exists() and part.stat().st_size < len(big)
    assert not (tmp_path / "big" / "big.img").exists()


def test_hash_file(arun: Run, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(DATA)
    assert arun(hash_file(path)) == SHA256
    assert arun(hash_file(path, "sha512")) == SHA512
