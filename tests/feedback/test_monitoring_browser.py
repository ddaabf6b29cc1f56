"""``GET /report.html`` in headless Chromium, served by uvicorn on 127.0.0.1.

Skips when Chromium is not installed, unless ``ROUTING_AGENT_REQUIRE_BROWSER=1`` (then fails).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

from feedback.app import create_app

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "headless Chromium not installed (apt-get install chromium)"
    if os.environ.get("ROUTING_AGENT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; ROUTING_AGENT_REQUIRE_BROWSER=1")
    pytest.skip(reason)


@pytest.fixture
def server(h: Any) -> Iterator[str]:
    """The app on an in-memory database behind a real uvicorn on a free port, with traffic."""
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    app = create_app(h.base_settings(synthetic_prompts=300, policy="thompson"), engine=engine)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    rng = np.random.default_rng(0)
    with httpx.Client(base_url=base, timeout=30) as c:
        for i in range(150):
            d = c.post("/route", json={"prompt": f"Write SQL for report {i} by month"}).json()
            if i % 2 == 0:
                body = {"decision_id": d["decision_id"], "token": d["token"]}
                c.post("/feedback", json={**body, "label": int(rng.random() < 0.7)})
    yield base
    srv.should_exit = True
    thread.join(timeout=30)
    sock.close()
    engine.dispose()


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_report_page_renders_in_headless_chromium(server: str, tmp_path: Path) -> None:
    browser = chromium()
    url = f"{server}/report.html"
    shot = tmp_path / "report.png"
    done = _run(browser, tmp_path / "p1", f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # not a blank page

    dom = _run(browser, tmp_path / "p2", "--dump-dom", "--virtual-time-budget=10000", url).stdout
    decoded = re.search(r'data-images-decoded="(\d+)/(\d+)"', dom)
    assert decoded, dom[:2000]
    ok, total = map(int, decoded.groups())
    assert total >= 4 and ok == total, f"{ok} of {total} plots decoded"
    for figure in ("kf-decisions", "kf-regret-today", "kf-saved", "kf-given-up", "kf-drift"):
        assert f'id="{figure}"' in dom
    assert "150" in re.sub(r"<[^>]+>", " ", dom.split('id="kf-decisions"')[1])[:200]
    assert 'id="off-policy"' in dom and 'id="posterior"' in dom
