#!/usr/bin/env python3
"""Opens report.html in a real headless Chromium and fails if the page throws.

    browser_test.py REPLSIM SOURCE_ROOT OUT_DIR

Writes a passing run's and a failing run's reports with `replsim run --out`, checks that each folder
has report.json, history.json, trace.jsonl and report.html, then drives Chromium over the DevTools
protocol (--remote-debugging-pipe, Python standard library only): load the page, wait for its status
marker, zoom, pan, click, filter and search, and fail on any JavaScript exception, console error,
failed load or network request. Takes a screenshot of each page into OUT_DIR and prints the page's
load and render times. Exits 77 (skipped) when Chromium is not installed (Debian: apt-get install
chromium).
"""
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome"]


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A headless Chromium driven over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, binary, profile, width, height):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def child_fds():
            # Chromium reads commands on fd 3 and writes replies on fd 4. Copy both ends high first,
            # so that placing one cannot overwrite the other.
            a = os.dup(to_browser_r)
            b = os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr,
                                     pass_fds=(3, 4, to_browser_r, from_browser_w), preexec_fn=child_fds)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:  # the browser may already be gone; it is killed below either way
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)

    def browser_log(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium in time")
            ready, _, _ = select.select([self.from_browser], [], [], 0.5)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe; its log:\n" + self.browser_log()[-3000:])
                self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def send(self, method, params=None, session=True, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def attach_page(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(domain + ".enable")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def pump(self, seconds):
        """Collects events for a while (console messages arrive on their own)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                msg = self._read_message(deadline)
                if "method" in msg:
                    self.events.append(msg)
        except TimeoutError:
            pass

    def problems(self):
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(("file:", "data:", "blob:", "about:")):
                    out.append("network request: " + url)
            elif m == "Network.loadingFailed":
                out.append("failed load: " + p.get("errorText", ""))
        return out


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run_replsim(replsim, args):
    p = subprocess.run([replsim] + args, capture_output=True, text=True, timeout=300)
    return p


def load(browser, url):
    """Navigates and waits until the new page's status marker leaves 'loading'; returns it."""
    # The old document's window carries a mark, so its status is never mistaken for the new one's.
    browser.evaluate("window.__replsimStale = true")
    browser.send("Page.navigate", {"url": url})
    started = time.monotonic()
    status = None
    while time.monotonic() - started < 60:
        status = browser.evaluate("window.__replsimStale ? null : "
                                  "(document.documentElement && document.documentElement.getAttribute('data-replsim-status'))")
        if status and status != "loading":
            break
        browser.pump(0.1)
    return status


def exercise(browser, url, shot_path, width, height):
    """Loads the page, waits for it, uses it, screenshots it; returns the page's timings."""
    browser.events.clear()
    browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": False})
    started = time.monotonic()
    status = load(browser, url)
    wall_ms = (time.monotonic() - started) * 1000
    check(status == "ok", f"{url}: page status {status!r}; problems: {browser.problems()}")
    timings = browser.evaluate("({decode: +document.documentElement.dataset.replsimDecodeMs,"
                               " render: +document.documentElement.dataset.replsimRenderMs,"
                               " ready: +document.documentElement.dataset.replsimReadyMs})")
    timings["wall_ms"] = round(wall_ms)
    # The page drew something: the diagram canvas is not blank.
    painted = browser.evaluate("""(() => { const c = document.getElementById('chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4 * 97) if (d[i] < 250 || d[i+1] < 250 || d[i+2] < 250) n++;
        return n; })()""")
    check(painted > 100, f"{url}: the diagram looks blank ({painted} non-white samples)")
    check(browser.evaluate("document.querySelectorAll('#summary .card').length") >= 4, f"{url}: no summary cards")
    check(browser.evaluate("document.querySelectorAll('#events-rows .ev-row').length") > 0, f"{url}: empty event list")

    # Use it: zoom with the wheel, pan by dragging, click around, filters, search, keys.
    box = browser.evaluate("(() => { const r = document.getElementById('chart').getBoundingClientRect();"
                           " return [r.left, r.top, r.width, r.height]; })()")
    cx, cy = box[0] + box[2] * 0.6, box[1] + 60
    for _ in range(8):
        browser.send("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": cx, "y": cy, "deltaX": 0, "deltaY": -400})
    browser.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": cx, "y": cy, "button": "left", "clickCount": 1})
    browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": cx - 150, "y": cy + 10, "button": "left"})
    browser.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": cx - 150, "y": cy + 10, "button": "left",
                                              "clickCount": 1})
    for fx in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9):
        for fy in (0.1, 0.2, 0.3, 0.45, 0.6, 0.8):
            x, y = box[0] + box[2] * fx, box[1] + box[3] * fy
            browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
            browser.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y, "button": "left", "clickCount": 1})
            browser.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y, "button": "left", "clickCount": 1})
    for key in ("+", "+", "ArrowLeft", "ArrowRight", "-", "v", "n", "p", "0", "Escape"):
        browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": key, "text": key if len(key) == 1 else ""})
        browser.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key})
    browser.evaluate("""(() => {
        for (const t of document.querySelectorAll('#side-tabs button')) t.click();
        document.querySelector('#side-tabs button[data-tab=selection]').click();
        const rows = document.querySelectorAll('#events-rows .ev-row'); if (rows.length) rows[Math.min(3, rows.length - 1)].click();
        for (const id of ['show-arrows', 'show-client-arrows', 'show-ops']) { document.getElementById(id).click(); document.getElementById(id).click(); }
        document.querySelector('#kind-filter summary').click();
        document.querySelector('[data-kall=quiet]').click();
        document.querySelector('[data-kall="1"]').click();
        document.querySelector('#lane-filter summary').click();
        document.querySelector('[data-all=nodes]').click();
        document.querySelector('[data-all="1"]').click();
        const s = document.getElementById('event-search'); s.value = 'conn='; s.dispatchEvent(new Event('input'));
        document.getElementById('events-follow').click();
        for (const el of document.querySelectorAll('#side-body .list-item')) { el.click(); break; }
        return true; })()""")
    browser.pump(0.6)
    for fx in (0.3, 0.5, 0.7):
        x, y = box[0] + box[2] * fx, box[1] + box[3] * 0.3
        browser.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y, "button": "left", "clickCount": 1})
        browser.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y, "button": "left", "clickCount": 1})
    browser.pump(0.4)
    status = browser.evaluate("document.documentElement.getAttribute('data-replsim-status')")
    problems = browser.problems()
    check(status == "ok" and not problems, f"{url}: after using the page, status {status!r}, problems {problems}")

    # The screenshot shows the page as it opens.
    check(load(browser, url) == "ok", f"{url}: reload failed: {browser.problems()}")
    browser.pump(0.3)
    shot = browser.send("Page.captureScreenshot", {"format": "png"})
    with open(shot_path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    check(os.path.getsize(shot_path) > 10000, f"{shot_path}: screenshot too small")
    return timings


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    replsim, source_root, out_dir = sys.argv[1:]
    chromium = find_chromium()
    if chromium is None:
        print("SKIP: no Chromium found (Debian: apt-get install chromium)")
        return 77
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replsim-browser-") as tmp:
        runs = [
            ("pass", ["run", os.path.join(source_root, "scenarios/fuzz/cluster-failover.json"), "--seed", "3"], 0),
            ("fail", ["run", os.path.join(source_root, "scenarios/incidents/garnet-stuck-recovering.json"),
                      "--seed", "1", "--bug", "stuck-recovering"], 1),
        ]
        browser = Browser(chromium, os.path.join(tmp, "profile"), 1600, 1100)
        try:
            browser.attach_page()
            for name, args, want_exit in runs:
                folder = os.path.join(tmp, name)
                p = run_replsim(replsim, args + ["--out", folder])
                check(p.returncode == want_exit, f"replsim {' '.join(args)}: exit {p.returncode}, expected {want_exit}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
                for f in ("report.json", "history.json", "trace.jsonl", "report.html"):
                    check(os.path.getsize(os.path.join(folder, f)) > 0, f"{folder}/{f} missing or empty")
                page = os.path.join(folder, "report.html")
                shot = os.path.join(out_dir, f"report-{name}.png")
                timings = exercise(browser, "file://" + page, shot, 1600, 1100)
                print(f"{name}: report.html {os.path.getsize(page)} bytes, decode {timings['decode']} ms, render "
                      f"{timings['render']} ms, ready {timings['ready']} ms after navigation, status seen after "
                      f"{timings['wall_ms']} ms; screenshot {shot}")
            # The control: a page that throws after loading must be caught, or this test proves nothing.
            broken = os.path.join(tmp, "broken.html")
            with open(os.path.join(tmp, "fail", "report.html"), encoding="utf-8") as f:
                text = f.read()
            planted = "<script>window.addEventListener('load', () => { throw new Error('planted by browser_test'); });</script>"
            with open(broken, "w", encoding="utf-8") as f:
                f.write(text.replace("</body>", planted + "</body>"))
            browser.events.clear()
            status = load(browser, "file://" + broken)
            browser.pump(0.3)
            check(status != "ok" and any("planted by browser_test" in p for p in browser.problems()),
                  f"a page that throws was not caught (status {status!r}, problems {browser.problems()})")
        finally:
            browser.close()
    print("browser test: both pages loaded, were used and threw nothing; a planted error was caught")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
