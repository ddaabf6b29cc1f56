"""What the service benchmarks share: a free port, the service started as its own process,
and closed-loop load from the load generator (``loadgen.py``) in another."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_load(
    port: int,
    path: str,
    bodies: list[str],
    args: argparse.Namespace,
    tmp: Path,
    *,
    concurrency: int,
    keep: bool = False,
) -> dict[str, Any]:
    """Drive ``POST path`` on ``port`` with ``bodies`` for ``args.duration`` seconds at
    ``concurrency`` from loadgen.py in its own process; its summary, with the load average."""
    body_file, out_file = tmp / f"bodies{path.replace('/', '_')}.ndjson", tmp / "load.json"
    body_file.write_text("\n".join(bodies))
    cmd = [
        sys.executable,
        str(Path(__file__).with_name("loadgen.py")),
        "--port",
        str(port),
        "--path",
        path,
        "--bodies",
        str(body_file),
        "--out",
        str(out_file),
        "--duration",
        str(args.duration),
        "--concurrency",
        str(concurrency),
    ] + (["--keep"] if keep else [])
    subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(out_file.read_text())
    result["concurrency"] = concurrency
    result["load"] = os.getloadavg()[0]
    return result


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``feedback.serve`` on ``port`` with ``env`` (output to ``log``), once /healthz answers."""
    import httpx

    cmd = [
        sys.executable,
        "-m",
        "feedback.serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        env.get("BENCH_WORKERS", "1"),
    ]
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")
