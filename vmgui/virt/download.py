"""Image downloads: progress, cancel, resume by HTTP Range, mandatory checksum, XDG cache.

A download runs on its own thread with httpx's blocking client (disk and network I/O never
touch the asyncio loop); progress is handed to the loop with ``call_soon_threadsafe``.
Cancelling the awaiting task stops the thread at the next chunk.

Cache layout (``$XDG_CACHE_HOME/vmgui/images``)::

    <entry id>/<file>            a verified image (never used before it is verified)
    <entry id>/<file>.part       an interrupted download, resumed with a Range request
    <entry id>/<file>.verified   "<algorithm> <hex digest> <size>" written after verification

A file whose digest does not match is deleted and never used.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import platformdirs

from vmgui.core.catalog import CatalogEntry, parse_checksum_file
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import TransferMeter
from vmgui.virt.events import Worker

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

CHUNK = 1 << 20
_REPORT_EVERY = 0.1  # seconds between progress reports


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """Where a download stands.

    Attributes:
        phase: "download" or "verify".
        done_bytes: bytes so far.
        total_bytes: bytes in all, or None when the server does not say.
        speed: bytes per second, or None.
        eta: seconds left, or None.
    """

    phase: str
    done_bytes: int
    total_bytes: int | None
    speed: float | None = None
    eta: float | None = None

    @property
    def fraction(self) -> float | None:
        """0..1, or None when the size is unknown."""
        if not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)


@dataclass(frozen=True, slots=True)
class DownloadedImage:
    """A verified image in the cache.

    Attributes:
        path: the file.
        algorithm: the checksum algorithm.
        digest: its hex digest.
        size: its size in bytes.
        cached: True when no byte was downloaded this time.
    """

    path: Path
    algorithm: str
    digest: str
    size: int
    cached: bool


def default_cache_dir() -> Path:
    """Where downloaded images are kept (``user_cache_dir('vmgui')/images``)."""
    return Path(platformdirs.user_cache_dir("vmgui")) / "images"


class _CancelledError(Exception):
    pass


class Downloader:
    """Fetches catalog images into the cache.

    Args:
        cache_dir: the image cache (default :func:`default_cache_dir`).
        transport: an httpx transport (tests may pass one; default: the network).
        retries: how often a cut transfer is resumed within one call.
        timeout: seconds to wait for a connection or the next bytes.
        clock: monotonic clock for speed and ETA.
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        retries: int = 3,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self._transport = transport
        self._retries = retries
        self._timeout = timeout
        self._clock = clock

    def cached_path(self, entry: CatalogEntry) -> Path:
        """Where ``entry``'s verified image is (or will be) kept."""
        return self.cache_dir / entry.id / entry.filename

    def verified_copy(self, entry: CatalogEntry) -> DownloadedImage | None:
        """``entry``'s cached image if it was downloaded and verified (blocking: reads its
        marker; no network: a checksum file is not fetched), else None."""
        if entry.checksum is None:
            return None
        expected = entry.checksum.value or None
        return _verified(self.cached_path(entry), entry.checksum.algorithm, expected)

    async def fetch(
        self,
        entry: CatalogEntry,
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> DownloadedImage:
        """Return ``entry``'s verified image, downloading (or resuming) it if needed.

        Raises:
            VmguiError: unreachable URL, HTTP error, checksum mismatch (the file is
                deleted), or a cache that cannot be written.
            asyncio.CancelledError: cancelled; the partial file is kept for a resume.
        """
        if not entry.url or entry.checksum is None:
            raise VmguiError(f"{entry.name} is not a download", "the entry has no url")
        loop = asyncio.get_running_loop()
        cancel = threading.Event()

        def report(p: TransferProgress) -> None:
            if progress is not None and not loop.is_closed():
                loop.call_soon_threadsafe(progress, p)

        future = _in_thread(lambda: self._fetch_blocking(entry, cancel, report), entry.id)
        wrapped = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(wrapped)
        except asyncio.CancelledError:
            cancel.set()
            await _settle(wrapped, self._timeout)
            raise

    # -- blocking, on the download thread ---------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(
            transport=self._transport,
            verify=_ssl_context(),
            follow_redirects=True,
            timeout=httpx.Timeout(self._timeout),
            headers={"User-Agent": "vmgui", "Accept-Encoding": "identity"},
        )

    def _fetch_blocking(
        self,
        entry: CatalogEntry,
        cancel: threading.Event,
        report: Callable[[TransferProgress], None],
    ) -> DownloadedImage:
        checksum = entry.checksum
        assert checksum is not None
        dest = self.cached_path(entry)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VmguiError(f"Could not create the image cache {dest.parent}", str(exc)) from exc
        with self._client() as client:
            expected = checksum.value
            if not expected:
                try:
                    expected = self._checksum_from_file(client, entry)
                except VmguiError:
                    cached = _verified(dest, checksum.algorithm, None)
                    if cached is None:
                        raise
                    _log.warning("%s: checksum file unreachable, using the verified copy", entry.id)
                    return cached
            cached = _verified(dest, checksum.algorithm, expected)
            if cached is not None:
                return cached
            part = dest.with_name(dest.name + ".part")
            self._download(client, entry, part, cancel, report)
        return self._verify(entry, part, dest, checksum.algorithm, expected, cancel, report)

    def _checksum_from_file(self, client: httpx.Client, entry: CatalogEntry) -> str:
        checksum = entry.checksum
        assert checksum is not None
        try:
            response = client.get(checksum.url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise VmguiError(
                f"Could not read the checksum of {entry.name}",
                f"{checksum.url}: {_describe(exc)}",
                "Check the network connection and the catalog entry.",
            ) from exc
        return parse_checksum_file(response.text, entry.filename, checksum.algorithm)

    def _download(
        self,
        client: httpx.Client,
        entry: CatalogEntry,
        part: Path,
        cancel: threading.Event,
        report: Callable[[TransferProgress], None],
    ) -> None:
        for attempt in range(self._retries + 1):
            try:
                self._download_once(client, entry, part, cancel, report)
                return
            except _CancelledError:
                raise asyncio.CancelledError() from None
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise VmguiError(
                        f"Could not download {entry.name}",
                        f"{entry.url}: {_describe(exc)}",
                        "Check the network connection; run again to resume the download.",
                    ) from exc
                _log.info("%s: transfer cut (%s), resuming", entry.id, _describe(exc))
                if cancel.wait(min(2.0, 0.2 * (attempt + 1))):
                    raise asyncio.CancelledError() from None

    def _download_once(
        self,
        client: httpx.Client,
        entry: CatalogEntry,
        part: Path,
        cancel: threading.Event,
        report: Callable[[TransferProgress], None],
    ) -> None:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with client.stream("GET", entry.url, headers=headers) as response:
            if response.status_code == 416 and offset:
                if _range_total(response.headers.get("Content-Range", "")) == offset:
                    return  # the partial file is already complete
                part.unlink()
                raise httpx.RemoteProtocolError("range not satisfiable; restarting")
            if response.status_code not in (200, 206):
                raise VmguiError(
                    f"Could not download {entry.name}",
                    f"{entry.url}: HTTP {response.status_code} {response.reason_phrase}",
                    "Check the catalog entry's URL.",
                )
            if response.status_code == 200:
                offset = 0  # the server ignored the Range: start again
            elif _range_start(response.headers.get("Content-Range", "")) != offset:
                raise VmguiError(
                    f"Could not resume the download of {entry.name}",
                    "the server answered a different range",
                )
            length = response.headers.get("Content-Length")
            total: int | None = offset + int(length) if length and length.isdigit() else None
            meter = TransferMeter(total, self._clock)
            done, last = offset, 0.0
            with part.open("ab" if offset else "wb") as handle:
                for chunk in response.iter_raw():
                    if cancel.is_set():
                        raise _CancelledError
                    handle.write(chunk)
                    done += len(chunk)
                    now = self._clock()
                    if now - last >= _REPORT_EVERY:
                        last = now
                        speed, eta = meter.update(done - offset)
                        report(TransferProgress("download", done, total, speed, eta))
            report(TransferProgress("download", done, total, None, 0.0))
            if total is not None and done != total:
                raise httpx.RemoteProtocolError(f"got {done} of {total} bytes")

    def _verify(
        self,
        entry: CatalogEntry,
        part: Path,
        dest: Path,
        algorithm: str,
        expected: str,
        cancel: threading.Event,
        report: Callable[[TransferProgress], None],
    ) -> DownloadedImage:
        size = part.stat().st_size
        actual = _hash_blocking(part, algorithm, cancel, report)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise VmguiError(
                f"The download of {entry.name} is corrupt: its checksum does not match",
                f"{algorithm} expected {expected}, got {actual}; the file was deleted",
                "Try again; if it keeps failing the catalog entry is out of date.",
            )
        part.replace(dest)
        stat = dest.stat()
        _sidecar(dest).write_text(f"{algorithm} {actual} {stat.st_size}\n", encoding="ascii")
        report(TransferProgress("verify", size, size))
        return DownloadedImage(dest, algorithm, actual, stat.st_size, cached=False)


_ssl_lock = threading.Lock()
_ssl: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """The system's CA store, loaded once per process (it costs tens of ms)."""
    global _ssl
    with _ssl_lock:
        if _ssl is None:
            _ssl = ssl.create_default_context()
        return _ssl


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified")


def _verified(dest: Path, algorithm: str, expected: str | None) -> DownloadedImage | None:
    """The cached file if it was verified (against ``expected``, if given) and is intact."""
    try:
        algo, digest, size = _sidecar(dest).read_text(encoding="ascii").split()
        actual_size = dest.stat().st_size
    except (OSError, ValueError):
        return None
    if algo != algorithm or int(size) != actual_size:
        return None
    if expected is not None and digest != expected:
        return None
    return DownloadedImage(dest, algo, digest, actual_size, cached=True)


def _range_start(content_range: str) -> int:
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _range_total(content_range: str) -> int:
    try:
        return int(content_range.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return -1


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _in_thread(fn: Callable[[], _T], name: str) -> Future[_T]:
    """Run ``fn`` on a worker of its own (a daemon thread that ends after it)."""
    worker = Worker(f"download:{name}")
    try:
        return worker.submit(fn)
    finally:
        worker.stop()


def _hash_blocking(
    path: Path,
    algorithm: str,
    cancel: threading.Event,
    report: Callable[[TransferProgress], None] | None,
) -> str:
    """The hex digest of ``path``, reporting "verify" progress every 64 chunks (blocking).

    Raises:
        asyncio.CancelledError: ``cancel`` was set.
    """
    size = path.stat().st_size
    digest = hashlib.new(algorithm)
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            if cancel.is_set():
                raise asyncio.CancelledError()
            digest.update(block)
            done += len(block)
            if report is not None and done % (64 * CHUNK) < CHUNK:
                report(TransferProgress("verify", done, size))
    return digest.hexdigest()


async def hash_file(
    path: Path,
    algorithm: str = "sha256",
    progress: Callable[[TransferProgress], None] | None = None,
) -> str:
    """The digest of a local file, computed on a thread (reports "verify" progress)."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()

    def report(p: TransferProgress) -> None:
        if progress is not None and not loop.is_closed():
            loop.call_soon_threadsafe(progress, p)

    wrapped = asyncio.wrap_future(
        _in_thread(lambda: _hash_blocking(path, algorithm, cancel, report), path.name)
    )
    try:
        return await asyncio.shield(wrapped)
    except asyncio.CancelledError:
        cancel.set()
        await _settle(wrapped, 5.0)
        raise


async def _settle(wrapped: asyncio.Future[_T], timeout: float) -> None:
    """Wait (bounded) for a cancelled thread's future to end, and consume its outcome."""
    await asyncio.wait([wrapped], timeout=timeout)
    if wrapped.done() and not wrapped.cancelled():
        wrapped.exception()
