"""noise: weeks of mixed traffic through `tocsin replay`, with noise routing on and off.

Once with noise routing (demotion to low-priority channels, holds, digests) and once with the
same rules but routing off (demote_above 100, no hold_for). Per run: time and events per
second (the cost of scoring and routing), and what the prioritized channels (oncall, alerts,
cto) received: first notifications by alert class, how many were demoted, held and dropped.
With --baseline, that binary replays the routing-off rules too (e.g. a build from before noise
scoring: the ingest cost of scoring itself).

Traffic: flapping CPU alarms (every 20–60 minutes, clearing within minutes, for stretches of
days), steady alarms that fire every few days and are acknowledged, transient batch alerts,
and never_suppress queue-age alarms with a few real incidents and some flapping.
"""
import datetime as dt
import json
import os
import random
import subprocess
import time

import benchlib as b
from benchlib import stamp

RULES = """version: 1
channels:
  oncall: {{type: webhook, url: "http://127.0.0.1:9/oncall"}}
  alerts: {{type: webhook, url: "http://127.0.0.1:9/alerts"}}
  cto: {{type: webhook, url: "http://127.0.0.1:9/cto"}}
  lowprio: {{type: webhook, url: "http://127.0.0.1:9/lowprio"}}
  digest: {{type: webhook, url: "http://127.0.0.1:9/digest", digest_every: 1h}}
escalations:
  queue-critical:
    steps: [{{after: 0m, notify: [oncall, alerts]}}, {{after: 20m, notify: [cto]}}]
rules:
  - name: queue-backlog
    match: {{name: "*oldest-message-age*"}}
    severity: critical
    priority: P1
    never_suppress: true
    escalation: queue-critical
    low_priority: lowprio
  - name: cpu
    match: {{name: "*cpu*"}}
    notify: [alerts]
    low_priority: digest
  - name: batch
    match: {{name: "batch-*"}}
    notify: [alerts]
    low_priority: digest
    {hold}
  - name: everything-else
    match: {{}}
    notify: [alerts]
    low_priority: lowprio
noise:
  window: 7d
  demote_above: {demote_above}
"""

PRIORITIZED = {"oncall", "alerts", "cto"}


def generate(path, weeks, seed):
    rng = random.Random(seed)
    start = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
    span = weeks * 7 * 86400
    lines = []  # (seconds, order, line)

    def event(t, key, status):
        lines.append((t, len(lines), {"at": stamp(start + dt.timedelta(seconds=t)), "hook": "generic",
                                      "body": {"key": key, "status": status, "summary": f"{key} {status}"}}))

    def ack(t, key):
        lines.append((t, len(lines), {"at": stamp(start + dt.timedelta(seconds=t)),
                                      "ack": {"fingerprint": f"generic:{key}", "by": "oncall"}}))

    for i in range(20):  # flapping CPU alarms: stretches of days flapping, then quiet
        key = f"prod-db-{i}-cpu-high"
        t = rng.uniform(0, 3 * 86400)
        while t < span:
            stretch_end = t + rng.uniform(1, 5) * 86400
            period = rng.uniform(20, 60) * 60
            while t < min(stretch_end, span):
                event(t, key, "firing")
                event(t + rng.uniform(2, 8) * 60, key, "resolved")
                t += period
            t += rng.uniform(2, 6) * 86400
    for i in range(100):  # steady alarms, acknowledged by on-call
        key = f"api-{i}-latency"
        t = rng.uniform(0, 7 * 86400)
        while t < span:
            event(t, key, "firing")
            if rng.random() < 0.8:
                ack(t + rng.uniform(2, 10) * 60, key)
            event(t + rng.uniform(0.5, 6) * 3600, key, "resolved")
            t += rng.uniform(2, 6) * 86400
    for i in range(30):  # transient batch alerts
        key = f"batch-{i}"
        t = rng.uniform(0, 86400)
        while t < span:
            event(t, key, "firing")
            event(t + rng.uniform(1, 4) * 60, key, "resolved")
            t += rng.uniform(3, 12) * 3600
    incidents = 0
    for i in range(5):  # queue-age alarms: a little flapping, a few real incidents
        key = f"worker-{i}-oldest-message-age"
        for _ in range(rng.randint(1, 3)):
            t = rng.uniform(0, span - 86400)
            for k in range(rng.randint(0, 8)):
                event(t + k * 1800, key, "firing")
                event(t + k * 1800 + 180, key, "resolved")
            real = t + 8 * 1800 + rng.uniform(60, 3600)
            event(real, key, "firing")
            ack(real + rng.uniform(5, 25) * 60, key)
            event(real + rng.uniform(1, 4) * 3600, key, "resolved")
            incidents += 1
    lines.sort(key=lambda x: (x[0], x[1]))
    with open(path, "w") as out:
        for _, _, line in lines:
            out.write(json.dumps(line) + "\n")
    events = sum(1 for _, _, line in lines if "hook" in line)
    return start + dt.timedelta(seconds=span + 86400), events, len(lines) - events, incidents


