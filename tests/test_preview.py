"""`make preview`: the preview server answers byte ranges as a real host does, so a browser can seek in
the narration; in Chromium, clicking a sentence of the read-along plays from that sentence (through a
server without ranges, Chromium snaps the narration back to 0:00)."""
from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from pipeline.model.contracts import audible_clips, read_syncmap
from pipeline.model.problems import InputError
from pipeline.model.sources import load_book
from pipeline.system.cdp import Browser, BrowserError
from pipeline.system.locate import CHROMIUM_FLAGS, chromium
from pipeline.system.serve import make_server, parse_range

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
SYNC = ROOT / "build" / "sync"
TEXTS = ROOT / "texts"
FLAGS = [*CHROMIUM_FLAGS, "--autoplay-policy=no-user-gesture-required"]


@contextlib.contextmanager
def serving(httpd: http.server.HTTPServer):
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def folder(tmp_path) -> Path:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.mp3").write_bytes(bytes(range(256)) * 4)     # 1024 bytes
    (tmp_path / "t.vtt").write_text("WEBVTT\n", encoding="utf-8")
    (tmp_path / "b.epub").write_bytes(b"PK\x03\x04")
    (tmp_path / "podcast.xml").write_text("<rss/>", encoding="utf-8")
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>", encoding="utf-8")
    return tmp_path


