"""mapped: the cost per event of the mapped-source interpreter (docs/formats.md §14): each
shipped mapping of examples/mappings/ on a real payload of its tool, timed alone (no HTTP, no
database) as the JSON parse plus the mapping and as the mapping alone, per event, and the last
one on an array of 1000 events. The payloads are the collection kept beside the repository
(tests/support/peer_payloads.hpp; TOCSIN_PEER_PAYLOADS overrides); without it the cron
mapping runs on a body of its wrapper written here. The driver (scripts/bench.d/bench_mapped.cpp)
is the target bench_mapped of CMakeLists.txt, outside `all`: built here into build/release.
"""
import json
import os
import subprocess

import benchlib as b

# Each shipped mapping with the payload of the collection it is timed on.
PAIRS = [
    ("datadog", "datadog/inres_triggered_query_alert_p1_2025.json"),
    ("grafana-oncall", "grafana-oncall/kartverket_escalation_firing_2023.json"),
    ("sentry", "sentry/zulip_issue_created_exception.json"),
    ("sentry-metric-alert", "sentry/sentrydocs_metric_alert_resolved.json"),
    ("uptimerobot", "uptimerobot/zulip_template_monitor_down.json"),
    ("pingdom", "pingdom/alerta_http_down_2017.json"),
    ("newrelic", "newrelic/zulip_workflow_default_activated.json"),
    ("azure-monitor", "azure-monitor/dialogporten_log_alert_v2_fired_2023.json"),
    ("google-cloud-monitoring", "google-cloud-monitoring/agilicus_v1_2_uptime_open_2020.json"),
    ("zabbix", "zabbix/zulip_template_problem_average.json"),
    ("github-actions", "github-actions/octokit_workflow_run_completed.json"),
]


def run(ctx):
    release = os.path.join(b.ROOT, "build", "release")
    if not os.path.exists(os.path.join(release, "build.ninja")):
        raise b.Failure("mapped needs build/release: scripts/build release")
    built = subprocess.run([os.path.join(b.ROOT, "scripts", "build"), "release", "bench_mapped"],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise b.Failure("building bench_mapped failed:\n" + built.stdout[-3000:] + built.stderr[-3000:])
    mappings = os.path.join(b.ROOT, "examples", "mappings")
    payloads = os.environ.get("TOCSIN_PEER_PAYLOADS") or os.path.join(b.ROOT, "..", "shared",
                                                                       "peer-payloads")
    args = []
    for name, payload in PAIRS:
        path = os.path.join(payloads, "mapped", payload)
        if os.path.exists(path):
            args.append(f"{os.path.join(mappings, name + '.yaml')}={path}")
    cron = os.path.join(ctx.tmp, "cron.json")
    with open(cron, "w") as f:
        json.dump({"job": "nightly-backup", "host": "db1", "status": "failed", "exit_code": 2,
                   "finished_at": 1764500000, "output": "pg_dump: error: connection refused"}, f)
    args.append(f"{os.path.join(mappings, 'cron.yaml')}={cron}")
    driver = os.path.join(release, "bench_mapped")
    proc = subprocess.run([driver, "5" if ctx.quick else "21"] + args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise b.Failure(f"bench_mapped failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    b.log(proc.stdout)
    return {"text": proc.stdout}
