"""What every part of scripts/bench shares: paths, starting and watching processes, wrk.

A part is a module of scripts/bench.d with `run(ctx) -> dict`; `ctx` (a Context) holds the
options, the binaries and a scratch directory. A part fails loudly (raises Failure) rather
than report a number measured on errors.
"""
import datetime as dt
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "scripts", "bench.d")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


class Failure(Exception):
    """A measurement that must not be reported: errors, non-2xx answers, a dead process."""


class Context:
    def __init__(self, args, binary, baseline, tmp):
        self.args = args
        self.quick = args.quick
        self.binary = binary
        self.baseline = baseline
        self.tmp = tmp
        self.runs = 0
        self.memory_tmp = None

    def contenders(self):
        """(label, binary) of every Tocsin build measured: this one, then --baseline."""
        out = [("tocsin", self.binary)]
        if self.baseline:
            out.append(("baseline", self.baseline))
        return out

    def run_args(self, script_args):
        """A wrk script's arguments, then a number no other wrk run of this benchmark had: the
        scripts build their alerts' names from it, so no alert repeats across runs."""
        self.runs += 1
        return [*script_args, f"{os.getpid()}{self.runs:04d}"]

    def scratch(self, name, prefer_memory=False):
        """A fresh directory under the run's temporary one (removed at the end); with
        prefer_memory, on /dev/shm when it exists (also removed at the end)."""
        parent = self.tmp
        if prefer_memory and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            if not self.memory_tmp:
                self.memory_tmp = tempfile.mkdtemp(prefix="tocsin-bench-", dir="/dev/shm")
            parent = self.memory_tmp
        return tempfile.mkdtemp(prefix=name + "-", dir=parent)

    def cleanup(self):
        if self.memory_tmp:
            shutil.rmtree(self.memory_tmp, ignore_errors=True)


def log(message):
    print(message, file=sys.stderr, flush=True)


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid, children=False):
    """User+system CPU of a process (with children: its live and reaped children too)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        child = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if child[1] == str(pid):  # ppid
                    ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise Failure(f"no VmRSS for process {pid}")


def listening_port(pid):
    """The TCP port the process listens on, from /proc (--log-level warn hides the line)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
            if m:
                inodes.add(m.group(1))
        with open("/proc/net/tcp") as f:
            for line in list(f)[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    return int(cols[1].split(":")[1], 16)
    except OSError:
        pass
    return None


class Server:
    """A server process on loopback, its log in a file; stop() ends it."""

    def __init__(self, name, argv, log_path, port=None):
        self.name = name
        self.log_path = log_path
        with open(log_path, "w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.port = port

    def log_tail(self, n=2000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def check_alive(self):
        if self.proc.poll() is not None:
            raise Failure(f"{self.name} exited ({self.proc.returncode}); log:\n{self.log_tail()}")

    def cpu(self):
        return cpu_seconds(self.pid)

    def rss(self):
        return rss_bytes(self.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_tocsin(binary, rules_text, workdir, name="tocsin", db=None):
    """`tocsin serve` on a random loopback port with these rules and a fresh database."""
    rules = os.path.join(workdir, f"{name}.yaml")
    with open(rules, "w") as f:
        f.write(rules_text)
    server = Server(name, [binary, "serve", "--rules", rules,
                           "--db", db or os.path.join(workdir, f"{name}.db"),
                           "--listen", "127.0.0.1:0", "--log-level", "warn"],
                    os.path.join(workdir, f"{name}.log"))
    server.db = db or os.path.join(workdir, f"{name}.db")
    deadline = time.time() + 30
    while time.time() < deadline:
        server.check_alive()
        server.port = listening_port(server.pid)
        if server.port:
            wait_http(server, "/readyz")
            return server
        time.sleep(0.05)
    server.stop()
    raise Failure(f"{name} did not listen within 30 s; log:\n{server.log_tail()}")


AM_CONFIG = """route:
  receiver: 'null'
receivers:
  - name: 'null'
"""


def start_alertmanager(workdir, name="alertmanager"):
    """Prometheus Alertmanager on loopback with a throwaway config and storage, no cluster."""
    config = os.path.join(workdir, f"{name}.yml")
    with open(config, "w") as f:
        f.write(AM_CONFIG)
    port = free_port()
    server = Server(name, ["prometheus-alertmanager", f"--config.file={config}",
                           f"--storage.path={os.path.join(workdir, name + '-data')}",
                           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                           "--log.level=warn"],
                    os.path.join(workdir, f"{name}.log"), port)
    wait_http(server, "/-/ready")
    return server


def wait_http(server, path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        server.check_alive()
        try:
            status, _ = http_get(server.port, path, timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise Failure(f"{server.name} not ready at {path} within {timeout} s; log:\n{server.log_tail()}")


def http_get(port, path, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def sns_template(path):
    """The wrk template of tocsin.lua: the SNS fixture with @@ID@@ (MessageId, placed before the
    Message) and @@NAME@@ (the alarm's name)."""
    with open(os.path.join(FIXTURES, "sns_notification_alarm.json")) as f:
        envelope = json.load(f)
    alarm = json.loads(envelope["Message"])
    alarm["AlarmName"] = "@@NAME@@"
    envelope["MessageId"] = "@@ID@@"
    envelope["Message"] = json.dumps(alarm)
    # MessageId first: tocsin.lua substitutes @@ID@@ then @@NAME@@, in that order.
    ordered = {"MessageId": envelope.pop("MessageId")}
    ordered.update(envelope)
    with open(path, "w") as f:
        f.write(json.dumps(ordered))
    return path


def wrk(port, script, seconds, connections, script_args=(), threads=None):
    """Runs wrk against 127.0.0.1:port; the JSON line of the script's done(), checked: any
    socket error or non-2xx answer is a Failure (a benchmark of errors is worthless)."""
    threads = threads or min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", os.path.join(HERE, script), f"http://127.0.0.1:{port}"]
    if script_args:
        argv += ["--", *script_args]
    proc = subprocess.run(argv, capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise Failure(f"wrk failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    result = json.loads(line[5:])
    if result["errors"] or result["non2xx"]:
        raise Failure(f"wrk against port {port}: {result['errors']} socket errors, "
                      f"{result['non2xx']} non-2xx answers of {result['requests']}:\n{proc.stdout}")
    if result["requests"] == 0:
        raise Failure(f"wrk against port {port}: no request completed\n{proc.stdout}")
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def utc_now():
    return dt.datetime.now(dt.timezone.utc)


def run_timed(argv, **kwargs):
    """Runs a child to completion: (CompletedProcess, wall seconds, CPU seconds of the child)."""
    before = os.times()
    started = time.perf_counter()
    proc = subprocess.run(argv, **kwargs)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return proc, wall, cpu


def accepts_rules(binary, text, path):
    """Whether `binary check` accepts the rules file `text` (written to `path`): how a part
    tells a binary that knows a newer rules key from one that does not."""
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([binary, "check", path], capture_output=True).returncode == 0