def get(port: int, path: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


# ---------------------------------------------------------------------------- Range, by the rules


@pytest.mark.parametrize("header, expected", [
    (None, None), ("bytes=0-99", (0, 99)), ("bytes=1000-", (1000, 1023)), ("bytes=-24", (1000, 1023)),
    ("bytes=1000-5000", (1000, 1023)), ("bytes=-5000", (0, 1023)), ("bytes=1024-", "unsatisfiable"),
    ("bytes=-0", "unsatisfiable"), ("bytes=5-4", None), ("bytes=0-1,5-6", None), ("items=0-1", None),
    ("bytes=-", None), ("bytes=x-1", None),
])
def test_parse_range(header, expected) -> None:
    assert parse_range(header, 1024) == expected


def test_whole_file_says_it_takes_ranges(folder) -> None:
    with serving(make_server(folder)) as port:
        status, h, body = get(port, "/audio/a.mp3")
    assert status == 200 and body == bytes(range(256)) * 4
    assert h["accept-ranges"] == "bytes" and h["content-type"] == "audio/mpeg" and h["content-length"] == "1024"


@pytest.mark.parametrize("header, first, last", [
    ("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199), ("bytes=1000-", 1000, 1023), ("bytes=-10", 1014, 1023),
    ("bytes=1020-9999", 1020, 1023),
])
def test_partial_content(folder, header, first, last) -> None:
    data = bytes(range(256)) * 4
    with serving(make_server(folder)) as port:
        status, h, body = get(port, "/audio/a.mp3", {"Range": header})
    assert status == 206
    assert h["content-range"] == f"bytes {first}-{last}/1024"
    assert h["content-length"] == str(last - first + 1) and body == data[first:last + 1]
    assert h["accept-ranges"] == "bytes" and h["content-type"] == "audio/mpeg"


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_is_416(folder, header) -> None:
    with serving(make_server(folder)) as port:
        status, h, body = get(port, "/audio/a.mp3", {"Range": header})
    assert status == 416 and h["content-range"] == "bytes */1024" and body == b""


def test_a_range_it_does_not_take_gets_the_whole_file(folder) -> None:
    with serving(make_server(folder)) as port:
        for header in ("bytes=0-1,4-5", "bytes=9-3", "lines=1-2"):
            status, h, body = get(port, "/audio/a.mp3", {"Range": header})
            assert (status, len(body), h["content-length"]) == (200, 1024, "1024"), header


def test_head_and_missing(folder) -> None:
    with serving(make_server(folder)) as port:
        status, h, body = get(port, "/audio/a.mp3", {"Range": "bytes=10-19"}, method="HEAD")
        assert (status, h["content-range"], h["content-length"], body) == (206, "bytes 10-19/1024", "10", b"")
        assert get(port, "/audio/none.mp3", {"Range": "bytes=0-1"})[0] == 404
        assert get(port, "/../../etc/passwd")[0] == 404


@pytest.mark.parametrize("path, mime", [
    ("/audio/a.mp3", "audio/mpeg"), ("/t.vtt", "text/vtt"), ("/b.epub", "application/epub+zip"),
    ("/podcast.xml", "application/rss+xml"), ("/index.html", "text/html"),
])
def test_media_types(folder, path, mime) -> None:
    with serving(make_server(folder)) as port:
        assert get(port, path)[1]["content-type"].split(";")[0] == mime
        assert get(port, path, {"Range": "bytes=0-1"})[1]["content-type"].split(";")[0] == mime


def test_bound_to_loopback(folder) -> None:
    httpd = make_server(folder)
    try:
        assert httpd.server_address[0] == "127.0.0.1"
    finally:
        httpd.server_close()


# ---------------------------------------------------------------------------- in Chromium


def _target_sentence() -> tuple[str, dict]:
    """A narrated part of the built site and one of its sentences well into the narration, at least 2 s
    long (so that a second after playing from it, it is still the one being read)."""
    if not (SITE / "stories").is_dir() or not SYNC.is_dir():
        pytest.skip("needs the built site (make site)")
    try:
        chromium()
    except InputError as e:
        pytest.skip(f"needs Chromium: {e}")
    book = load_book(TEXTS)
    part = max(book.narrated_parts, key=lambda p: len(p.sentences()))
    sync = read_syncmap(SYNC / f"{part.id}.json")
    clips = [{"id": f.id, "begin": c[0], "end": c[1]} for f, c in zip(sync.fragments, audible_clips(sync)) if c]
    later = [c for c in clips if c["begin"] > 30 and c["end"] - c["begin"] >= 2.0]
    assert later, f"{part.id}: no sentence of 2 s or more after 0:30"
    return part.id, later[len(later) // 2]


def _wait(browser: Browser, expression: str, timeout: float = 15.0, fail: bool = True):
    deadline = time.monotonic() + timeout
    while True:
        value = browser.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            if not fail:
                return value
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def _click_sentence_while_playing(base: str, part: str, target: dict) -> dict:
    """Play the part's narration, click the target sentence with the mouse, and report the player's
    state a second later."""
    with Browser(FLAGS) as browser:
        browser.page("Page.enable")
        browser.goto(f"{base}stories/{part}.html")
        browser.evaluate("""new Promise((done, fail) => { const a = document.getElementById('narration');
            a.muted = true; a.play().then(done, fail); })""")
        _wait(browser, "document.getElementById('narration').currentTime > 0.3")
        box = browser.evaluate(f"""(() => {{ const s = document.getElementById({json.dumps(target['id'])});
            s.scrollIntoView({{block: 'center'}}); const r = s.getBoundingClientRect();
            return {{x: r.left + Math.min(20, r.width / 2), y: r.top + r.height / 2}}; }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            browser.page("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)
        # a second of playing from the sentence (or, where seeking fails, 5 s of whatever happens)
        _wait(browser, f"document.getElementById('narration').currentTime > {target['begin'] + 1.0}",
              timeout=5.0, fail=False)
        return browser.evaluate("""(() => { const a = document.getElementById('narration');
            const c = document.querySelectorAll('.s.current');
            return {t: a.currentTime, paused: a.paused, ids: [...c].map(e => e.id),
                    aria: c.length ? c[0].getAttribute('aria-current') : null,
                    seekable: a.seekable.length ? a.seekable.end(0) : 0}; })()""")


def test_clicking_a_sentence_plays_from_it_through_the_preview_server() -> None:
    part, target = _target_sentence()
    with serving(make_server(SITE)) as port:
        state = _click_sentence_while_playing(f"http://127.0.0.1:{port}/", part, target)
    assert not state["paused"], state
    # playing on from the sentence's begin: not restarted from 0:00, not stuck where it was
    assert target["begin"] + 0.5 <= state["t"] <= target["begin"] + 4.0, (state, target)
    assert state["ids"] == [target["id"]] and state["aria"] == "true", (state, target)


def test_without_ranges_chromium_cannot_seek() -> None:
    """The failure the preview server exists for, so that the test above can tell: through the standard
    library's server (no ranges), the click does not take the narration to the sentence."""
    part, target = _target_sentence()
    handler = functools.partial(_PlainQuiet, directory=str(SITE))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as port:
        try:
            state = _click_sentence_while_playing(f"http://127.0.0.1:{port}/", part, target)
        except BrowserError as e:
            pytest.fail(f"the browser failed: {e}")
    assert not target["begin"] <= state["t"] <= target["begin"] + 4.0, (state, target)


class _PlainQuiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
