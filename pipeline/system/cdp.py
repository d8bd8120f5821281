"""A headless Chromium driven over the DevTools protocol on a pipe, for the release's axe check.

Playwright's driver is a Node process of its own (about 150 MB beside the browser); the check needs only
a few commands (open a page, load a URL, switch the colour scheme, evaluate a script), so it speaks the
protocol itself: ``--remote-debugging-pipe`` makes Chromium read commands from file descriptor 3 and
write replies and events to descriptor 4, as JSON messages ended by a NUL byte.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.system.locate import CHROMIUM_FLAGS, chromium


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium and one page in it (``page_*`` methods act on that page). The executable
    and flags default to the located Chromium (:mod:`pipeline.system.locate`, ``CMP_CHROMIUM``) run with
    the checks' flags."""

    def __init__(self, flags: Sequence[str] = CHROMIUM_FLAGS, executable: Path | None = None,
                 timeout: float = 120.0):
        executable = executable if executable is not None else chromium()
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="cdp-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the browser reads commands on its fd 3 and writes on its fd 4; bash puts the pipes there
        # (no preexec_fn: the checks run in threads)
        # (above 9 first, so that neither is already 3 or 4)
        r, w = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec 3<&{r} 4>&{w} {r}<&- {w}>&-; exec "$0" "$@"', str(executable), *flags,
             "--remote-debugging-pipe", f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(r, w), start_new_session=True)
        os.close(r)
        os.close(w)
        self._buf = b""
        self._next = 0
        self._events: list[dict] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    # ---------------------------------------------------------------- the protocol

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        while True:
            m = self._read()
            if m.get("id") == self._next:
                if "error" in m:
                    raise BrowserError(f"{method}: {m['error'].get('message', m['error'])}")
                return m.get("result", {})
            if "method" in m:
                self._events.append(m)

    def wait_event(self, method: str) -> dict:
        while True:
            for i, e in enumerate(self._events):
                if e["method"] == method and e.get("sessionId") == self._session:
                    return self._events.pop(i)
            self._events.append(self._read())

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium ended (exit code {self._proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    # ---------------------------------------------------------------- the page

    def page(self, method: str, **params) -> dict:
        return self.send(method, self._session, **params)

    def goto(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        r = self.page("Page.navigate", url=url)
        if r.get("errorText"):
            raise BrowserError(f"{url}: {r['errorText']}")
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a script (a promise is awaited), as JSON."""
        r = self.page("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(d.get("exception", {}).get("description") or d.get("text", "script failed"))
        return r["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, 9)
            self._proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
