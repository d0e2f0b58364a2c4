"""The machine's description and the Markdown tables scripts/bench prints and documents."""
import os
import platform
import re
import subprocess

import benchlib as b

BEGIN = "<!-- scripts/bench results: begin -->"
END = "<!-- scripts/bench results: end -->"


def _run(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine(binary, baseline):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    debian = ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    commit = _run(["git", "-C", b.ROOT, "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", b.ROOT, "status", "--porcelain", "--untracked-files=no"])
    out = {
        "date": b.utc_now().strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "debian": debian,
        "tocsin": _run([binary, "--version"]), "binary": binary,
        "commit": commit + (" (modified)" if dirty else ""),
        "alertmanager": _run(["prometheus-alertmanager", "--version"]).splitlines()[0:1],
        "wrk": _run(["wrk", "-v"]).splitlines()[0:1],
        "load": os.getloadavg()[0],
    }
    out["alertmanager"] = out["alertmanager"][0] if out["alertmanager"] else "not installed"
    out["wrk"] = re.sub(r" Copyright.*", "", out["wrk"][0]) if out["wrk"] else "not installed"
    if baseline:
        out["baseline"] = f"{baseline} ({_run([baseline, '--version'])})"
    return out


def ms(us):
    return "–" if us is None else f"{us / 1000:.2f}"


def num(x, digits=0):
    return "–" if x is None else f"{x:,.{digits}f}"


def markdown(results):
    m = results["machine"]
    parts = results["parts"]
    lines = [f"Run {m['date']}{' (--quick)' if results['quick'] else ''}: {m['cpu']}, "
             f"{m['cores']} cores, Linux {m['kernel']}, Debian {m['debian']}, load {m['load']:.1f} "
             f"at the start; {m['tocsin']} at {m['commit']}; {m['alertmanager']}; {m['wrk']}."]
    if "baseline" in m:
        lines[0] += f" Baseline: {m['baseline']}."
    lines.append("")
    labels = ["alertmanager", "tocsin"] + (["baseline"] if "baseline" in m else [])
    names = {"alertmanager": "Alertmanager (in memory)", "tocsin": "Tocsin (SQLite, full)",
             "baseline": "baseline Tocsin"}
    rows = []

    def row(title, cells):
        rows.append(f"| {title} | " + " | ".join(cells) + " |")

    if "ingest" in parts:
        ing = parts["ingest"]
        s = ing["summary"]
        n = ing["rounds"]
        for c in (32, 1):
            row(f"c={c} events/s (median of {n})", [num(s[l][c]["rate"]) for l in labels])
            row(f"c={c} p50 / p99 / p99.9 ms",
                [f"{ms(s[l][c]['p50'])} / {ms(s[l][c]['p99'])} / {ms(s[l][c]['p999'])}" for l in labels])
            row(f"c={c} CPU µs/event", [num(s[l][c]["cpu_us"]) for l in labels])
        for c in (32, 1):
            r = ing["ratios"][f"tocsin/alertmanager c={c}"]
            per = ", ".join(f"{x:.2f}" for x in r["rounds"])
            cells = ["1", f"**{r['median']:.2f}×** ({per})"]
            if "baseline" in labels:
                rb = ing["ratios"][f"tocsin/baseline c={c}"]
                cells.append(f"Tocsin/baseline **{rb['median']:.2f}×** "
                             f"({', '.join(f'{x:.2f}' for x in rb['rounds'])})")
            row(f"c={c} throughput ratio, median (rounds)", cells)
    if "hold" in parts:
        h = parts["hold"]
        n = h["alerts"]
        row(f"RSS holding ≥ {n // 1000}k alerts, MB (alerts sent)",
            [f"{num(h[l]['rss'] / 1e6)} ({h[l]['sent'] / 1000:.0f}k)" for l in labels])
        row("RSS after API queries, MB",
            ["–" if l == "alertmanager" else num(h[l]["rss_after_queries"] / 1e6) for l in labels])
        row(f"CPU µs/event over the {n // 1000}k", [num(h[l]["cpu_us"]) for l in labels])
        row("database bytes/event (file + WAL)",
            ["– (nothing stored)" if l == "alertmanager" else num(h[l]["db_bytes_per_event"])
             for l in labels])
        if all("db_file_bytes_per_event" in h[l] for l in labels[1:]):
            row("database file bytes/event, after a checkpoint",
                ["–"] + [num(h[l]["db_file_bytes_per_event"]) for l in labels[1:]])
            row("write-ahead log while running, MB (reused: not per event)",
                ["–"] + [num(h[l]["db"]["wal"] / 1e6) for l in labels[1:]])
    if "replay" in parts:
        r = parts["replay"]
        for run in r["runs"]:
            row(f"replay {run}, events/s wall (of CPU)",
                ["–"] + [f"{num(r[l][run]['rate'])} ({num(r[l][run]['cpu_rate'])})"
                         for l in labels[1:]])
    if "delivery" in parts:
        d = parts["delivery"]
        row(f"delivery, notifications/s ({d['alerts']} queued)",
            ["–"] + [num(d[l]["rate"]) for l in labels[1:]])
        row("delivery CPU µs/notification", ["–"] + [num(d[l]["cpu_us"]) for l in labels[1:]])
    if rows:
        lines.append("| | " + " | ".join(names[l] for l in labels) + " |")
        lines.append("|---" * (len(labels) + 1) + "|")
        lines += rows
        lines.append("")
    if "hold" in parts:
        tables = {l: parts["hold"][l].get("tables_per_event") for l in labels[1:]}
        if any(tables.values()):
            keys = sorted({k for t in tables.values() if t for k in t},
                          key=lambda k: -max((t or {}).get(k, 0) for t in tables.values()))
            lines.append("Database bytes per event by table and index (`dbstat`, after a checkpoint), "
                         "the hold run:")
            lines.append("")
            lines.append("| table or index | " + " | ".join(names[l] for l in labels[1:]) + " |")
            lines.append("|---" * len(labels) + "|")
            small = []
            for k in keys:
                if max((t or {}).get(k, 0) for t in tables.values()) < 1:
                    small.append(k)
                    continue
                lines.append(f"| {k} | " + " | ".join(num((tables[l] or {}).get(k)) for l in labels[1:]) + " |")
            if small:
                lines.append(f"| {len(small)} more, under 1 byte each | " + " | ".join("" for _ in labels[1:]) + " |")
            lines.append("")
    if "outage" in parts:
        lines += outage_table(parts["outage"], labels[1:], names)
    for part in ("storage", "noise", "match", "mapped", "postgres", "instructions"):
        if part in parts:
            lines.append(f"`--only {part}`:")
            lines.append("")
            lines.append("```")
            lines.append(parts[part]["text"].rstrip())
            lines.append("```")
            lines.append("")
    lines.append(f"Parts: " + ", ".join(f"{p} {parts[p]['seconds']:.0f} s" for p in parts)
                 + f"; {results['seconds']:.0f} s in all.")
    return "\n".join(lines) + "\n"


def outage_table(o, labels, names):
    """The outage part's own table: one column per Tocsin contender (the new build, then
    --baseline: after, before)."""
    n, secs = o["alerts"], o["outage_seconds"]
    span = f"{secs / 60:g} min" if secs >= 60 else f"{secs:g} s"
    rows = [f"Receiver outage (`outage`): {n:,} distinct alerts to one webhook channel "
            f"whose receiver is down, then {span} with nothing arriving, then the receiver "
            f"returns. Figures over the outage leave out the seconds of the mid-outage latency "
            f"probe.", "",
            "| | " + " | ".join(names[l] for l in labels) + " |",
            "|---" * (len(labels) + 1) + "|"]

    def row(title, fn):
        rows.append(f"| {title} | " + " | ".join(fn(o[l]) for l in labels) + " |")

    def per_minute(r, key):
        return f"{num(r[key])} ({num(r[key] / r['measured_seconds'] * 60)}/min)"

    def catch_up_seconds(r):
        c = r["catch_up"]
        return "never" if c["seconds"] is None else num(c["seconds"], 1)

    row("rules keys set (accepted by `tocsin check`)",
        lambda r: ", ".join(f"{k}: {v}" for k, v in r["rules_keys"].items()) or "none")
    row("storm: seconds to post (alerts/s)",
        lambda r: f"{num(r['storm_seconds'], 1)} ({num(r['storm_rate'])})")
    row("outage: server CPU, % of one core", lambda r: num(r["cpu_percent"], 1))
    row("outage: server log lines",
        lambda r: f"{per_minute(r, 'log_lines')}, {num(r['failed_lines'])} failed")
    row("outage: delivery_attempts rows written", lambda r: per_minute(r, "attempts"))
    row("outage: requests to the fallback (whole run)",
        lambda r: f"{num(r['fallback_during'])} ({num(r['fallback_total'])})")
    row("c=1 ingest p50 / p99 ms, before the storm",
        lambda r: f"{ms(r['latency_before']['p50'])} / {ms(r['latency_before']['p99'])}")
    row("c=1 ingest p50 / p99 ms, mid-outage",
        lambda r: f"{ms(r['latency_during']['p50'])} / {ms(r['latency_during']['p99'])}")
    row("catch-up: s from the receiver's return to its first request / the last storm "
        "notification", lambda r: f"{num(r['catch_up']['first_after'], 1)} / {catch_up_seconds(r)}")
    row("catch-up: peak requests in 1 s", lambda r: num(r["catch_up"]["peak_per_second"]))
    row("catch-up: requests (duplicates)",
        lambda r: f"{num(r['catch_up']['requests'])} ({num(r['catch_up']['duplicates'])})")
    row("catch-up: storm alerts whose trigger never came", lambda r: num(r["catch_up"]["missing"]))
    row("`GET /api/v1/channels`",
        lambda r: "200" if r["channels_mid_outage"] is not None else "not served")
    return rows + [""]


def write_doc(path, table):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} lacks the markers {BEGIN} / {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + table + END + tail)
