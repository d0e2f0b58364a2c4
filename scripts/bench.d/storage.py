"""storage: how many bytes one stored event of mixed traffic costs.

Generates N events (100,000; 20,000 with --quick) — CloudWatch alarms over SNS (half, with the
headers SNS sends), generic events and single-alert Alertmanager requests (a quarter each) for
2,000 alerts over 30 days — replays them with `tocsin replay --db` into a fresh database, and
reports the bytes per table and index (`dbstat`), the file size and the bytes per stored event.
Replay stores exactly what `serve` stores for the same requests and keeps everything (no
retention), so this is the cost of one event before pruning. With --prune, `tocsin serve` with
retain_events 7d then runs a first retention run on the database and it is timed.
"""
import datetime as dt
import http.client
import json
import os
import random
import sqlite3
import subprocess
import time

import benchlib as b
from benchlib import listening_port, stamp

FIXTURES = b.FIXTURES

RULES = """version: 1
sources:
  sns: {verify_signature: false, allow_unauthenticated: true}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - {name: queues, match: {name: "queue-*"}, severity: critical, notify: [oncall, alerts]}
  - {name: rest, match: {}, notify: [alerts]}
"""


def http_headers(name):
    """The headers of a recorded request (tests/fixtures/requests), as SNS/Alertmanager send them."""
    out = {}
    with open(os.path.join(FIXTURES, "requests", name)) as f:
        next(f)  # request line
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                break
            k, v = line.split(":", 1)
            if k.lower() not in ("host", "content-length"):
                out[k] = v.strip()
    return out


def generate(path, events, alerts, days, seed):
    rng = random.Random(seed)
    sns = json.load(open(os.path.join(FIXTURES, "sns_notification_alarm.json")))
    alarm = json.loads(sns["Message"])
    sns_headers = http_headers("sns_notification_alarm.http")
    am = json.load(open(os.path.join(FIXTURES, "alertmanager_webhook_v4.json")))
    am_headers = http_headers("alertmanager_webhook_v4.http")
    # Ending now, so --prune (which runs on the real clock) keeps the last horizon's worth.
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=days)
    span = days * 86400
    firing = {}
    with open(path, "w") as out:
        for i, offset in enumerate(sorted(rng.uniform(0, span) for _ in range(events))):
            t = start + dt.timedelta(seconds=offset)
            a = rng.randrange(alerts)
            state = not firing.get(a, False) if rng.random() < 0.7 else firing.get(a, False)
            firing[a] = state
            kind = a % 4
            if kind < 2:
                name = f"queue-{a}" if a % 10 == 0 else f"alarm-{a}"
                m = dict(alarm, AlarmName=name, NewStateValue="ALARM" if state else "OK",
                         OldStateValue="OK" if state else "ALARM")
                message_id = f"{rng.getrandbits(128):032x}"
                body = dict(sns, MessageId=message_id, Message=json.dumps(m))
                headers = dict(sns_headers, **{"x-amz-sns-message-id": message_id})
                line = {"at": stamp(t), "hook": "sns", "headers": headers, "body": body}
            elif kind == 2:
                line = {"at": stamp(t), "hook": "generic",
                        "headers": {"Content-Type": "application/json", "User-Agent": "curl/8.5.0"},
                        "body": {"key": f"job-{a}", "status": "firing" if state else "resolved",
                                 "id": f"ev-{i}", "summary": f"batch job {a} failed"}}
            else:
                alert = dict(am["alerts"][0])
                alert["labels"] = dict(alert["labels"], pod=f"pod-{a}")
                alert["status"] = "firing" if state else "resolved"
                alert["startsAt"] = stamp(t)
                alert["fingerprint"] = f"{a:016x}"
                alert["endsAt"] = "0001-01-01T00:00:00Z" if state else stamp(t)
                body = dict(am, alerts=[alert], status=alert["status"])
                line = {"at": stamp(t), "hook": "alertmanager", "headers": am_headers, "body": body}
            out.write(json.dumps(line) + "\n")


