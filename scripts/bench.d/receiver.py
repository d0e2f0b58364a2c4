"""A loopback webhook receiver for scripts/bench's delivery and outage parts, fast enough not to
be what is measured (asyncio, no http.server): answers POSTs 503 while down, 202 once up, and
counts.

  python3 receiver.py [--port P] [--up] [--record]
                        prints its port on the first line of stdout, then serves until killed;
                        --port listens on P (default: any free port), --up answers 202 from
                        the start, --record keeps every accepted POST (below)
  GET /control/up       from now on answer 202
  GET /control/stats    {"ok": N, "refused": N, "first": T, "last": T, "started": T}
                        (monotonic seconds, comparable with the bench's time.monotonic(), of
                        the first and last 202 and of the moment it listened); with --record
                        also "triggers": the distinct fingerprints of trigger notifications
  GET /control/records  with --record: [[T, path, X-Tocsin-Event-Id, fingerprint, action], ...]
                        of every accepted POST in arrival order (T monotonic seconds; the body's
                        fields null where it is not a JSON object)
"""
import argparse
import asyncio
import json
import time

state = {"up": False, "ok": 0, "refused": 0, "first": None, "last": None, "started": None,
         "triggers": 0}
records = []
triggered = set()
options = None


def record(now, target, event_id, body):
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        doc = {}
    records.append([now, target, event_id, doc.get("fingerprint"), doc.get("action")])
    if doc.get("action") == "trigger":
        triggered.add(doc.get("fingerprint"))
        state["triggers"] = len(triggered)


def answer(status, reason, body=b""):
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + body


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            length = 0
            close = False
            event_id = None
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
                elif name == "x-tocsin-event-id":
                    event_id = value.strip()
            body = await reader.readexactly(length) if length else b""
            if target == "/control/up":
                state["up"] = True
                writer.write(answer(200, "OK"))
            elif target == "/control/stats":
                writer.write(answer(200, "OK", json.dumps(state).encode()))
            elif target == "/control/records":
                writer.write(answer(200, "OK", json.dumps(records).encode()))
            elif method == "POST" and state["up"]:
                now = time.monotonic()
                if options.record:
                    record(now, target, event_id, body)
                state["ok"] += 1
                state["first"] = state["first"] or now
                state["last"] = now
                writer.write(answer(202, "Accepted"))
            else:
                state["refused"] += 1
                writer.write(answer(503, "Service Unavailable"))
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", options.port, backlog=512)
    state["started"] = time.monotonic()
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--up", action="store_true")
ap.add_argument("--record", action="store_true")
options = ap.parse_args()
state["up"] = options.up
asyncio.run(main())
