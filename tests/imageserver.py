"""An HTTP server on 127.0.0.1 that serves images with Range support, and can cut a transfer.

Used by the download tests and the provisioning integration tests::

    with ImageServer({"/tiny.qcow2": path, "/SHA256SUMS": b"..."}) as server:
        server.cut_once("/tiny.qcow2")    # the next GET sends half the body, then hangs up
        url = server.url("/tiny.qcow2")
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType


class ImageServer:
    """Serves ``files`` (URL path → file or bytes) on 127.0.0.1 from a thread.

    Attributes:
        requests: (path, Range header or "") of every GET, in order.
    """

    def __init__(self, files: dict[str, Path | bytes]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, str]] = []
        self._cut: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def cut_once(self, path: str) -> None:
        """Make the next GET of ``path`` stop after half of the body (connection closed)."""
        with self._lock:
            self._cut.add(path)

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _body(self, path: str) -> bytes | None:
        source = self.files.get(path)
        if source is None:
            return None
        return source.read_bytes() if isinstance(source, Path) else source

    def _take_cut(self, path: str) -> bool:
        with self._lock:
            if path in self._cut:
                self._cut.discard(path)
                return True
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                range_header = self.headers.get("Range", "")
                server.requests.append((path, range_header))
                body = server._body(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if range_header.startswith("bytes="):
                    start = int(range_header[6:].split("-", 1)[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server._take_cut(path):
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        return Handler
