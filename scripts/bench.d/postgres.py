"""postgres: ingest on SQLite (synchronous full, then normal) and on PostgreSQL, one instance and
two instances sharing one database (wrk's connections spread over both), side by side.

The PostgreSQL is --pg-uri (or TOCSIN_BENCH_PG_URI), or a throwaway server started with
scripts/postgres and made durable like SQLite full (fsync, synchronous_commit and
full_page_writes on). Each run gets its own schema. CPU per event is the Tocsin processes'
user+system time over the run divided by the requests; for a PostgreSQL this part started,
"db" adds the server's processes (unknown for --pg-uri, shown as -). Same alerts as ingest
(distinct SNS-wrapped CloudWatch alarms), c=16.
"""
import os
import subprocess
import tempfile
import threading

import benchlib as b
import ingest

CONCURRENCY = 16


class Postgres:
    """--pg-uri (TOCSIN_BENCH_PG_URI), or a throwaway server made durable like SQLite full."""

    def __init__(self, uri=None):
        self.dir = None
        self.uri = uri
        if not self.uri:
            # Not under `tmp` (mode 0700): as root, the server runs as another user.
            self.dir = tempfile.mkdtemp(prefix="tocsin-bench-pg-")
            os.chmod(self.dir, 0o755)
            started = subprocess.run([os.path.join(b.ROOT, "scripts", "postgres"), "start", self.dir],
                                     capture_output=True, text=True)
            if started.returncode != 0:
                raise b.Failure("scripts/postgres start failed: " + started.stderr)
            self.uri = started.stdout.strip()
            # scripts/postgres trades durability for speed; SQLite full does not.
            try:
                for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                    self.sql(f"ALTER SYSTEM SET {setting} = on")
                self.sql("SELECT pg_reload_conf()")
            except BaseException:
                self.stop()
                raise
        self.schemas = 0

    def sql(self, statement):
        subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", self.uri, "-c", statement],
                       check=True, capture_output=True)

    def fresh_location(self):
        self.schemas += 1
        schema = f"bench_{os.getpid()}_{self.schemas}"
        self.sql(f"CREATE SCHEMA {schema}")
        return self.uri + ("&" if "?" in self.uri else "?") + f"options=-csearch_path%3D{schema}"

    def server_pid(self):
        if not self.dir:
            return None
        return int(open(os.path.join(self.dir, "data", "postmaster.pid")).readline())

    def stop(self):
        if self.dir:
            subprocess.run([os.path.join(b.ROOT, "scripts", "postgres"), "stop", self.dir],
                           capture_output=True)



def measure(ctx, servers, seconds, template, db_pid=None):
    """wrk on every server at once, the connections split between them; one row."""
    b.wrk(servers[0].port, "tocsin.lua", 1, CONCURRENCY, ctx.run_args([template]))  # warm-up
    cpu0 = sum(s.cpu() for s in servers)
    db0 = b.cpu_seconds(db_pid, children=True) if db_pid else None
    results, failures = [None] * len(servers), []
    args = [ctx.run_args([template]) for _ in servers]

    def one(i):
        try:
            results[i] = b.wrk(servers[i].port, "tocsin.lua", seconds, CONCURRENCY // len(servers), args[i])
        except b.Failure as failure:
            failures.append(failure)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    requests = sum(r["requests"] for r in results)
    return {"rate": sum(r["rate"] for r in results), "requests": requests,
            "p50": max(r["p50"] for r in results), "p99": max(r["p99"] for r in results),
            "cpu_us": (sum(s.cpu() for s in servers) - cpu0) / requests * 1e6,
            "db_us": ((b.cpu_seconds(db_pid, children=True) - db0) / requests * 1e6
                      if db_pid else None)}


def run(ctx):
    seconds = 3 if ctx.quick else 10
    template = os.path.join(ctx.tmp, "sns.tmpl")
    if not os.path.exists(template):
        b.sns_template(template)
    rows = {}
    for sync in ("full", "normal"):
        workdir = ctx.scratch(f"pg-sqlite-{sync}")
        rules = ingest.RULES.replace("synchronous: full", f"synchronous: {sync}")
        with b.start_tocsin(ctx.binary, rules, workdir) as server:
            rows[f"sqlite {sync}"] = measure(ctx, [server], seconds, template)
    rules = ingest.RULES.replace("storage:\n  synchronous: full\n", "")
    pg = Postgres(ctx.args.pg_uri)
    try:
        for instances in (1, 2):
            location = pg.fresh_location()
            workdir = ctx.scratch(f"pg-{instances}")
            servers = []
            try:
                for i in range(instances):
                    servers.append(b.start_tocsin(ctx.binary, rules, workdir, f"tocsin-{i}", db=location))
                name = "pg, 1 instance" if instances == 1 else "pg, 2 instances"
                rows[name] = measure(ctx, servers, seconds, template, pg.server_pid())
            finally:
                for s in servers:
                    s.stop()
    finally:
        pg.stop()
    lines = [f"POST /hooks/sns, distinct alarms, {CONCURRENCY} connections, {seconds} s each",
             f"{'storage':<18}{'events/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cpu us/ev':>11}{'db us/ev':>10}"]
    for name, r in rows.items():
        db = f"{r['db_us']:>10.0f}" if r["db_us"] is not None else f"{'-':>10}"
        lines.append(f"{name:<18}{r['rate']:>9.0f}{r['p50'] / 1000:>9.2f}{r['p99'] / 1000:>9.2f}"
                     f"{r['cpu_us']:>11.0f}{db}")
    for name in ("sqlite normal", "pg, 1 instance", "pg, 2 instances"):
        lines.append(f"ratio {name}/sqlite full throughput: "
                     f"{rows[name]['rate'] / rows['sqlite full']['rate']:.2f}")
    text = "\n".join(lines)
    b.log(text)
    return {"rows": rows, "text": text}