def run_replay(binary, rules, events, until):
    args = [binary, "replay", "--rules", rules, "--until", until, events]
    started = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise b.Failure(f"replay failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    stats = {"first": {}, "demoted": 0, "held": 0, "dropped": 0, "digests": 0, "lines": 0}
    for raw in proc.stdout.splitlines():
        line = json.loads(raw)
        stats["lines"] += 1
        if line["type"] == "decision" and line["decision"] in ("demoted", "held", "dropped"):
            stats[line["decision"]] += 1
        if line["type"] != "notify":
            continue
        if line["action"] == "digest":
            stats["digests"] += 1
        elif line["action"] == "trigger" and line["level"] == 0:
            fp = line["fingerprint"]
            kind = ("queue" if "oldest-message-age" in fp else "cpu" if "cpu" in fp
                    else "batch" if "batch-" in fp else "steady")
            where = "prioritized" if line["channel"] in PRIORITIZED else "low"
            key = (kind, where)
            stats["first"][key] = stats["first"].get(key, 0) + 1
    return elapsed, stats



def run(ctx):
    weeks = 1 if ctx.quick else 4
    workdir = ctx.scratch("noise")
    on = os.path.join(workdir, "noise-on.yaml")
    off = os.path.join(workdir, "noise-off.yaml")
    with open(on, "w") as f:
        f.write(RULES.format(hold="hold_for: 5m", demote_above=60))
    with open(off, "w") as f:
        f.write(RULES.format(hold="", demote_above=100))
    events = os.path.join(workdir, "events.jsonl")
    end, n_events, n_acks, incidents = generate(events, weeks, 7)
    lines = [f"input: {n_events} events and {n_acks} acks over {weeks} weeks; "
             f"{incidents} real queue incidents"]
    runs = [("noise routing on", ctx.binary, on), ("routing off", ctx.binary, off)]
    if ctx.baseline:
        runs.append(("baseline, routing off", ctx.baseline, off))
    rows = [(name, *run_replay(binary, rules, events, stamp(end))) for name, binary, rules in runs]
    lines.append(f"{'run':<22}{'seconds':>9}{'events/s':>10}  {'prioritized pages (queue/cpu/batch/steady)':<44}"
                 f"{'demoted':>8}{'held':>6}{'dropped':>8}{'digests':>8}")
    pages = {}
    for name, elapsed, s in rows:
        f = s["first"]
        pri = [f.get((k, "prioritized"), 0) for k in ("queue", "cpu", "batch", "steady")]
        pages[name] = pri
        lines.append(f"{name:<22}{elapsed:>9.2f}{n_events / elapsed:>10.0f}  "
                     f"{str(sum(pri)) + ' (' + '/'.join(map(str, pri)) + ')':<44}"
                     f"{s['demoted']:>8}{s['held']:>6}{s['dropped']:>8}{s['digests']:>8}")
    on_pages, off_pages = pages[rows[0][0]], pages[rows[1][0]]
    kept = sum(off_pages) - sum(on_pages)
    lines.append(f"noise routing kept {kept} of {sum(off_pages)} first notifications off the prioritized "
                 f"channels ({100 * kept / max(sum(off_pages), 1):.1f}%): {rows[0][2]['demoted']} demoted, "
                 f"{rows[0][2]['dropped']} dropped after a hold; queue-age pages {on_pages[0]} with routing, "
                 f"{off_pages[0]} without")
    base = rows[1][1]
    for name, elapsed, _ in rows:
        lines.append(f"  {name}: {base / elapsed:.2f}x the events/s of routing off")
    text = "\n".join(lines)
    b.log(text)
    return {"weeks": weeks, "events": n_events, "pages": pages, "text": text,
            "seconds_by_run": {name: elapsed for name, elapsed, _ in rows}}
