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
    for part in ("storage", "noise", "match", "postgres"):
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


def write_doc(path, table):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} lacks the markers {BEGIN} / {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + table + END + tail)
