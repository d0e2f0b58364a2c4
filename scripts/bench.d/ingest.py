"""ingest: Tocsin's durable ingest against Alertmanager's in-memory POST /api/v2/alerts.

Each round starts with the next contender (Tocsin, Alertmanager, then --baseline when
given), so with two they alternate; each round starts every server fresh (a new database, a new Alertmanager), warms it
up for a second at c=32, then runs wrk at c=1 and at c=32. Every request is a new alert. CPU
per event is the server process's user+system time over one wrk run divided by its requests.
"""
import os
import shutil

import benchlib as b

# One rule whose escalation waits an hour: each event opens an alert, an episode, a timer and
# writes a decision, and nothing is delivered during the run.
RULES = """version: 1
sources:
  sns: {verify_signature: false, allow_unauthenticated: true}
channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
escalations:
  slow:
    steps:
      - {after: 1h, notify: [alerts]}
rules:
  - name: everything
    match: {}
    escalation: slow
storage:
  synchronous: full
# wrk's 32 connections all come from 127.0.0.1, as a proxy's would: the default limit (32) has
# no room for one more (the readiness probe's, while the server has not yet seen it close).
server:
  max_connections_per_ip: 256
"""

CONCURRENCY = (1, 32)


def contenders(ctx):
    """(label, start(workdir) -> Server, wrk script, script args) of each system measured."""
    template = os.path.join(ctx.tmp, "sns.tmpl")
    if not os.path.exists(template):
        b.sns_template(template)
    out = [("tocsin", lambda w: b.start_tocsin(ctx.binary, RULES, w), "tocsin.lua", [template]),
           ("alertmanager", lambda w: b.start_alertmanager(w), "alertmanager.lua", [])]
    if ctx.baseline:
        out.append(("baseline", lambda w: b.start_tocsin(ctx.baseline, RULES, w, "baseline"),
                    "tocsin.lua", [template]))
    return out


def run(ctx):
    rounds = ctx.args.rounds
    seconds = {1: 2, 32: 3} if ctx.quick else {1: 5, 32: 10}
    systems = contenders(ctx)
    runs = {label: {c: [] for c in CONCURRENCY} for label, *_ in systems}
    for r in range(rounds):
        # Each round starts with the next contender: with two, they alternate.
        order = systems[r % len(systems):] + systems[:r % len(systems)]
        for label, start, script, script_args in order:
            workdir = ctx.scratch(f"ingest-{label}")
            server = start(workdir)
            try:
                b.wrk(server.port, script, 1, 32, ctx.run_args(script_args))  # warm-up, its alerts are distinct
                for c in CONCURRENCY:
                    cpu0 = server.cpu()
                    result = b.wrk(server.port, script, seconds[c], c, ctx.run_args(script_args))
                    server.check_alive()
                    result["cpu_us"] = (server.cpu() - cpu0) / result["requests"] * 1e6
                    runs[label][c].append(result)
                    b.log(f"ingest round {r + 1} {label} c={c}: {result['rate']:.0f}/s, "
                          f"p99 {result['p99'] / 1000:.2f} ms, {result['cpu_us']:.0f} µs CPU/event")
            except b.Failure as failure:
                server.stop()
                raise b.Failure(f"{failure}\n{label}'s log ({server.log_path}):\n{server.log_tail()}")
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    summary = {}
    for label in runs:
        summary[label] = {}
        for c in CONCURRENCY:
            rs = runs[label][c]
            summary[label][c] = {k: b.median([x[k] for x in rs])
                                 for k in ("rate", "p50", "p99", "p999", "cpu_us")}
            summary[label][c]["requests"] = sum(x["requests"] for x in rs)
    ratios = {}
    for other in [label for label in runs if label != "tocsin"]:
        for c in CONCURRENCY:
            per_round = [t["rate"] / o["rate"] for t, o in zip(runs["tocsin"][c], runs[other][c])]
            ratios[f"tocsin/{other} c={c}"] = {"rounds": per_round, "median": b.median(per_round)}
    return {"rounds": rounds, "seconds": seconds, "runs": runs, "summary": summary, "ratios": ratios}
