"""Routing latency under load, per encoder: ``POST /route`` on fresh and on repeated prompts.

For each encoder it starts the service (uvicorn, SQLite, one worker) with that encoder and
drives ``POST /route`` from a separate load-generator process (``benchmarks/loadgen.py``) at
each concurrency, first with prompts the service has never seen (so every request is
embedded), then with 64 prompts it has just seen (served from the in-memory LRU). Prompts are
the shared logs' (both, interleaved), each made unique by a prefix. In the same run, the rate
of one-at-a-time MiniLM encodes of such prompts is measured as the reference of the bars:
at concurrency 16 on fresh prompts, throughput >= 3x that rate with no errors, and p99 <= 100 ms.

    .venv/bin/python benchmarks/bench_route.py [--encoders minilm,minilm-m2v] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.serving import free_port, run_load, start_server  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
LOGS = ("llmrouter_dcrouter", "routerbench_subset")
BAR_FACTOR, BAR_P99_MS, BAR_CONCURRENCY = 3.0, 100.0, 16

_REFERENCE = """
import json, sys, time
from agent.embedder import MiniLMEmbedder
prompts = json.load(open(sys.argv[1]))
out = {}
for threads in (1, 0):
    emb = MiniLMEmbedder(threads=threads or None)
    emb.encode(prompts[:2])
    t0 = time.perf_counter()
    for p in prompts:
        emb.encode([p])
    out[threads] = len(prompts) / (time.perf_counter() - t0)
