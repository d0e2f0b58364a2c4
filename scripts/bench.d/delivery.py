"""delivery: notifications per second from a filled outbox to a loopback webhook receiver.

Queues N notifications (N distinct generic alerts, one webhook channel) while the receiver
answers 503, then lets it answer 202 and measures how fast the outbox drains: delivered over
the time from the first 202 to the last (the receiver's clock), and the server's CPU per
notification over the drain. The receiver (receiver.py, asyncio) runs in its own process.
Tocsin's circuit breaker marks the refusing channel down; its catch-up is set unpaced
(`catch_up_rate: 100000`) for a binary that knows the key, so the drain is the worker's speed.
"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import benchlib as b

RULES = """version: 1
sources:
  generic: {{allow_unauthenticated: true}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{port}/n"}}
delivery: {{timeout: 2s, max_attempts: 100, backoff_initial: 200ms, backoff_max: 1s{extra}}}
rules:
  - {{name: all, match: {{}}, notify: [hook]}}
"""


def post_alerts(port, n, prefix, connections=4):
    """n distinct firing generic alerts over keep-alive connections; any non-200 is a Failure."""
    errors = []

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(k, n, connections):
            conn.request("POST", "/hooks/generic",
                         json.dumps({"key": f"{prefix}-{i}", "status": "firing"}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise b.Failure(f"ingest answered {errors[0]} while filling the outbox")


def measure(binary, n, workdir, label):
    receiver = subprocess.Popen([sys.executable, os.path.join(b.HERE, "receiver.py")],
                                stdout=subprocess.PIPE, text=True)
    try:
        rport = int(receiver.stdout.readline())
        # The receiver refusing while the outbox fills marks the channel down (a binary with the
        # circuit breaker); this part measures sending as fast as the worker can, so the
        # catch-up it comes back to is left unpaced where the binary knows the key.
        unpaced = ", catch_up_rate: 100000"
        extra = unpaced if b.accepts_rules(binary, RULES.format(port=1, extra=unpaced),
                                           os.path.join(workdir, "check.yaml")) else ""
        server = b.start_tocsin(binary, RULES.format(port=rport, extra=extra), workdir, label)
        try:
            started = time.monotonic()
            post_alerts(server.port, n, label)
            queued = time.monotonic()
            cpu0 = server.cpu()
            b.http_get(rport, "/control/up")
            while True:
                stats = json.loads(b.http_get(rport, "/control/stats")[1])
                if stats["ok"] >= n:
                    break
                server.check_alive()
                if time.monotonic() - queued > 300:
                    raise b.Failure(f"{label}: only {stats['ok']}/{n} delivered after 300 s")
                time.sleep(0.02)
            cpu = server.cpu() - cpu0
            drained = time.monotonic() - queued
        finally:
            server.stop()
    finally:
        receiver.kill()
        receiver.wait()
    # One more with the circuit breaker: the digest of what the outage held, sent first.
    if stats["ok"] not in (n, n + 1):
        raise b.Failure(f"{label}: the receiver got {stats['ok']} notifications for {n} alerts")
    span = stats["last"] - stats["first"]
    return {"queue_seconds": queued - started, "drain_seconds": drained, "delivered": stats["ok"],
            "refused_while_down": stats["refused"], "rate": (n - 1) / max(span, 1e-9),
            "cpu_us": cpu / n * 1e6}


def run(ctx):
    n = 1000 if ctx.quick else 5000
    out = {"alerts": n}
    for label, binary in ctx.contenders():
        out[label] = measure(binary, n, ctx.scratch(f"delivery-{label}"), label)
        r = out[label]
        b.log(f"delivery {label}: {n} queued in {r['queue_seconds']:.1f} s, drained in "
              f"{r['drain_seconds']:.1f} s: {r['rate']:.0f} notifications/s, "
              f"{r['cpu_us']:.0f} µs CPU each")
    return out
