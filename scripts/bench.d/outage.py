"""outage: a receiver outage during an alert storm, then the receiver's return (issue 19).

Per contender, a fresh server with three webhook channels: `hook`, pointed at a port where
nothing listens yet; `healthy` and `fallback` (`delivery.fallback`) on a live recording receiver
(receiver.py). Alerts named probe-* go to `healthy`, every other alert to `hook`.

1. Ingest latency before the storm: c=1, sequential POSTs of new probe alerts (3 s, at most
   1,000, after 100 unmeasured), p50 and p99 as the client sees them.
2. The storm: N distinct firing generic alerts (20,000; --quick 2,000) over 4 keep-alive
   connections, as fast as they are answered. Each queues a trigger for the dead `hook`.
3. The outage: D seconds with nothing arriving (60 s; --quick 15 s; --outage-minutes M).
   Measured over it, leaving out the seconds of the mid-outage latency probe (which writes
   rows and costs CPU of its own): the server's user+system CPU as % of one core, the lines its
   log gained (and how many say "failed"), the rows `delivery_attempts` gained (read with
   sqlite3 from the database file while the server runs: WAL), and the requests the fallback
   got. In the middle, the same c=1 latency probe as before the storm.
4. The return: a recording receiver starts on the dead port and answers 202. Catch-up is the
   time from its start to the last request about a storm alert; also the most requests it saw
   in any 1-second window, all requests, duplicates (an X-Tocsin-Event-Id seen twice), and the
   storm alerts whose trigger never arrived (waited for up to 300 s, or 90 s without a request).

Rules keys of the circuit-breaking server (`delivery.catch_up_rate: 500`, `breaker_after: 5`)
are set for a binary whose `tocsin check` accepts them and left out for one that refuses them;
`GET /api/v1/channels` is recorded mid-outage and after the catch-up where it answers 200 (else
null).
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time

import benchlib as b
import delivery

RULES = """version: 1
sources:
  generic: {{allow_unauthenticated: true}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{dead}/hook"}}
  healthy: {{type: webhook, url: "http://127.0.0.1:{live}/healthy"}}
  fallback: {{type: webhook, url: "http://127.0.0.1:{live}/fallback"}}
delivery: {{fallback: fallback, timeout: 2s, max_attempts: 1000, backoff_initial: 1s, backoff_max: 30s{extra}}}
rules:
  - {{name: probe, match: {{name: "probe-*"}}, notify: [healthy]}}
  - {{name: storm, match: {{}}, notify: [hook]}}
"""

# Keys of the circuit-breaking delivery (issue 19), set where the binary knows them.
NEW_KEYS = {"catch_up_rate": "500", "breaker_after": "5"}
PROBE_SECONDS, PROBE_MAX, PROBE_WARM = 3.0, 1000, 100
CATCH_UP_TIMEOUT, CATCH_UP_QUIET = 300.0, 90.0


def accepted_keys(binary, workdir):
    """The NEW_KEYS `binary check` accepts, each tried alone (exit 0: known)."""
    return {key: value for key, value in NEW_KEYS.items()
            if b.accepts_rules(binary, RULES.format(dead=1, live=2, extra=f", {key}: {value}"),
                               os.path.join(workdir, f"check-{key}.yaml"))}


def start_receiver(*argv):
    proc = subprocess.Popen([sys.executable, os.path.join(b.HERE, "receiver.py"), *argv],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        proc.wait()
        raise b.Failure(f"receiver.py {' '.join(argv)} did not start")
    return proc, int(line)


def get_json(port, path):
    status, body = b.http_get(port, path)
    if status != 200:
        raise b.Failure(f"GET {path} on port {port}: {status}")
    return json.loads(body)


def channels(server):
    """GET /api/v1/channels as JSON (its text if it is not JSON), or None where it does not
    answer 200 (a build from before the circuit breaker answers 404)."""
    status, body = b.http_get(server.port, "/api/v1/channels")
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def latency_probe(port, prefix):
    """c=1: sequential new probe alerts for PROBE_SECONDS (at most PROBE_MAX) after PROBE_WARM
    unmeasured ones (a fresh server's first requests are slower: a cold cache); µs p50/p99."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    took = []
    try:
        for i in range(PROBE_WARM + PROBE_MAX):
            if i == PROBE_WARM:
                took, started = [], time.perf_counter()
            elif i > PROBE_WARM and time.perf_counter() - started >= PROBE_SECONDS:
                break
            body = json.dumps({"key": f"{prefix}-{i}", "status": "firing"})
            t0 = time.perf_counter()
            conn.request("POST", "/hooks/generic", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            took.append(time.perf_counter() - t0)
            if r.status != 200:
                raise b.Failure(f"the latency probe's POST answered {r.status}")
    finally:
        conn.close()
    took.sort()
    return {"requests": len(took), "p50": percentile(took, 0.50) * 1e6,
            "p99": percentile(took, 0.99) * 1e6}


class Watch:
    """The server's CPU, its log's lines, the attempt rows and the fallback's requests, summed
    over the intervals between start() and stop() (several: the probe is left out)."""

    def __init__(self, server, live_port):
        self.server = server
        self.live_port = live_port
        self.log_offset = 0
        self.totals = {"seconds": 0.0, "cpu": 0.0, "log_lines": 0, "failed_lines": 0,
                       "attempts": 0, "fallback": 0}

    def _attempts(self):
        con = sqlite3.connect(f"file:{self.server.db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute("SELECT count(*) FROM delivery_attempts").fetchone()[0]
        finally:
            con.close()

    def _fallback(self):
        return sum(1 for r in get_json(self.live_port, "/control/records") if r[1] == "/fallback")

    def _log(self):
        """(lines, lines with "failed") the log gained since the last call."""
        with open(self.server.log_path, "rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written counts once it is whole
        self.log_offset += end
        lines = data[:end].splitlines()
        return len(lines), sum(1 for line in lines if b"failed" in line)

    def start(self):
        self._log()
        self.mark = (time.monotonic(), self.server.cpu(), self._attempts(), self._fallback())

    def stop(self):
        t, cpu, attempts, fallback = self.mark
        lines, failed = self._log()
        self.totals["seconds"] += time.monotonic() - t
        self.totals["cpu"] += self.server.cpu() - cpu
        self.totals["attempts"] += self._attempts() - attempts
        self.totals["fallback"] += self._fallback() - fallback
        self.totals["log_lines"] += lines
        self.totals["failed_lines"] += failed


def peak_per_second(times):
    """The most arrivals within any 1-second window (sorted monotonic seconds)."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def duplicates(event_ids):
    """Requests whose X-Tocsin-Event-Id an earlier request already carried (requests without
    the header are not compared)."""
    seen, dups = set(), 0
    for event_id in event_ids:
        if event_id is None:
            continue
        if event_id in seen:
            dups += 1
        seen.add(event_id)
    return dups


def catch_up(server, dead_port, storm):
    """Starts the receiver on the dead port and waits until every storm alert's trigger came."""
    proc, _ = start_receiver("--port", str(dead_port), "--up", "--record")
    try:
        started = get_json(dead_port, "/control/stats")["started"]
        last_count, last_change = 0, time.monotonic()
        # Only the counters while it runs: the whole record list is read once, at the end, so
        # that serialising it does not stall the receiver in the middle of the catch-up.
        while True:
            server.check_alive()
            stats = get_json(dead_port, "/control/stats")
            now = time.monotonic()
            if stats["ok"] != last_count:
                last_count, last_change = stats["ok"], now
            if stats["triggers"] >= len(storm):
                time.sleep(1)  # what follows the last trigger closely (a duplicate) counts too
                break
            if now - started > CATCH_UP_TIMEOUT or now - last_change > CATCH_UP_QUIET:
                break
            time.sleep(0.1)
        records = get_json(dead_port, "/control/records")
    finally:
        proc.kill()
        proc.wait()
    about_storm = [r[0] for r in records if r[3] in storm]
    times = [r[0] for r in records]
    triggered = {r[3] for r in records if r[4] == "trigger"} & storm
    return {"seconds": (max(about_storm) - started) if about_storm else None,
            "first_after": (min(times) - started) if times else None,
            "peak_per_second": peak_per_second(times), "requests": len(records),
            "duplicates": duplicates([r[2] for r in records]),
            "actions": {a: sum(1 for r in records if r[4] == a) for a in {r[4] for r in records}},
            "missing": len(storm) - len(triggered)}


def measure(ctx, binary, n, outage_seconds, workdir, label):
    keys = accepted_keys(binary, workdir)
    extra = "".join(f", {k}: {v}" for k, v in keys.items())
    prefix = f"{label}-{os.getpid()}"
    live, live_port = start_receiver("--up", "--record")
    dead_port = b.free_port()
    try:
        server = b.start_tocsin(binary, RULES.format(dead=dead_port, live=live_port, extra=extra),
                                workdir, label)
        try:
            before = latency_probe(server.port, f"probe-before-{prefix}")
            t0 = time.monotonic()
            delivery.post_alerts(server.port, n, f"storm-{prefix}")
            storm_seconds = time.monotonic() - t0
            server.check_alive()
            watch = Watch(server, live_port)
            watch.start()
            ends = time.monotonic() + outage_seconds
            time.sleep(max(0.0, outage_seconds / 2 - PROBE_SECONDS / 2))
            watch.stop()
            during = latency_probe(server.port, f"probe-during-{prefix}")
            channels_mid = channels(server)
            watch.start()
            time.sleep(max(0.0, ends - time.monotonic()))
            watch.stop()
            server.check_alive()
            storm = {f"generic:storm-{prefix}-{i}" for i in range(n)}
            back = catch_up(server, dead_port, storm)
            channels_after = channels(server)
            records = get_json(live_port, "/control/records")
            server.check_alive()
        finally:
            server.stop()
    finally:
        live.kill()
        live.wait()
    w = watch.totals
    probes = sum(1 for r in records if r[1] == "/healthy")
    if probes == 0:
        raise b.Failure(f"{label}: no probe alert reached the healthy channel")
    return {"rules_keys": keys, "storm_seconds": storm_seconds, "storm_rate": n / storm_seconds,
            "outage_seconds": outage_seconds, "measured_seconds": w["seconds"],
            "cpu_percent": w["cpu"] / w["seconds"] * 100, "log_lines": w["log_lines"],
            "failed_lines": w["failed_lines"], "attempts": w["attempts"],
            "fallback_during": w["fallback"],
            "fallback_total": sum(1 for r in records if r[1] == "/fallback"),
            "probe_notifications": probes,
            "latency_before": before, "latency_during": during,
            "catch_up": back, "channels_mid_outage": channels_mid,
            "channels_after": channels_after}


def run(ctx):
    n = 2000 if ctx.quick else 20000
    minutes = getattr(ctx.args, "outage_minutes", None)
    outage_seconds = minutes * 60 if minutes else (15 if ctx.quick else 60)
    out = {"alerts": n, "outage_seconds": outage_seconds}
    for label, binary in ctx.contenders():
        out[label] = r = measure(ctx, binary, n, outage_seconds, ctx.scratch(f"outage-{label}"), label)
        c = r["catch_up"]
        b.log(f"outage {label}: {n} alerts in {r['storm_seconds']:.1f} s; over "
              f"{r['measured_seconds']:.0f} s of outage: CPU {r['cpu_percent']:.1f} % of a core, "
              f"{r['log_lines']} log lines ({r['failed_lines']} failed), {r['attempts']} attempts, "
              f"{r['fallback_during']} to the fallback; c=1 p99 "
              f"{r['latency_before']['p99'] / 1000:.2f} -> {r['latency_during']['p99'] / 1000:.2f} ms; "
              f"catch-up {c['seconds'] if c['seconds'] is None else round(c['seconds'], 1)} s, "
              f"peak {c['peak_per_second']}/s, {c['requests']} requests, {c['duplicates']} "
              f"duplicates, {c['missing']} missing; keys {r['rules_keys'] or 'none'}")
    return out
