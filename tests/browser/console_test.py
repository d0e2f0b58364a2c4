#!/usr/bin/env python3
"""The web console in a real browser (README "Web console").

  tests/browser/console_test.py --binary build/release/tocsin --out DIR [--chromium PATH]

Starts the real `tocsin serve` on a free loopback port with known data (alerts posted through
/hooks/sns and /hooks/generic from tests/fixtures and inline events, heartbeats pinged, a
silence added, a read and a write API token configured), drives Debian's headless `chromium`
over the DevTools protocol (--remote-debugging-pipe: no node, no websocket library, nothing
downloaded), checks what the console shows and does, and saves screenshots into DIR:
console-desktop.png, console-alert-desktop.png, console-phone.png, console-alert-phone.png.
Registered as a CTest test of the release build (CMakeLists.txt); exits 1 on the first failed
check, naming it.
"""
import argparse
import base64
import fcntl
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
READ_TOKEN = "read-secret"
WRITE_TOKEN = "admin-secret"
XSS_NAME = '<img src=x onerror="window.__pwned=1">'

RULES = """version: 1
sources:
  generic: {allow_unauthenticated: true}
  heartbeat: {allow_unauthenticated: true}
  sns: {verify_signature: false, allow_unauthenticated: true}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:%(receiver)d/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:%(receiver)d/cto"}
  lowprio: {type: webhook, url: "http://127.0.0.1:%(receiver)d/lowprio"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
noise:
  demote_above: 20
heartbeats:
  - {name: nightly-backup, every: 1h, notify: [oncall]}
  - {name: queue-worker, every: 1h, notify: [oncall]}
  - {name: cron-fast, every: 1s, severity: info, priority: P4, notify: [oncall]}
rules:
  - {name: queue-backlog, match: {metric: ApproximateAgeOfOldestMessage}, escalation: page}
  - {name: flappy, match: {name: disk-flaps}, escalation: page, low_priority: lowprio}
  - {name: quiet, match: {name: batch-export-lag}, escalation: page, max_open_age: 1s}
  - {name: everything, match: {}, escalation: page}
api:
  tokens:
    - {name: reader, token_env: CONSOLE_READ_TOKEN, scope: read}
    - {name: admin, token_env: CONSOLE_WRITE_TOKEN, scope: write}
"""

# Open episodes, most urgent first: P1 critical, P2 high, P3 warning, P4 (the heartbeat), then
# info (P5).
EXPECTED_ORDER = ["db-primary-down", "batch-export-lag", "hooks-worker-oldest-message-age", "cron-fast",
                  XSS_NAME]


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)
    print("ok:", what, flush=True)


# ---- the server and its data ----

