"""hold: memory and disk while holding many alerts.

Sends at least N distinct alerts (100,000; 30,000 with --quick) at c=32 to a fresh server of
each contender, then reads its VmRSS; for Tocsin also after a few API queries (the list of
open alerts, one alert, /metrics), and the database's bytes per event: the file and its
write-ahead log while the server runs, then the file alone and per table and index (`dbstat`)
once it stopped and the log was checkpointed into the file.
CPU per event here is over the whole run: the steadiest CPU figure of the benchmark.
"""
import os
import json
import shutil
import sqlite3
import time

import benchlib as b
import ingest


def send(ctx, server, script, script_args, n):
    """Runs wrk until n requests were answered; (requests, wall seconds, CPU seconds)."""
    sent, wall, seconds, fastest = 0, 0.0, 3, 0.0
    cpu0 = server.cpu()
    while sent < n:
        result = b.wrk(server.port, script, seconds, 32, ctx.run_args(script_args))
        server.check_alive()
        sent += result["requests"]
        wall += result["duration_us"] / 1e6
        # Aim 5% past the rest at the fastest rate seen (a slow start must not make it send
        # twice the alerts), in steps of at most 10 s.
        fastest = max(fastest, result["rate"])
        seconds = min(10, max(1, int((n - sent) / fastest * 1.05) + 1))
    return sent, wall, server.cpu() - cpu0


def database_stats(server, sent):
    files = {"file": os.path.getsize(server.db), "wal": 0}
    if os.path.exists(server.db + "-wal"):
        files["wal"] = os.path.getsize(server.db + "-wal")
    return files


def dbstat(path):
    """Bytes per table and index (sum of pgsize), or None where SQLite lacks dbstat."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.DatabaseError:
        return None
    finally:
        con.close()


def run(ctx):
    n = 30000 if ctx.quick else 100000
    out = {"alerts": n}
    for label, start, script, script_args in ingest.contenders(ctx):
        workdir = ctx.scratch(f"hold-{label}")
        server = start(workdir)
        try:
            sent, wall, cpu = send(ctx, server, script, script_args, n)
            time.sleep(1)
            row = {"sent": sent, "rate": sent / wall, "cpu_us": cpu / sent * 1e6, "rss": server.rss()}
            if label != "alertmanager":
                for path in ("/api/v1/alerts", "/api/v1/alerts?status=open", "/metrics"):
                    status, body = b.http_get(server.port, path)
                    if status != 200:
                        raise b.Failure(f"{label} GET {path}: {status} {body[:300]!r}")
                    if path == "/api/v1/alerts":
                        listed = json.loads(body)
                        first = (listed.get("alerts") if isinstance(listed, dict) else listed) or []
                        if first and isinstance(first[0], dict) and "id" in first[0]:
                            status, _ = b.http_get(server.port, f"/api/v1/alerts/{first[0]['id']}")
                            if status != 200:
                                raise b.Failure(f"{label} GET one alert: {status}")
                row["rss_after_queries"] = server.rss()
                row["db"] = database_stats(server, sent)
                row["db_bytes_per_event"] = (row["db"]["file"] + row["db"]["wal"]) / sent
            server.check_alive()
        finally:
            server.stop()
        if label != "alertmanager":
            tables = dbstat(server.db)
            row["tables_per_event"] = ({k: v / sent for k, v in tables.items()} if tables else None)
            # What the events occupy for good: the file once the log is copied into it. The log's
            # own size is a working area the checkpointer reuses (a few MiB to ~20 MiB however
            # many events are stored), so per event it only shrinks as more are stored.
            wal = server.db + "-wal"
            if os.path.exists(wal) and os.path.getsize(wal) > 0:
                raise b.Failure(f"{label}: the write-ahead log was not checkpointed into the file")
            row["db_file_bytes_per_event"] = os.path.getsize(server.db) / sent
        b.log(f"hold {label}: {sent} alerts, RSS {row['rss'] / 1e6:.0f} MB"
              + (f", {row['rss_after_queries'] / 1e6:.0f} MB after queries, "
                 f"{row['db_bytes_per_event']:.0f} database bytes/event" if "db" in row else ""))
        out[label] = row
        shutil.rmtree(workdir, ignore_errors=True)
    return out
