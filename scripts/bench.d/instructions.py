"""instructions: user-space instructions per event, counted by valgrind's callgrind.

Timings on a shared 2-core machine move by a fifth between runs of the same binary; an
instruction count does not move at all. It leaves out the kernel (syscalls, fsync, scheduling)
and cache misses, so it is not a throughput, but it is the figure that shows whether a change
to the code made an event cheaper, and by how much, before the noisy parts can. For each
contender, in the same run:

- replay: `tocsin replay` of the replay part's generated traffic (2,000 events; 500 with
  --quick), minus a run of its first line alone (process start, migrations), over the events;
- serve: `tocsin serve` (SQLite, synchronous: full) under callgrind answering the ingest part's
  SNS requests one at a time on one keep-alive connection (300; 100 with --quick), minus the
  count of the server started, left idle as long, and stopped, over the requests. Counted: the
  HTTP workers' turns on their connections and the writer thread; not the accept and poller
  threads nor the checkpointer (whose work depends on when it wakes). One at a time, so every
  request is its own commit: the figure includes a commit's per-group cost each time.
"""
import http.client
import os
import re
import subprocess
import time

import benchlib as b
import ingest
import replay


def collected(log_text):
    m = re.search(r"Collected : (\d+)", log_text)
    if not m:
        raise b.Failure("callgrind printed no instruction count:\n" + log_text[-2000:])
    return int(m.group(1))


def callgrind(argv, workdir, name, **kwargs):
    """Runs argv under callgrind; the instructions it counted."""
    log = os.path.join(workdir, name + ".log")
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--log-file={log}",
                           f"--callgrind-out-file={os.path.join(workdir, name + '.out')}"] + argv,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    if proc.returncode != 0:
        raise b.Failure(f"{name} under callgrind failed ({proc.returncode}): "
                        f"{proc.stderr.decode()[-2000:]}")
    with open(log) as f:
        return collected(f.read())


def replay_per_event(binary, workdir, label, rules, events, n):
    first = os.path.join(workdir, "first.jsonl")
    with open(events) as src, open(first, "w") as dst:
        dst.write(src.readline())
    base = callgrind([binary, "replay", "--rules", rules, first], workdir, label + "-replay-1")
    total = callgrind([binary, "replay", "--rules", rules, events], workdir, label + "-replay")
    return (total - base) / (n - 1)


# What serve's count covers: a worker's turn on a connection (reading, parsing, answering
# each request) and the writer thread (every group it commits). Exact names: a pattern like
# *advance* also matches the lambdas inside, and each match toggles counting again.
COUNTED = ("tocsin::http::GuardedServer::advance(tocsin::http::ServedConnection&)",
           "tocsin::storage::Writer::run()")


def serve_instructions(binary, workdir, label, requests, template, hold=0.0):
    """Starts `tocsin serve` under callgrind, sends `requests` SNS requests one at a time (or,
    with none, stays up `hold` seconds once ready), stops it with SIGTERM; the instructions
    counted over the process's life, and the seconds from ready to the stop."""
    rules = os.path.join(workdir, label + ".yaml")
    with open(rules, "w") as f:
        f.write(ingest.RULES)
    db = os.path.join(workdir, f"{label}-{requests}.db")
    log = os.path.join(workdir, f"{label}-serve-{requests}.log")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--log-file={log}",
                             "--collect-atstart=no", *(f"--toggle-collect={f}" for f in COUNTED),
                             f"--callgrind-out-file={log[:-4]}.out", binary, "serve",
                             "--rules", rules, "--db", db, "--listen", "127.0.0.1:0",
                             "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = None
        deadline = time.time() + 180
        while time.time() < deadline and not port:
            if proc.poll() is not None:
                raise b.Failure(f"tocsin serve under callgrind exited ({proc.returncode})")
            port = b.listening_port(proc.pid)
            time.sleep(0.2)
        if not port:
            raise b.Failure("tocsin serve under callgrind did not listen within 180 s")
        while True:
            try:
                if b.http_get(port, "/readyz", timeout=60)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise b.Failure("tocsin serve under callgrind was not ready within 180 s")
            time.sleep(0.2)
        ready = time.monotonic()
        if requests == 0:
            time.sleep(hold)
        with open(template) as f:
            text = f.read()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(requests):
            body = text.replace("@@ID@@", f"{label}-{i}").replace("@@NAME@@", f"bench-{label}-{i}")
            conn.request("POST", "/hooks/sns", body=body.encode(),
                         headers={"Content-Type": "text/plain; charset=UTF-8",
                                  "x-amz-sns-message-type": "Notification"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise b.Failure(f"tocsin serve under callgrind answered {resp.status}")
        conn.close()
        held = time.monotonic() - ready
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    with open(log) as f:
        return collected(f.read()), held


def run(ctx):
    n = 500 if ctx.quick else 2000
    requests = 100 if ctx.quick else 300
    workdir = ctx.scratch("instructions")
    rules = os.path.join(workdir, "replay-rules.yaml")
    with open(rules, "w") as f:
        f.write(replay.RULES)
    events = os.path.join(workdir, "events.jsonl")
    # The replay part's traffic, at its density: 2,000 alerts over 23 days for 50,000 events.
    replay.generate(events, 2000, max(1, round(23 * n / 50000)), n, 7)
    template = b.sns_template(os.path.join(workdir, "sns.tmpl"))
    out = {"events": n, "requests": requests}
    for label, binary in ctx.contenders():
        r = {"replay": replay_per_event(binary, workdir, label, rules, events, n)}
        busy, held = serve_instructions(binary, workdir, label, requests, template)
        # The server's own periodic work (delivery, retention and timer threads) runs by the
        # clock, and under callgrind a run is slow: the idle server is held up as long as the
        # busy one was, so that both count it alike.
        idle, _ = serve_instructions(binary, workdir, label + "-idle", 0, template, held)
        r["serve"] = (busy - idle) / requests
        out[label] = r
        b.log(f"instructions {label}: replay {r['replay']:,.0f}/event, "
              f"serve c=1 {r['serve']:,.0f}/request")
    labels = [label for label, _ in ctx.contenders()]
    lines = [f"User-space instructions per event (callgrind): replay of {n:,} generated events; "
             f"`tocsin serve` answering {requests} SNS requests one at a time.", "",
             "| | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |"),
             "|---|" + "---|" * (len(labels) + (len(labels) == 2))]
    for key, title in (("replay", "replay, per event"), ("serve", "serve c=1, per request")):
        cells = [f"{out[label][key]:,.0f}" for label in labels]
        if len(labels) == 2:
            cells.append(f"{out[labels[0]][key] / out[labels[1]][key]:.2f}×")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    out["text"] = "\n".join(lines) + "\n"
    b.log(out["text"])
    return out
