"""Speed of the monitoring report on a large database.

Builds a SQLite database holding a pool (K = 16 clusters, 8 models) and N decisions (default one
million) with their monitoring rows and feedback on half of them, bulk-inserted with
``executemany``; then times ``build_report`` (the SQL reads, every estimator) plus
``render_page`` (the HTML with its plots) against the live router, as ``GET /report.html`` does.

    .venv/bin/python benchmarks/bench_report.py [--decisions 1000000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.report_kit import sanitise  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from feedback.db import make_engine  # noqa: E402
from feedback.monitoring.page import render_page  # noqa: E402
from feedback.monitoring.report import build_report  # noqa: E402
from feedback.service import RoutingService  # noqa: E402
from feedback.settings import Settings  # noqa: E402
from policies import Context  # noqa: E402

CHUNK = 100_000


def fill(path: Path, service: RoutingService, n: int, seed: int) -> tuple[int, float]:
    """Insert ``n`` decisions, their monitoring rows and feedback on half; (feedback, seconds)."""
    view = service.router.view()
    names, costs = view.models, view.costs
    k, m = view.n_clusters, len(names)
    rng = np.random.default_rng(seed)
    onehot = [json.dumps(Context.hard(c, k=k).to_row()) for c in range(k)]
    started = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=WAL")
    fid = 0
    for lo in range(0, n, CHUNK):
        size = min(CHUNK, n - lo)
        cluster = rng.integers(k, size=size)
        arm = rng.choice(m, size=size, p=np.linspace(1, 2, m) / np.linspace(1, 2, m).sum())
        t = 1.7e9 + (lo + np.arange(size)) * 0.05
        prop = rng.uniform(0.05, 1.0, size)
        regret = rng.exponential(0.02, size)
        ids = [f"{i:032x}" for i in range(lo, lo + size)]
        con.executemany(
            "INSERT INTO ra_decision (id, model, context, lam, created_at, conversation_id) "
            "VALUES (?, ?, ?, 0.1, ?, NULL)",
            zip(
                ids, [names[a] for a in arm], [onehot[c] for c in cluster], t.tolist(), strict=True
            ),
        )
        con.executemany(
            "INSERT INTO ra_decision_stat (decision_id, created_at, model, cluster, lam, cost, "
            "propensity, regret) VALUES (?, ?, ?, ?, 0.1, ?, ?, ?)",
            zip(
                ids,
                t.tolist(),
                [names[a] for a in arm],
                cluster.tolist(),
                costs[arm].tolist(),
                prop.tolist(),
                regret.tolist(),
                strict=True,
            ),
        )
        has = np.flatnonzero(rng.random(size) < 0.5)
        kinds = rng.choice(["label", "score", "thumbs"], size=has.size, p=[0.6, 0.2, 0.2])
        values = (rng.random(has.size) < 0.7).astype(float)
        con.executemany(
            "INSERT INTO ra_feedback (id, decision_id, kind, value, weight, source, "
            "idempotency_key, created_at) VALUES (?, ?, ?, ?, 1.0, '', NULL, ?)",
            zip(
                range(fid + 1, fid + 1 + has.size),
                [ids[i] for i in has],
                kinds.tolist(),
                values.tolist(),
                (t[has] + 5.0).tolist(),
                strict=True,
            ),
        )
        fid += int(has.size)
        con.commit()
    con.close()
    return fid, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch the file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        settings = Settings(
            database_url=f"sqlite:///{path}",
            embedder="hashing-64",
            k=16,
            policy="thompson",
            synthetic_prompts=1200,
            poll_interval=0.0,
            snapshot_interval=0.0,
        )
        engine = make_engine(settings)
        service = RoutingService(settings, engine)
        service.start()
        n_feedback, fill_s = fill(path, service, args.decisions, args.seed)
        times, page_bytes = [], 0
        for _ in range(args.repeats):
            started = time.perf_counter()
            with service.session() as s:
                report = sanitise(build_report(s, service.router))
            html = render_page(report)
            times.append(time.perf_counter() - started)
            page_bytes = len(html.encode())
        engine.dispose()
    best, med = min(times), statistics.median(times)
    verdict = "meets" if med < 10 else "misses"
    body = (
        f"Database: SQLite file, {args.decisions:,} decisions (each with a monitoring row), "
        f"{n_feedback:,} feedback rows, K = 16 clusters, {len(report['models'])} models; "
        f"bulk insert took {fill_s:.1f} s.\n\n"
        "| step | median s | best s |\n|---|---:|---:|\n"
        f"| build_report + render_page (GET /report.html) | {med:.2f} | {best:.2f} |\n\n"
        f"Page size {page_bytes / 1024:.0f} KiB. Median of {args.repeats}: {verdict} the "
        "10 s target."
    )
    print(body)
    if not args.no_write:
        write_section("Monitoring report", "python benchmarks/bench_report.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
