"""The load generator of ``bench_service.py``, run in its own process.

An asyncio HTTP/1.1 client (uvloop when installed): ``--concurrency`` keep-alive connections,
closed loop, for ``--duration`` seconds, cycling through the JSON bodies of ``--bodies`` (one
per line). Writes throughput, p50/p99 latency and status counts (and with ``--keep`` the 2xx
response bodies) to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


async def _worker(
    host: str, port: int, bodies: list[bytes], path: str, stop_at: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: {n}\r\n\r\n"
    )
    i = 0
    while time.perf_counter() < stop_at:
        body = bodies[out["next"] % len(bodies)]
        out["next"] += 1
        t0 = time.perf_counter()
        writer.write(head.format(n=len(body)).encode() + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await reader.readexactly(length)
        out["lat"].append(time.perf_counter() - t0)
        status = int(status_line.split()[1])
        out["status"][status] = out["status"].get(status, 0) + 1
        if out["keep"] is not None and status in (200, 201):
            out["keep"].append(payload)
        i += 1
    writer.close()


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines()]
    out: dict[str, Any] = {"lat": [], "status": {}, "next": 0, "keep": [] if args.keep else None}
    start = time.perf_counter()
    stop_at = start + args.duration
    await asyncio.gather(
        *(
            _worker("127.0.0.1", args.port, bodies, args.path, stop_at, out)
            for _ in range(args.concurrency)
        )
    )
    elapsed = time.perf_counter() - start
    lat = sorted(out["lat"])
    result = {
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "status": out["status"],
    }
    if out["keep"] is not None:
        result["kept"] = [json.loads(p) for p in out["keep"]]
    return result


def _load_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    for name in ("--port", "--concurrency"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--bodies", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    try:
        import uvloop

        result = uvloop.run(_load(args))
    except ImportError:
        result = asyncio.run(_load(args))
    Path(args.out).write_text(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    return _load_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
