"""replay: `tocsin replay` of months of generated traffic for thousands of alerts.

Flapping CloudWatch alarms over SNS and generic batch events, most critical pages acknowledged
within minutes; timed end to end (process start, validation, engine, output), once with the
events only and once with `--until` three days past the last (every pending sweep and
escalation fires too). events/s is events over wall time, "of CPU" events over the process's
user+system time (steadier on a shared machine).
"""
import datetime as dt
import json
import os
import random

import benchlib as b
from benchlib import stamp

FIXTURE = os.path.join(b.FIXTURES, "sns_notification_alarm.json")

RULES = """version: 1
defaults: {stale_after: 24h, max_open_age: 72h}
sources:
  sns: {verify_signature: false}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  critical:
    steps: [{after: 0m, notify: [oncall, alerts]}, {after: 20m, notify: [cto]}]
    repeat_every: 30m
rules:
  - {name: queues, match: {name: "queue-*"}, severity: critical, escalation: critical}
  - {name: batch, match: {source: generic}, notify: [alerts], auto_resolve_after: 2d, ack_timeout: 1h}
  - {name: rest, match: {}, notify: [alerts]}
"""


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def generate(path, alerts, days, events, seed):
    """Flapping alarms and batch jobs; on-call acknowledges most critical pages within minutes
    (as a healthy team does), so escalation repeats stay the exception they are in practice."""
    rng = random.Random(seed)
    base = json.load(open(FIXTURE))
    message = json.loads(base["Message"])
    start = dt.datetime(2026, 8, 1, tzinfo=dt.timezone.utc)
    span = days * 86400
    times = sorted(rng.uniform(0, span) for _ in range(events))
    firing = {}
    lines = []  # (seconds from start, order, line)
    for i, offset in enumerate(times):
        t = start + dt.timedelta(seconds=offset)
        a = rng.randrange(alerts)
        state = not firing.get(a, False) if rng.random() < 0.7 else firing.get(a, False)
        if a % 2 == 0:  # CloudWatch over SNS
            name = f"queue-{a}" if a % 10 == 0 else f"alarm-{a}"
            m = dict(message)
            m["AlarmName"] = name
            m["NewStateValue"] = "ALARM" if state else "OK"
            m["OldStateValue"] = "OK" if state else "ALARM"
            m["StateChangeTime"] = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"
            body = dict(base)
            body["MessageId"] = f"msg-{i}"
            body["Message"] = json.dumps(m)
            lines.append((offset, i, {"at": stamp(t), "hook": "sns", "body": body}))
            fp = f"cloudwatch:123456789012:us-east-1:{name}"
        else:
            lines.append((offset, i, {"at": stamp(t), "hook": "generic",
                                      "body": {"key": f"job-{a}", "status": "firing" if state else "resolved",
                                               "id": f"ev-{i}"}}))
            fp = f"generic:job-{a}"
        if state and not firing.get(a, False) and rng.random() < 0.8:
            ack_at = offset + rng.uniform(120, 1500)
            lines.append((ack_at, i, {"at": stamp(start + dt.timedelta(seconds=ack_at)),
                                      "ack": {"fingerprint": fp, "by": "oncall"}}))
        firing[a] = state
    lines.sort(key=lambda x: (x[0], x[1]))
    with open(path, "w") as out:
        for _, _, line in lines:
            out.write(json.dumps(line) + "\n")
    return start + dt.timedelta(seconds=span)



def replay(binary, rules, events, n, until=None):
    argv = [binary, "replay", "--rules", rules, events]
    if until:
        argv[2:2] = ["--until", until]
    proc, wall, cpu = b.run_timed(argv, stdout=b.subprocess.PIPE, stderr=b.subprocess.PIPE)
    if proc.returncode != 0:
        raise b.Failure(f"replay failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    kinds = {}
    for raw in proc.stdout.splitlines():
        k = json.loads(raw)["type"]
        kinds[k] = kinds.get(k, 0) + 1
    return {"seconds": wall, "cpu": cpu, "rate": n / wall, "cpu_rate": n / max(cpu, 1e-9),
            "lines": sum(kinds.values()), "kinds": kinds}


def run(ctx):
    # The density of the former bench-replay (200,000 events over 90 days), scaled down.
    n = 10000 if ctx.quick else 50000
    alerts, days = 2000, (5 if ctx.quick else 23)
    workdir = ctx.scratch("replay")
    rules = os.path.join(workdir, "rules.yaml")
    with open(rules, "w") as f:
        f.write(RULES)
    events = os.path.join(workdir, "events.jsonl")
    end = generate(events, alerts, days, n, 7)
    until = stamp(end + dt.timedelta(days=3))
    out = {"events": n, "alerts": alerts, "days": days, "mb": os.path.getsize(events) / 1e6,
           "runs": ["events only"] + ([] if ctx.quick else ["+ timers to the end"])}
    for label, binary in ctx.contenders():
        out[label] = {"events only": replay(binary, rules, events, n)}
        if not ctx.quick:
            out[label]["+ timers to the end"] = replay(binary, rules, events, n, until)
        for run_name, r in out[label].items():
            b.log(f"replay {label} {run_name}: {r['rate']:.0f} events/s ({r['cpu_rate']:.0f} of CPU), "
                  f"{r['lines']} lines out")
    return out