print(json.dumps(out))
"""


def shared_prompts(data_dir: Path) -> list[str]:
    """The distinct prompts of the shared logs, interleaved one from each log in turn."""
    from agent.logs import load_log

    lists = [
        list(dict.fromkeys(load_log(data_dir / n).prompts)) for n in LOGS if (data_dir / n).exists()
    ]
    if not lists:
        raise SystemExit(f"no shared logs in {data_dir}")
    out = [p for group in zip(*lists, strict=False) for p in group]
    return out + [p for lst in lists for p in lst[len(out) // len(lists) :]]


def reference_rate(prompts: list[str], tmp: Path) -> dict[str, float]:
    """One-at-a-time MiniLM encodes per second (1 torch thread, and torch's default), measured
    in a process of its own, on fresh prompts."""
    path = tmp / "reference.json"
    path.write_text(json.dumps(prompts))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", _REFERENCE, str(path)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    rates = json.loads(out.stdout.strip().splitlines()[-1])
    return {"threads_1": rates["1"], "threads_default": rates["0"]}


def bench_encoder(name: str, prompts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from agent.artifacts import cache_root

    tmp = Path(tempfile.mkdtemp(prefix=f"ra-bench-route-{name}-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "ROUTING_AGENT_EMBEDDER": name,
        "ROUTING_AGENT_SNAPSHOT_INTERVAL": "0",
        "ROUTING_AGENT_FROM_LOG": str(args.data_dir / LOGS[0]),
        # start-up only (fitting the pool): the embeddings bench_encoders.py cached
        "ROUTING_AGENT_EMBEDDING_CACHE": str(cache_root()),
    }
    port = free_port()
    started = time.monotonic()
    proc = start_server(env, port, tmp / "server.log")
    startup = time.monotonic() - started
    runs = 0

    def fresh() -> list[str]:
        nonlocal runs
        runs += 1
        return [json.dumps({"prompt": f"[{runs}-{i}] {p}"}) for i, p in enumerate(prompts)]

    repeated = [json.dumps({"prompt": f"[seen] {p}"}) for p in prompts[:64]]
    out: dict[str, Any] = {"encoder": name, "startup_s": startup, "fresh": {}, "repeated": {}}
    try:
        run_load(port, "/route", fresh(), args, tmp, concurrency=4)  # warm-up, not reported
        run_load(port, "/route", repeated, args, tmp, concurrency=4)  # now they are seen
        for c in args.concurrency:
            out["fresh"][c] = run_load(port, "/route", fresh(), args, tmp, concurrency=c)
            out["repeated"][c] = run_load(port, "/route", repeated, args, tmp, concurrency=c)
            print(name, c, out["fresh"][c]["rps"], out["repeated"][c]["rps"], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def _errors(r: dict[str, Any]) -> int:
    return sum(v for k, v in r["status"].items() if not str(k).startswith("2"))


def bars(r: dict[str, Any], reference: float) -> tuple[bool, str]:
    """Whether ``r`` meets the bars at concurrency 16 on fresh prompts, and how it fares."""
    run = r["fresh"].get(BAR_CONCURRENCY)
    if run is None:
        return False, "not run at concurrency 16"
    ratio = run["rps"] / reference
    ok = ratio >= BAR_FACTOR and _errors(run) == 0 and run["p99_ms"] <= BAR_P99_MS
    return ok, (
        f"{ratio:.1f}× the reference, p99 {run['p99_ms']:.0f} ms, {_errors(run)} errors: "
        + ("meets the bars" if ok else "misses the bars")
    )


def markdown(results: list[dict[str, Any]], ref: dict[str, float], args: argparse.Namespace) -> str:
    reference = max(ref.values())
    lines = [
        f"uvicorn (one worker, SQLite) on 127.0.0.1, {os.cpu_count()} cores shared with the "
        f"load generator (a separate process, closed loop, one keep-alive connection per "
        f"concurrent request), {args.duration:g} s per run, the pool fitted on "
        f"{LOGS[0]}, the service's default settings "
        "(one intra-op encoder thread, micro-batches of up to 64 prompts waiting up to 2 ms, "
        "an LRU of 10,000 rows). *Fresh*: every prompt new to the service (the shared logs' "
        "prompts, each with a unique prefix), so every request is embedded; *repeated*: 64 "
        "prompts the service has just seen.",
        "",
        f"Reference: one-at-a-time MiniLM encodes of such prompts, {ref['threads_1']:.1f}/s "
        f"with one torch thread and {ref['threads_default']:.1f}/s with torch's default; the "
        f"bars use the higher, {reference:.1f}/s: at concurrency {BAR_CONCURRENCY} on fresh "
        f"prompts, ≥ {BAR_FACTOR * reference:.0f} req/s ({BAR_FACTOR:g}×) with no errors, "
        f"and p99 ≤ {BAR_P99_MS:.0f} ms.",
        "",
        "| encoder | prompts | concurrency | requests | req/s | × reference | p50 ms | p99 ms "
        "| non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for kind in ("fresh", "repeated"):
            for c, run in r[kind].items():
                lines.append(
                    f"| `{r['encoder']}` | {kind} | {c} | {run['requests']} | {run['rps']:,.0f} "
                    f"| {run['rps'] / reference:.1f} | {run['p50_ms']:.1f} | "
                    f"{run['p99_ms']:.1f} | {_errors(run)} |"
                )
    lines += ["", "At concurrency 16, fresh prompts:", ""]
    lines += [f"- `{r['encoder']}`: {bars(r, reference)[1]}" for r in results]
    return "\n".join(lines)


def _ints(value: str) -> list[int]:
    return [int(x) for x in value.split(",")]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoders", default="minilm,minilm-onnx-int8,minilm-m2v")
    p.add_argument("--concurrency", type=_ints, default=[1, 4, 16, 64])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    p.add_argument("--data-dir", type=Path, default=SHARED, help=f"the shared logs ({SHARED})")
    p.add_argument("--json", metavar="PATH", help="also write raw results here")
    p.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = p.parse_args(argv)
    prompts = shared_prompts(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="ra-bench-route-") as tmp:
        ref = reference_rate([f"[ref-{i}] {q}" for i, q in enumerate(prompts[:200])], Path(tmp))
        print("reference", ref, flush=True)
        results = [bench_encoder(n, prompts, args) for n in args.encoders.split(",")]
    if args.json:
        Path(args.json).write_text(json.dumps({"reference": ref, "results": results}, indent=2))
    body = markdown(results, ref, args)
    if not args.no_write:
        from benchmarks.markdown import write_section

        write_section("Routing latency", "python benchmarks/bench_route.py " + " ".join(argv), body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
