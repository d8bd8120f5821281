"""`make preview`: serve a built site on 127.0.0.1 as a real host does (`python -m pipeline preview output`).

``python -m http.server`` answers no HTTP Range request: a browser then cannot seek in a served MP3
(Chromium snaps ``currentTime`` back to 0, so clicking a sentence of the read-along restarts the
narration). This server answers them (RFC 9110 single ranges: ``bytes=A-B``, ``bytes=A-``, ``bytes=-N``)
with 206 Partial Content and ``Content-Range``, 416 Range Not Satisfiable (with ``Content-Range: bytes
*/SIZE``) for a range that starts past the end, and the whole file (200) for a range it does not parse
or for several ranges at once (allowed: a server may ignore Range). Every answer says ``Accept-Ranges:
bytes`` and carries the media types a host would send (``.mp3`` audio/mpeg, ``.vtt`` text/vtt,
``.epub`` application/epub+zip, ...). Standard library only; bound to 127.0.0.1 (nothing outside this
machine sees the preview).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

MIME_TYPES = {
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".ogg": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac",
    ".vtt": "text/vtt", ".epub": "application/epub+zip", ".xml": "application/rss+xml",
    ".json": "application/json", ".js": "text/javascript", ".css": "text/css", ".html": "text/html",
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".smil": "application/smil+xml",
    ".woff2": "font/woff2", ".m4b": "audio/mp4",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK = 1 << 16


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The byte range ``(first, last)`` (inclusive) a Range header asks of a file of ``size`` bytes;
    None when the whole file is to be sent (no header, one that does not parse, several ranges);
    "unsatisfiable" when it asks for nothing inside the file (416)."""
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if not m or m.group(0) == "bytes=-":
        return None
    first, last = m.groups()
    if first == "":                      # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(size - n, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:       # an invalid range: ignored, as RFC 9110 says
        return None
    if start >= size:
        return "unsatisfiable"
    return start, end


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that answers single byte ranges (media elements seek with them)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    _left: int | None = None        # bytes of a partial answer still to send

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self) -> BinaryIO | None:
        self._left = None
        path = self.translate_path(self.path)
        if "Range" not in self.headers or not os.path.isfile(path):
            return super().send_head()        # directories, redirects, 404s, whole files
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(404, "File not found")
            return None
        size = os.fstat(f.fileno()).st_size
        wanted = parse_range(self.headers.get("Range"), size)
        if wanted is None:
            f.close()
            return super().send_head()
        if wanted == "unsatisfiable":
            f.close()
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        start, end = wanted
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Last-Modified", self.date_time_string(int(os.fstat(f.fileno()).st_mtime)))
        self.end_headers()
        self._left = end - start + 1
        return f

    def copyfile(self, source, outputfile) -> None:
        if self._left is None:
            super().copyfile(source, outputfile)
            return
        left = self._left
        while left > 0:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)


class QuietHandler(RangeHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


class PreviewServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # a browser that drops a media connection when it seeks is no error of the site's
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(folder: Path, port: int = 0, host: str = "127.0.0.1", quiet: bool = True) -> PreviewServer:
    """A server for ``folder`` (not yet serving: call ``serve_forever``); port 0 picks a free one."""
    handler = functools.partial(QuietHandler if quiet else RangeHandler, directory=str(folder))
    return PreviewServer((host, port), handler)


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` served quietly on a free loopback port in a background thread, for as long as the
    block runs (the release gate's browser check, the page-weight bench); yields the site's base URL."""
    httpd = make_server(folder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
