"""Does refreshing the monitoring report slow ``POST /route``? p99 with and without readers.

Starts the service (a fresh SQLite file) with uvicorn on 127.0.0.1, fills it with decisions
(``--seed-seconds`` of ``/route`` load), then alternates, ``--repeats`` times, a closed-loop
``POST /route`` run at ``--concurrency`` alone and the same run while ``--readers`` clients
each fetch ``/report.html`` every second. The report is built in a background thread and cached
(``ROUTING_AGENT_REPORT_TTL``), so the readers should cost the route little: the bar is a p99
at most 20% higher. Writes its section of BENCHMARKS.md (unless ``--no-write``) and prints it.

    .venv/bin/python benchmarks/bench_report_load.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_service import API_KEY  # noqa: E402
from benchmarks.serving import free_port, run_load, start_server  # noqa: E402


def _readers(port: int, n: int, stop: threading.Event, seen: list[float]) -> list[threading.Thread]:
    """``n`` threads, each fetching ``/report.html`` once a second until ``stop``."""
    import httpx

    def read() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                c.get("/report.html").raise_for_status()
                seen.append(time.perf_counter() - t0)
                stop.wait(max(0.0, 1.0 - (time.perf_counter() - t0)))

    threads = [threading.Thread(target=read, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ra-bench-report-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ROUTING_AGENT_API_KEY": API_KEY,
        "ROUTING_AGENT_EMBEDDER": args.embedder,
        "ROUTING_AGENT_SNAPSHOT_INTERVAL": "0",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
    }
    runs = 0

    def prompts() -> list[str]:  # distinct prompts in every run: no embedding cache hits
        nonlocal runs
        runs += 1
        return [
            json.dumps({"prompt": f"Request {runs}-{i}: explain how to sort {i} numbers in Go."})
            for i in range(20_000)
        ]

    port = free_port()
    proc = start_server(env, port, tmp / "server.log")
    alone: list[dict[str, Any]] = []
    read: list[dict[str, Any]] = []
    report_s: list[float] = []
    try:
        seed = argparse.Namespace(duration=args.seed_seconds)
        seeded = run_load(port, "/route", prompts(), seed, tmp, concurrency=4)["requests"]
        for _ in range(args.repeats):
            alone.append(
                run_load(port, "/route", prompts(), args, tmp, concurrency=args.concurrency)
            )
            stop = threading.Event()
            threads = _readers(port, args.readers, stop, report_s)
            time.sleep(1.0)  # the readers' first requests wait for the first build
            read.append(
                run_load(port, "/route", prompts(), args, tmp, concurrency=args.concurrency)
            )
            stop.set()
            for t in threads:
                t.join(timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"seeded": seeded, "alone": alone, "read": read, "report_s": report_s}


def markdown(result: dict[str, Any], args: argparse.Namespace) -> str:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(float(r[key]) for r in rows)

    base, loaded = med(result["alone"], "p99_ms"), med(result["read"], "p99_ms")
    ratio = loaded / base
    reads = result["report_s"]
    lines = [
        f"SQLite, embedder `{args.embedder}`, about {result['seeded']:,} decisions stored before "
        f"the runs; `POST /route` at concurrency {args.concurrency}, {args.duration:g} s per run, "
        f"{args.repeats} runs of each kind alternated, medians. The readers are {args.readers} "
        f"clients fetching `/report.html` every second.",
        "",
        "| /route load | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, rows in (("alone", result["alone"]), ("with report readers", result["read"])):
        lines.append(
            f"| {name} | {med(rows, 'rps'):,.0f} | {med(rows, 'p50_ms'):.1f} | "
            f"{med(rows, 'p99_ms'):.1f} |"
        )
    lines += [
        "",
        f"p99 with readers / p99 alone: **{ratio:.2f}** (bar: at most 1.20, "
        f"{'met' if ratio <= 1.2 else 'NOT met'}). The readers' `/report.html` answers took a "
        f"median {1000 * statistics.median(reads) if reads else float('nan'):.0f} ms "
        f"({len(reads)} requests; each serves the cached page, rebuilt in the background).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed-seconds", type=float, default=20.0, help="load that fills the database")
    p.add_argument("--embedder", default="hashing-64", help="the service's encoder")
    p.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = p.parse_args(argv)
    body = markdown(run(args), args)
    if not args.no_write:
        from benchmarks.markdown import write_section

        command = "python benchmarks/bench_report_load.py " + " ".join(argv)
        write_section("Report readers and route latency", command.strip(), body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
