"""``GET /report.html`` in headless Chromium, served by uvicorn on 127.0.0.1: a screenshot
and the DOM from the command line, then the page in a 1280x900 window driven by selenium
through chromedriver (the verdict comes first and says what ``/report`` says; nothing is
wider than the window).

Skips when Chromium, chromedriver or selenium is missing, unless
``ROUTING_AGENT_REQUIRE_BROWSER=1`` (then fails).
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
from typing import Any, NoReturn

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


def missing(reason: str) -> NoReturn:
    if os.environ.get("ROUTING_AGENT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; ROUTING_AGENT_REQUIRE_BROWSER=1")
    pytest.skip(reason)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    missing("headless Chromium not installed (apt-get install chromium)")


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
            body: dict[str, Any] = {"prompt": f"Write SQL for report {i} by month"}
            if i % 3:
                body["tags"] = {"task": "sql" if i % 2 else "summary"}
            d = c.post("/route", json=body).json()
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


@pytest.fixture
def window() -> Iterator[Any]:
    """Headless Chromium in a 1280x900 window, driven through chromedriver."""
    browser = chromium()
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        missing("chromedriver not installed (apt-get install chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium not installed (pip install -e '.[dev]')")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in (*FLAGS, "--window-size=1280,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


VERDICT = re.compile(
    r"Over (?P<window>.+?), (?P<n>[\d,]+) requests cost \$(?P<cost>[\d.]+), that is "
    r"(?P<pct>[\d.]+)% (?P<dir>less|more) than always using (?P<model>\S+), at an estimated "
    r"accuracy (?P<kind>cost|gain) of (?P<pts>[\d.]+) points "
    r"\(95% interval (?P<lo>-?[\d.]+) to (?P<hi>-?[\d.]+)\)\."
)

# Every <details> opened, then what sticks out of the 1280 px window.
_OVERFLOW_JS = """
document.querySelectorAll('details').forEach(function (d) { d.open = true; });
var doc = document.documentElement, bad = [];
document.querySelectorAll('table, img').forEach(function (t) {
  var r = t.getBoundingClientRect(), box = t.parentElement.clientWidth;
  if (r.width > box + 0.5 || r.right > doc.clientWidth + 0.5 || t.scrollWidth > r.width + 0.5)
    bad.push((t.id || t.tagName) + ' ' + r.width + ' > ' + box);
});
return {scroll: doc.scrollWidth, client: doc.clientWidth, inner: window.innerWidth,
        tables: document.querySelectorAll('table').length, bad: bad};
"""


def test_verdict_comes_first_and_matches_the_json(server: str, window: Any) -> None:
    window.get(f"{server}/report.html")
    report = httpx.get(f"{server}/report", timeout=30).json()
    text = window.execute_script("return document.body.innerText").strip()
    sentence = report["verdict"]["sentence"]
    assert text.split("\n")[0] == sentence, text[:400]
    first = window.execute_script("return document.body.firstElementChild.id")
    assert first == "verdict"
    m = VERDICT.fullmatch(sentence)
    assert m, sentence
    sav = report["savings"]
    dr = sav["accuracy_given_up"]["dr"]
    assert int(m["n"].replace(",", "")) == report["decisions"]["total"] == sav["n"] == 150
    assert float(m["cost"]) == pytest.approx(sav["cost_spent"], rel=5e-3)
    assert float(m["pct"]) == pytest.approx(100 * abs(sav["saved_share"]), abs=0.5)
    assert m["dir"] == ("less" if sav["saved"] > 0 else "more")
    assert m["model"] == sav["reference_model"]
    sign = 1 if m["kind"] == "cost" else -1
    assert sign * float(m["pts"]) == pytest.approx(100 * dr["value"], abs=0.05)
    lo, hi = sorted((sign * float(m["lo"]), sign * float(m["hi"])))
    assert (lo, hi) == (
        pytest.approx(100 * dr["low"], abs=0.05),
        pytest.approx(100 * dr["high"], abs=0.05),
    )
    assert "tag-table" in window.page_source and "task=sql" in text


def test_nothing_is_wider_than_a_1280_px_window(server: str, window: Any) -> None:
    window.get(f"{server}/report.html")
    got = window.execute_script(_OVERFLOW_JS)
    assert got["inner"] == 1280, got
    assert got["tables"] >= 8 and not got["bad"], got
    assert got["scroll"] <= got["client"], got
