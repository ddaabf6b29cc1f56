"""``routing-agent serve --workers 2``: starts without health-check restarts, and /metrics on
any worker counts every worker's decisions (as the database does)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_start_cleanly_and_share_their_metrics(tmp_path: Path) -> None:
    db, port, log = tmp_path / "w.db", _free_port(), tmp_path / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "ROUTING_AGENT_SYNTHETIC_PROMPTS": "300",
        "ROUTING_AGENT_K": "6",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cmd = [sys.executable, "-m", "cli", "serve", "--workers", "2", "--port", str(port)]
    cmd += ["--embedder", "hashing-64", "--log-level", "info"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        with httpx.Client(base_url=base, timeout=10) as c:
            for i in range(20):
                r = c.post("/route", json={"prompt": f"question {i} about sorting a list"})
                assert r.status_code == 200, r.text
        # Each request may land on either worker; every worker's /metrics sees all 20.
        for _ in range(4):
            text = httpx.get(f"{base}/metrics", timeout=10).text
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("routing_decisions_total{")
            )
            assert counted == 20, text
        stored = sqlite3.connect(db).execute("select count(*) from ra_decision").fetchone()[0]
        assert stored == 20
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert text.count("Started server process") == 2, text  # no worker was restarted
    assert "Traceback" not in text, text
