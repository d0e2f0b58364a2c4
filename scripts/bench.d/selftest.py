"""scripts/bench --self-test: the harness's own checks, without building or measuring Tocsin.

- a wrk run answered with non-2xx fails (the receiver answers 503 until told otherwise), and
  one answered with 2xx passes with its requests counted;
- the SNS template has @@ID@@ (the MessageId) before @@NAME@@, as tocsin.lua requires, and
  stays valid JSON once both are replaced;
- --write-doc replaces only what lies between the markers;
- the outage part's recording receiver: listening on the port it is given, answering 202 from
  the start, keeping each request's event id and fingerprint; and the outage part's counting of
  duplicates and of the peak requests in one second.
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile

import benchlib as b
import outage
import report


def check(condition, what):
    if not condition:
        raise b.Failure("self-test: " + what)
    b.log("ok: " + what)


def run():
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-selftest-") as tmp:
        template = b.sns_template(os.path.join(tmp, "sns.tmpl"))
        text = open(template).read()
        check(0 <= text.find("@@ID@@") < text.find("@@NAME@@"), "the template has @@ID@@ before @@NAME@@")
        filled = json.loads(text.replace("@@ID@@", "m-1").replace("@@NAME@@", "bench-m-1"))
        check(json.loads(filled["Message"])["AlarmName"] == "bench-m-1" and filled["MessageId"] == "m-1",
              "the filled template is an SNS notification of the alarm bench-m-1")

        receiver = subprocess.Popen([sys.executable, os.path.join(b.HERE, "receiver.py")],
                                    stdout=subprocess.PIPE, text=True)
        try:
            port = int(receiver.stdout.readline())
            try:
                b.wrk(port, "alertmanager.lua", 1, 2, ["1"])
                failed = False
            except b.Failure as failure:
                failed = "non-2xx" in str(failure)
            check(failed, "a wrk run answered 503 fails the benchmark")
            b.http_get(port, "/control/up")
            result = b.wrk(port, "alertmanager.lua", 1, 2, ["2"])
            stats = json.loads(b.http_get(port, "/control/stats")[1])
            check(result["requests"] > 0 and stats["ok"] >= result["requests"],
                  "a wrk run answered 202 passes, its requests counted")
        finally:
            receiver.kill()
            receiver.wait()

        port = b.free_port()
        receiver, listening = outage.start_receiver("--port", str(port), "--up", "--record")
        try:
            for event_id in ("7", "8", "7"):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", "/hook", json.dumps({"fingerprint": f"generic:a{event_id}",
                                                          "action": "trigger"}),
                             {"X-Tocsin-Event-Id": event_id})
                status = conn.getresponse().status
                conn.close()
                check(status == 202, f"the recording receiver answers 202 (event {event_id})")
            records = outage.get_json(port, "/control/records")
            stats = outage.get_json(port, "/control/stats")
        finally:
            receiver.kill()
            receiver.wait()
        check(listening == port and [r[1:4] for r in records] == [
            ["/hook", "7", "generic:a7"], ["/hook", "8", "generic:a8"], ["/hook", "7", "generic:a7"]]
              and stats["triggers"] == 2,
              "the recording receiver keeps path, event id and fingerprint, on the port given")
        check(outage.duplicates([r[2] for r in records] + [None, None]) == 1,
              "an event id seen twice is one duplicate; requests without one are not compared")
        check(outage.peak_per_second([0.0, 0.5, 0.99, 1.0, 1.2, 3.0]) == 4
              and outage.peak_per_second([]) == 0,
              "the peak counts the most arrivals within any 1-second window")

        doc = os.path.join(tmp, "doc.md")
        with open(doc, "w") as f:
            f.write(f"before\n{report.BEGIN}\nold\n{report.END}\nafter\n")
        report.write_doc(doc, "new table\n")
        check(open(doc).read() == f"before\n{report.BEGIN}\nnew table\n{report.END}\nafter\n",
              "--write-doc replaces only the results between the markers")
    return 0