class Receiver(http.server.ThreadingHTTPServer):
    """Answers every notification 200, as a healthy channel does."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def request(base, path, body=None, token=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=h,
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_until(what, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise Failure("timed out waiting for " + what)


def generic(base, name, status, severity, summary):
    code, body = request(base, "/hooks/generic",
                         {"key": name, "status": status, "severity": severity, "summary": summary})
    if code != 200:
        raise Failure("posting %s: %s %s" % (name, code, body))
    return body["results"][0]["alert_id"]


def seed(base):
    """Known data; returns the alert ids by name."""
    ids = {}
    with open(os.path.join(FIXTURES, "sns_notification_alarm.json"), "rb") as f:
        code, body = request(base, "/hooks/sns", f.read(),
                             headers={"x-amz-sns-message-type": "Notification",
                                      "Content-Type": "text/plain"})
    check(code == 200, "the SNS fixture is accepted (%s)" % code)
    ids["hooks-worker-oldest-message-age"] = body["results"][0]["alert_id"]
    ids["db-primary-down"] = generic(base, "db-primary-down", "firing", "critical",
                                     "primary database refuses connections")
    # Two short episodes nobody acknowledged make the third noisy: it is demoted.
    for status in ["firing", "resolved", "firing", "resolved", "firing"]:
        ids["disk-flaps"] = generic(base, "disk-flaps", status, "warning", "disk usage flaps")
    ids["batch-export-lag"] = generic(base, "batch-export-lag", "firing", "high",
                                      "the nightly export is behind")
    ids[XSS_NAME] = generic(base, XSS_NAME, "firing", "info", "<b>not bold</b>")
    for name in ["queue-worker", "cron-fast"]:
        code, _ = request(base, "/hooks/heartbeat/" + name, b"")
        check(code == 200, "heartbeat %s pinged" % name)
    code, _ = request(base, "/api/v1/silences",
                      {"matchers": {"name": "nightly-*"}, "duration": "2h", "by": "alice",
                       "comment": "backup window"}, token=WRITE_TOKEN)
    check(code == 201, "a silence is added")
    # max_open_age 1s flags batch-export-lag stale; cron-fast's 1s deadline passes.
    wait_until("batch-export-lag flagged stale", lambda: request(
        base, "/api/v1/alerts/%d" % ids["batch-export-lag"],
        token=READ_TOKEN)[1]["episode"]["flagged_stale_at"])
    wait_until("cron-fast down", lambda: any(
        h["name"] == "cron-fast" and h["state"] == "down"
        for h in request(base, "/api/v1/heartbeats", token=READ_TOKEN)[1]["heartbeats"]))
    return ids


# ---- the browser, over the DevTools protocol on a pipe ----

class Chrome:
    def __init__(self, binary, profile):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Above 10 so that moving them onto fds 3 and 4 in the child clobbers neither.
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

        def child_fds():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [binary, "--headless", "--remote-debugging-pipe", "--user-data-dir=" + profile,
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                "--window-size=1280,900", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.process = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_chrome_r, from_chrome_w, high_r, high_w):
            os.close(fd)
        self.out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self.inp = os.fdopen(from_chrome_r, "rb", buffering=0)
        self.next_id = 0
        self.replies = {}
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    def _read(self):
        buffer = b""
        while True:
            chunk = self.inp.read(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self.cond:
                    if "id" in message:
                        self.replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self.cond.notify_all()

    def send(self, method, params=None, session=True, timeout=30):
        with self.cond:
            self.next_id += 1
            mid = self.next_id
        message = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.out.write(json.dumps(message).encode() + b"\0")
        with self.cond:
            if not self.cond.wait_for(lambda: mid in self.replies, timeout):
                raise Failure("no answer from chromium to " + method)
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise Failure("%s failed: %s" % (method, reply["error"]))
        return reply["result"]

    def open_page(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"]:
            self.send(domain)
        # Before any page script: records every Content-Security-Policy violation.
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation', e =>"
            " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")})

    def eval(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise Failure("in the page: %s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait(self, what, expression, timeout=15.0):
        # The page may still be loading: an error counts as "not yet", and is told at the end.
        last = []

        def attempt():
            try:
                return self.eval(expression)
            except Failure as e:
                last[:] = [str(e)]
                return None
        try:
            return wait_until(what, attempt, timeout)
        except Failure as e:
            raise Failure("%s%s" % (e, " (last error: %s)" % last[0] if last else ""))

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})

    def click(self, selector):
        box = self.eval("(() => { const e = document.querySelector(%s); e.scrollIntoView({block: "
                        "'center'}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2,"
                        " r.y + r.height / 2]; })()" % json.dumps(selector))
        for kind in ["mousePressed", "mouseReleased"]:
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def type(self, selector, text):
        self.eval("document.querySelector(%s).focus()" % json.dumps(selector))
        self.eval("document.querySelector(%s).value = ''" % json.dumps(selector))
        self.send("Input.insertText", {"text": text})

    def press_enter(self):
        for kind in ["keyDown", "keyUp"]:
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                                 "windowsVirtualKeyCode": 13, "text": "\r"})

    def viewport(self, width, height, mobile):
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": mobile})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print("saved", path, flush=True)

    def exceptions(self):
        with self.cond:
            return [e for e in self.events if e["method"] == "Runtime.exceptionThrown"]

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---- the checks ----

def loaded_after(chrome, mark):
    """Waits for a refresh that finished after `mark` (body[data-loaded] is its time)."""
    chrome.wait("a refresh after %d" % mark,
                "Number(document.body.dataset.loaded || 0) > %d" % mark)


def now_ms(chrome):
    return chrome.eval("Date.now()")


def texts(chrome, selector):
    return chrome.eval("[...document.querySelectorAll(%s)].map(e => e.textContent)"
                       % json.dumps(selector))


def run(binary, out, chromium):
    receiver = Receiver()
    work = tempfile.mkdtemp(prefix="tocsin-console-")
    rules = os.path.join(work, "rules.yaml")
    with open(rules, "w") as f:
        f.write(RULES % {"receiver": receiver.server_address[1]})
    env = dict(os.environ, CONSOLE_READ_TOKEN=READ_TOKEN, CONSOLE_WRITE_TOKEN=WRITE_TOKEN)
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "wb")
    server = subprocess.Popen([binary, "serve", "--rules", rules, "--db",
                               os.path.join(work, "t.db"), "--listen", "127.0.0.1:0"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    chrome = None
    try:
        def listening():
            if server.poll() is not None:
                raise Failure("tocsin serve exited with %s (see its log)" % server.returncode)
            with open(log_path, encoding="utf-8", errors="replace") as f:
                m = re.search(r"tocsin listening on 127\.0\.0\.1:(\d+)", f.read())
            return m and int(m.group(1))
        base = "http://127.0.0.1:%d" % wait_until("tocsin serve to listen", listening)
        ids = seed(base)

        chrome = Chrome(chromium, os.path.join(work, "profile"))
        chrome.open_page()
        chrome.viewport(1280, 900, False)
        chrome.navigate(base + "/")

        # Without a token the API answers 401, and the console says what to do.
        problem = chrome.wait("the 401 message", "!document.getElementById('problem').hidden && "
                              "document.getElementById('problem').textContent")
        check("401" in problem and "token" in problem, "without a token: " + problem)

        # A read token, typed once and submitted from the keyboard.
        mark = now_ms(chrome)
        chrome.type("#token-input", READ_TOKEN)
        chrome.press_enter()
        loaded_after(chrome, mark)
        check(chrome.eval("sessionStorage.getItem('tocsin.token')") == READ_TOKEN,
              "the token is kept in sessionStorage")
        check(chrome.eval("document.cookie") == "", "no cookie is set")
        check(chrome.eval("document.getElementById('token-input').value") == "",
              "the token field is cleared once used")

        names = texts(chrome, "#open-list .card h3")
        check(names == EXPECTED_ORDER, "open episodes by priority and severity: %s" % names)
        apart = texts(chrome, "#apart-list .card h3")
        check(apart == ["disk-flaps"], "the demoted episode is apart: %s" % apart)
        check("demoted to lowprio" in texts(chrome, "#apart-list .badge"),
              "the demoted episode is marked")
        check(chrome.eval("document.querySelector('#apart-list .factors').textContent")
              .startswith("noise factors: flap"), "noise factors are shown")
        stale = chrome.eval("[...document.querySelectorAll('#open-list .card')].filter(c => "
                            "c.querySelector('.badge.stale')).map(c => c.querySelector('h3')"
                            ".textContent)")
        check(stale == ["batch-export-lag"], "only the quiet episode is flagged stale: %s" % stale)
        beats = chrome.eval("Object.fromEntries([...document.querySelectorAll('tr[data-heartbeat]')]"
                            ".map(r => [r.dataset.heartbeat, r.children[1].textContent]))")
        check(beats == {"nightly-backup": "new", "queue-worker": "up", "cron-fast": "down"},
              "heartbeats new, up and down: %s" % beats)
        check(any("not enough history" in t for t in texts(chrome, "#noisiest .advice li")),
              "the noisiest alerts carry their advice")
        rules_hash = request(base, "/api/v1/rules", token=READ_TOKEN)[1]["hash"]
        check(chrome.eval("document.querySelector('#rules .hash').textContent") == rules_hash[:16],
              "the rules' hash is shown")
        check(any("accepts unauthenticated requests" in t for t in texts(chrome, "#rules .warnings li")),
              "the rules' warnings and notes are shown")
        check(any("nightly-*" in t for t in texts(chrome, "#silences td")),
              "the silence is listed")
        check(chrome.eval("document.querySelectorAll('#data img').length") == 0 and
              chrome.eval("window.__pwned") is None, "an alert name is never run as HTML")
        chrome.screenshot(os.path.join(out, "console-desktop.png"))

        # The demoted episode's page says why it did not page.
        chrome.navigate(base + "/#/alert/%d" % ids["disk-flaps"])
        chrome.wait("the timeline of disk-flaps", "!!document.querySelector('#timeline td.reason')")
        reasons = texts(chrome, "#timeline td.reason")
        check(any(r.startswith("noise") and "above demote_above 20.0: to lowprio" in r
                  for r in reasons), "the demoted decision and its reason are shown")

        # Back to the list, and into db-primary-down by keyboard.
        chrome.navigate(base + "/#/")
        chrome.wait("the list", "!!document.querySelector('#open-list a.name')")
        chrome.eval("document.querySelector('a[data-focus=\"alert-%d\"]').focus()"
                    % ids["db-primary-down"])
        chrome.press_enter()
        chrome.wait("the page of db-primary-down", "document.getElementById('alert-name') && "
                    "document.getElementById('alert-name').textContent === 'db-primary-down'")
        check("first_occurrence" in texts(chrome, "#timeline td.reason"),
              "the timeline shows the event that opened it, with its reason")
        check(any(t.startswith("escalation step 1 due") for t in
                  texts(chrome, "#steps-pending li")), "the next escalation step is pending")
        delivered = ("[...document.querySelectorAll('#notifications li')]"
                     ".some(li => li.textContent.includes('sent HTTP 200'))")
        chrome.wait("the page's delivery", delivered)
        check(chrome.eval(delivered), "the notification shows its attempt (sent HTTP 200)")

        # A read token cannot act: the console says 403 and why.
        chrome.type("#act-by", "browser-test")
        chrome.click("#do-ack")
        problem = chrome.wait("the 403 message", "!document.getElementById('problem').hidden && "
                              "document.getElementById('problem').textContent")
        check("403" in problem and "write scope" in problem, "a read token: " + problem)

        # With the write token, acknowledge.
        mark = now_ms(chrome)
        chrome.type("#token-input", WRITE_TOKEN)
        chrome.press_enter()
        loaded_after(chrome, mark)
        chrome.click("#do-ack")
        chrome.wait("acknowledged on the page",
                    "document.getElementById('episode-status').textContent === 'acknowledged'")
        check(chrome.eval("document.getElementById('acked-by').textContent")
              .startswith("browser-test"), "the page shows who acknowledged it")
        check(not any(t.startswith("escalation step") for t in texts(chrome, "#steps-pending li, "
              "#steps-pending")), "the escalation stopped on the page")
        check(chrome.eval("document.getElementById('problem').hidden"), "no problem shown")
        alert = request(base, "/api/v1/alerts/%d" % ids["db-primary-down"], token=READ_TOKEN)[1]
        check(alert["episode"]["status"] == "acknowledged" and
              alert["episode"]["acknowledged_by"] == "browser-test" and
              not any(t["kind"] == "escalation" for t in alert["timers"]),
              "the API agrees: acknowledged by browser-test, no escalation pending")
        check(chrome.eval("document.getElementById('do-ack').disabled") and
              not chrome.eval("document.getElementById('do-unack').disabled"),
              "acknowledge is off, unacknowledge on")
        chrome.screenshot(os.path.join(out, "console-alert-desktop.png"))

        # A 390-pixel phone: nothing wider than the screen.
        chrome.viewport(390, 844, True)
        mark = now_ms(chrome)
        chrome.click("#refresh")
        loaded_after(chrome, mark)
        width = chrome.eval("document.documentElement.scrollWidth")
        check(width <= 390, "the alert page fits 390 px (%d)" % width)
        chrome.screenshot(os.path.join(out, "console-alert-phone.png"))
        chrome.navigate(base + "/#/")
        chrome.wait("the list", "!!document.querySelector('#open-list a.name')")
        width = chrome.eval("document.documentElement.scrollWidth")
        check(width <= 390, "the list fits 390 px (%d)" % width)
        chrome.screenshot(os.path.join(out, "console-phone.png"))

        violations = chrome.eval("window.__violations")
        check(violations == [], "no Content-Security-Policy violation: %s" % violations)
        errors = chrome.exceptions()
        check(errors == [], "no script error: %s" % errors)
    except Failure:
        if chrome:
            try:
                print("the page at the failure:", chrome.eval(
                    "location.href + '\\n' + document.body.innerText.slice(0, 1500)"),
                    file=sys.stderr)
            except Failure:
                pass
        raise
    finally:
        if chrome:
            chrome.close()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        receiver.shutdown()
        log.close()
        if sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("server log and profile kept in", work, file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chromium", default=shutil.which("chromium"))
    args = parser.parse_args()
    if not args.chromium:
        print("console_test: no chromium on PATH (scripts/deps installs Debian's)", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    try:
        run(args.binary, args.out, args.chromium)
    except Failure as e:
        print("console_test: FAILED: %s" % e, file=sys.stderr)
        return 1
    print("console_test: passed in %.1f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
