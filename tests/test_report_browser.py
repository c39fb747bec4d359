"""The HTML report in a real headless browser: it loads with no console error, its figures
decode, its numbers in the DOM are the Dataset's, and a screenshot of it is not blank.

Chromium comes from the distribution's packages (``.ci/install-browser``, which CI runs);
without one on PATH these tests are skipped, saying so. The browser is driven through the
DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages ending in NUL on
file descriptors 3 and 4), so nothing listens on a port. Errors are collected from
``Runtime.exceptionThrown`` (uncaught exceptions), ``Runtime.consoleAPICalled`` of type
error or assert, and ``Log.entryAdded`` of level error (failed loads, CSP refusals); a
page with deliberate errors shows that each kind is caught.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mcsd  # noqa: E402
from mcsd import report  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 2000
TIMEOUT = 30.0  # seconds for any one browser step
BASH = shutil.which("bash") or "/bin/bash"


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser_path() -> str:
    path = find_browser()
    if path is None:
        pytest.skip(
            "no Chromium on PATH (looked for chromium, chromium-browser, google-chrome): "
            "run .ci/install-browser as root to install it from the distribution's packages"
        )
    return path


def _high_pipe() -> tuple[int, int]:
    """``os.pipe()`` with both ends at file descriptors >= 10 (not inheritable)."""
    ends = []
    for fd in os.pipe():
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        ends.append(high)
    return ends[0], ends[1]


class Browser:
    """One headless Chromium and one page, driven over the DevTools pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        # The browser reads its commands on fd 3 and writes on fd 4. The child's ends are
        # moved to fds >= 10 first, so that the shell's redirections below cannot clobber
        # one another; bash (not a preexec_fn, unsafe with threads; dash takes no fd >= 10)
        # puts them at 3 and 4.
        to_browser_r, self._to_browser = _high_pipe()
        self._from_browser, from_browser_w = _high_pipe()
        r, w = to_browser_r, from_browser_w
        flags = [
            "--headless",
            "--no-sandbox",  # root in CI: Chromium's sandbox refuses to run as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ]
        script = f'exec "$0" "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-'
        self.proc = subprocess.Popen(
            [BASH, "-c", script, executable, *flags],
            pass_fds=(r, w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0.0))
            if not ready:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError("the browser closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._id += 1
        message: dict = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def load(self, path: Path, settle: float = 0.3) -> None:
        """Open ``path`` and wait for its load event, then ``settle`` seconds more (late
        errors, e.g. a rejected promise, arrive after the load)."""
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._receive(deadline))
        self.evaluate("1")  # a round trip: events sent before it are in
        time.sleep(settle)
        self.evaluate("1")

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """The console errors of the loaded page, one line each."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                out.append(f"exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
            ):
                args = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                out.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                out.append(
                    f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
                )
        return out

    def screenshot(self, path: Path) -> Path:
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("Browser.close")
                self.proc.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, EOFError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            os.close(self._to_browser)
            os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser(browser_path, tmp_path_factory):
    b = Browser(browser_path, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def is_blank(png: Path) -> tuple[bool, str]:
    """Whether a screenshot is (nearly) one colour: blank if one colour covers more than
    95% of the pixels or there are fewer than 50 distinct colours."""
    pixels = matplotlib.image.imread(png)[..., :3]
    rgb = np.round(pixels * 255).astype(np.uint32)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    _, counts = np.unique(code, return_counts=True)
    top = counts.max() / code.size
    why = f"{counts.size} distinct colours, the commonest covers {top:.1%} of the pixels"
    return bool(top > 0.95 or counts.size < 50), why


PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>{}</body></html>"
)


def test_console_errors_are_caught(browser, tmp_path):
    """Each kind of error is detected: uncaught exception, console.error, a rejected
    promise, a failed load; console.log is not an error."""
    page = tmp_path / "bad.html"
    page.write_text(
        PAGE.format(
            "<p>x</p><img src='missing.png' alt=''><script>console.log('just-a-log-line');"
            "console.error('deliberate');Promise.reject(new Error('rejected'));"
            "undefinedFunction();</script>"
        )
    )
    browser.load(page)
    errors = browser.errors()
    text = "\n".join(errors)
    assert "undefinedFunction" in text
    assert "console.error: deliberate" in text
    assert "rejected" in text
    assert "missing.png" in text
    assert "just-a-log-line" not in text
    assert len(errors) == 4, errors


def test_blank_screenshot_is_detected(browser, tmp_path):
    page = tmp_path / "blank.html"
    page.write_text(PAGE.format(""))
    browser.load(page, settle=0.0)
    assert browser.errors() == []
    blank, why = is_blank(browser.screenshot(tmp_path / "blank.png"))
    assert blank, why


def test_report_in_the_browser(browser, tmp_path):
    ds = mcsd.simulate(None, n_paths=1000, seed=11, progress=False)
    path = report.write_report(ds, tmp_path / "report.html")
    browser.load(path)
    assert browser.errors() == []
    # every figure decoded (a data: URI the page's CSP let through)
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 3
    assert all(done and w > 100 and h > 100 for done, w, h in images), images
    # the numbers the browser shows are the Dataset's
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('[data-var]')).map(e => "
        "[e.dataset.var, e.dataset.region || '', e.dataset.year || '', e.dataset.time || '', "
        "e.dataset.value, e.textContent])"
    )
    checked = 0
    for var, region, year, month, value, text in cells:
        if var not in ds or ds[var].dtype == bool:
            continue
        da = ds[var]
        sel: dict[str, object] = {"region": region}
        if "year" in da.dims:
            sel["year"] = int(year)
        if "time" in da.dims:
            sel["time"] = np.datetime64(month)
        want = float(da.sel(sel).values)
        assert float(value) == want, (var, region, year)
        assert text == report.fmt_probability(want)
        checked += 1
    assert checked >= 4 * ds.sizes["region"] * ds.sizes["year"]
    shot = browser.screenshot(tmp_path / "report.png")
    print(f"screenshot of the report: {shot}")
    blank, why = is_blank(shot)
    assert not blank, why
