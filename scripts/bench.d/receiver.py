"""A loopback webhook receiver for scripts/bench's delivery part, fast enough not to be what is
measured (asyncio, no http.server): answers POSTs 503 while down, 202 once up, and counts.

  python3 receiver.py   prints its port on the first line of stdout, then serves until killed
  GET /control/up       from now on answer 202
  GET /control/stats    {"ok": N, "refused": N, "first": T, "last": T} (monotonic seconds of
                        the first and last 202)
"""
import asyncio
import json
import time

state = {"up": False, "ok": 0, "refused": 0, "first": None, "last": None}


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
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            if target == "/control/up":
                state["up"] = True
                writer.write(answer(200, "OK"))
            elif target == "/control/stats":
                writer.write(answer(200, "OK", json.dumps(state).encode()))
            elif method == "POST" and state["up"]:
                now = time.monotonic()
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
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
