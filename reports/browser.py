"""Check a built report in headless Chromium, and take its screenshots.

    python -m reports.browser reports/demo.html --screenshots reports/demo/screenshots

loads the page at 1280 px wide and fails (exit 1, with the reasons) when the page logs a
console error or an uncaught exception, when an embedded image does not decode, or when the page
is wider than the window (a wide table must scroll inside its own box). With --screenshots it
writes top.png, table.png, agreement.png, comparisons.png, curves.png and grid.png at
1280 px.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
separated by NUL bytes, commands on fd 3, replies and events on fd 4), which needs no package
beyond Chromium itself (Debian: apt-get install chromium).
"""
import argparse
import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 1280, 900
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# where each screenshot starts: the page's top, the first metric table, the first agreement
# table, the first comparisons, the curves, the first grid
TARGETS = {"top": None, "table": "h4", "agreement": "[id^=agreement-]",
           "comparisons": "[id^=comparisons-]", "curves": "#training", "grid": "table.grid"}
IMAGES = """Promise.all([...document.images].map((img, i) => img.decode().then(
    () => [i, img.alt, img.naturalWidth > 0], () => [i, img.alt, false])))"""
LAYOUT = """[document.documentElement.scrollWidth, window.innerWidth,
    [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >
        window.innerWidth + 1 && !e.closest('.scroll')).slice(0, 5)
        .map(e => e.outerHTML.slice(0, 80))]"""


def find() -> str | None:
    """The Chromium executable on PATH (or $CHROMIUM), or None."""
    named = os.environ.get("CHROMIUM")
    return named if named else next((p for p in map(shutil.which, NAMES) if p), None)


def _onto_3_and_4(read: int, write: int) -> None:
    """In the child before exec: the pipe ends onto fds 3 and 4, by way of fds >= 10 so that
    neither is overwritten when it already is 3 or 4."""
    high = fcntl.fcntl(read, fcntl.F_DUPFD, 10), fcntl.fcntl(write, fcntl.F_DUPFD, 10)
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)


class Browser:
    """One headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, executable: str, timeout: float = 60):
        self.profile = tempfile.TemporaryDirectory(prefix="inpaint-chromium-",
                                                   ignore_cleanup_errors=True)
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}",
             f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, pass_fds=(3, 4),
            preexec_fn=lambda: _onto_3_and_4(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.timeout, self._buffer, self._next, self.events = timeout, b"", 0, []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target,
                                                           "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": False}, session=True)

    def _read(self) -> dict:
        deadline = time.time() + self.timeout
        while b"\0" not in self._buffer:
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not answer on its DevTools pipe")
            self._buffer += os.read(self._from_browser, 1 << 20)
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._next += 1
        command = {"id": self._next, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        while True:
            message = self._read()
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"chromium: {method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str) -> None:
        seen = len(self.events)
        while not any(e.get("method") == event for e in self.events[seen:]):
            self.events.append(self._read())

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"chromium: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path) -> None:
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")

    def screenshot(self, top: float) -> bytes:
        clip = {"x": 0, "y": top, "width": WIDTH, "height": HEIGHT, "scale": 1}
        shot = self.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                    "captureBeyondViewport": True},
                         session=True)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        """End Chromium and its helper processes (its own process group), then its profile."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.profile.cleanup()


def errors(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors, as text."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                      for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            found.append("exception: " + str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return found


def check(path: Path, screenshots: Path | None = None, executable: str | None = None) -> dict:
    """{'errors': [...], 'images': n, 'broken': [...], 'width': scroll width, 'overflowing':
    [...], 'shots': [...]} for the page at path; problems() says what fails."""
    browser = Browser(executable or find())
    try:
        browser.open(path)
        images = browser.evaluate(IMAGES)
        width, window, overflowing = browser.evaluate(LAYOUT)
        shots = []
        if screenshots is not None:
            screenshots.mkdir(parents=True, exist_ok=True)
            for name, selector in TARGETS.items():
                top = 0 if selector is None else browser.evaluate(
                    f"(e => e ? e.getBoundingClientRect().top + window.scrollY : null)"
                    f"(document.querySelector({json.dumps(selector)}))")
                if top is not None:
                    (screenshots / f"{name}.png").write_bytes(browser.screenshot(top))
                    shots.append(name)
        return {"errors": errors(browser.events), "images": len(images), "window": window,
                "broken": [f"image {i} ({alt})" for i, alt, ok in images if not ok],
                "width": width, "overflowing": overflowing, "shots": shots}
    finally:
        browser.close()


def problems(result: dict) -> list[str]:
    found = list(result["errors"]) + [f"does not decode: {b}" for b in result["broken"]]
    if result["width"] > result["window"]:
        found.append(f"the page is {result['width']} px wide in a {result['window']} px window; "
                     f"elements outside any scrolling box: {result['overflowing']}")
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reports.browser", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--screenshots", type=Path, help="folder for the screenshots")
    args = parser.parse_args(argv)
    executable = find()
    if executable is None:
        raise SystemExit("no Chromium found on PATH (Debian: apt-get install chromium), or name "
                         "it in $CHROMIUM")
    failed = False
    for page in args.pages:
        result = check(page, args.screenshots, executable)
        found = problems(result)
        print(f"{page}: {result['images']} images, {result['width']} px wide; "
              + ("; ".join(found) if found else "no problems")
              + (f"; screenshots {', '.join(result['shots'])} in {args.screenshots}"
                 if result["shots"] else ""))
        failed |= bool(found)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
