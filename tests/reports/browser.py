"""Headless Chromium driven over the DevTools protocol on a pipe (no driver, no websocket).

`open_page(path)` loads a local HTML file, waits until its Bokeh plots have rendered, and
returns what a test checks: console errors and uncaught exceptions, the summary cells
(``data-key``/``data-value``/text), the number of rendered plots and a PNG screenshot.

Chromium runs with the flags this machine needs (no sandbox as root, no network services)
and a fresh profile folder that is removed afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = "needs Debian's chromium (make system-packages installs it)"


def require_chromium() -> None:
    """Skip a browser test without Chromium, except under CI (`CI` set), where a missing
    browser is a broken machine and must fail, not pass as silently skipped."""
    import pytest

    if CHROMIUM is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but chromium is not on PATH: the HTML report tests {MISSING}",
                    pytrace=False)
    pytest.skip(MISSING)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe")


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)
    cells: list[tuple[str, str, str]] = field(default_factory=list)
    plots: int = 0
    screenshot: bytes = b""
    requests: list[str] = field(default_factory=list)


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            ev = self._read(deadline)
            if ev.get("method") == method:
                return ev
            self.events.append(ev)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited ({self.proc.poll()})")
                self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)


def _launch(profile: str) -> _Pipe:
    # Chromium reads commands on fd 3 and writes answers on fd 4.
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    high_r, high_w = os.dup(to_chrome_r), os.dup(from_chrome_w)

    def child_fds() -> None:
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    assert CHROMIUM is not None
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, pass_fds=(3, 4, high_r, high_w),
                            preexec_fn=child_fds)  # the test is single-threaded
    for fd in (to_chrome_r, from_chrome_w, high_r, high_w):
        os.close(fd)
    return _Pipe(proc, to_chrome_w, from_chrome_r)


_PLOTS_JS = ("(window.Bokeh && Bokeh.index) ? Object.keys(Bokeh.index).length : "
             "(document.querySelector('.plots') ? -1 : 0)")
_CELLS_JS = ("Array.from(document.querySelectorAll('[data-key]'))"
             ".map(e => [e.dataset.key, e.dataset.value, e.textContent])")


def open_page(path: str | Path, expect_plots: int, width: int = 1280,
              height: int = 1800) -> PageResult:
    """Load `path`, wait for `expect_plots` rendered Bokeh plots, and read the page."""
    profile = tempfile.mkdtemp(prefix="hwsim-chromium-")
    pipe = _launch(profile)
    result = PageResult()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        pipe.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired")
        deadline = time.monotonic() + 30
        while True:
            count = pipe.send("Runtime.evaluate", {"expression": _PLOTS_JS,
                                                   "returnByValue": True},
                              session=session)["result"].get("value", 0)
            if count >= expect_plots or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        result.plots = int(count)
        time.sleep(0.5)  # let the canvases paint
        result.cells = [tuple(c) for c in pipe.send(
            "Runtime.evaluate", {"expression": _CELLS_JS, "returnByValue": True},
            session=session)["result"]["value"]]
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        result.screenshot = base64.b64decode(shot["data"])
        for ev in pipe.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                result.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                               "assert"):
                result.errors.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                result.errors.append(params["entry"].get("text", "")[:500])
            elif method == "Network.requestWillBeSent":
                result.requests.append(params.get("request", {}).get("url", ""))
        with contextlib.suppress(RuntimeError, TimeoutError):
            pipe.send("Browser.close", timeout=5)
    finally:
        try:
            pipe.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pipe.proc.kill()
            pipe.proc.wait()
        os.close(pipe.write_fd)
        os.close(pipe.read_fd)
        shutil.rmtree(profile, ignore_errors=True)
    return result