def measure(binary, rules, events, db, n):
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        proc = subprocess.run([binary, "replay", "--rules", rules, "--db", db, events],
                              stdout=devnull, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise b.Failure(f"replay failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    by_name = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    stored = con.execute("SELECT count(*) FROM inbound").fetchone()[0]
    con.close()
    return {"seconds": elapsed, "tables": by_name, "file": os.path.getsize(db), "inbound": stored,
            "per_event": os.path.getsize(db) / n}


def scrape(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def prune(binary, db, tmp):
    """First retention run of `tocsin serve` (at start) on the database, on the real clock."""
    rules = os.path.join(tmp, "prune.yaml")
    open(rules, "w").write(RULES + "storage: {retain_events: 7d}\n")
    before = os.path.getsize(db)
    log_path = os.path.join(tmp, "prune.log")
    with open(log_path, "w") as log:  # the server's; read through a separate descriptor below
        proc = subprocess.Popen([binary, "serve", "--rules", rules, "--db", db, "--listen", "127.0.0.1:0",
                                 "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        deadline = time.time() + 1200
        while time.time() < deadline:
            time.sleep(0.5)
            port = port or listening_port(proc.pid)
            if port:
                if scrape(port).get("tocsin_retention_last_run_timestamp_seconds", 0) > 0:
                    break
        m = scrape(port)
    finally:
        proc.terminate()
        proc.wait()
    pruned = {k.split('"')[1]: int(v) for k, v in m.items() if k.startswith("tocsin_retention_pruned_rows_total")}
    buckets = {float(k.split('"')[1]): v for k, v in m.items()
               if k.startswith("tocsin_commit_seconds_bucket") and "+Inf" not in k}
    total = m["tocsin_commit_seconds_count"]
    slowest = min((le for le, v in buckets.items() if v >= total), default=float("inf"))
    fast = buckets.get(0.01, 0) / total * 100
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    used = (con.execute("PRAGMA page_count").fetchone()[0] - con.execute("PRAGMA freelist_count").fetchone()[0]) * page
    kept = con.execute("SELECT count(*) FROM inbound").fetchone()[0]
    con.close()
    return (f"retention (retain_events 7d): pruned {pruned} in {m['tocsin_retention_last_run_seconds']:.1f}s; "
            f"{int(total)} commits (ingest's and retention's), {fast:.0f}% under 10 ms, all under {slowest}s\n"
            f"  database file {before / 1e6:.0f} MB; after: {used / 1e6:.0f} MB of pages in use holding {kept} "
            f"requests (freed pages are reused; the file does not shrink)")


def run(ctx):
    n = 20000 if ctx.quick else 100000
    alerts, days = 2000, 30
    # The database on tmpfs when there is one: the bytes stored do not depend on fsync, and
    # replay --db fsyncs every commit (minutes for 100k events on a busy disk).
    workdir = ctx.scratch("storage", prefer_memory=True)
    rules = os.path.join(workdir, "rules.yaml")
    with open(rules, "w") as f:
        f.write(RULES)
    events = os.path.join(workdir, "events.jsonl")
    generate(events, n, alerts, days, 11)
    lines = [f"input: {n} events, {alerts} alerts, {days} days, "
             f"{os.path.getsize(events) / 1e6:.0f} MB of JSON lines"]
    runs = [(label, measure(binary, rules, events, os.path.join(workdir, label + ".db"), n))
            for label, binary in ctx.contenders()]
    names = sorted({k for _, r in runs for k in r["tables"]},
                   key=lambda k: -max(r["tables"].get(k, 0) for _, r in runs))
    lines.append(f"{'table or index (bytes/event)':<32}" + "".join(f"{label:>14}" for label, _ in runs))
    small = [k for k in names if max(r["tables"].get(k, 0) for _, r in runs) < n]
    for k in names:
        if k not in small:
            lines.append(f"{k:<32}" + "".join(f"{r['tables'].get(k, 0) / n:>14.0f}" for _, r in runs))
    if small:
        lines.append(f"{len(small)} more tables and indexes, under 1 byte each")
    lines.append(f"{'file bytes/event':<32}" + "".join(f"{r['per_event']:>14.0f}" for _, r in runs))
    lines.append(f"{'GB per million events':<32}" + "".join(f"{r['per_event'] / 1000:>14.2f}" for _, r in runs))
    lines.append(f"{'file MB':<32}" + "".join(f"{r['file'] / 1e6:>14.1f}" for _, r in runs))
    lines.append(f"{'replay seconds':<32}" + "".join(f"{r['seconds']:>14.1f}" for _, r in runs))
    text = "\n".join(lines)
    if ctx.args.prune:
        text += "\n" + prune(ctx.binary, os.path.join(workdir, "tocsin.db"), workdir)
    b.log(text)
    return {"events": n, "runs": dict(runs), "text": text}
