"""The report writer: files, JSON sanitising, a self-contained escaped HTML page, atomic writes."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.report_kit import sanitise
from simulator.report import headline, render_html, write_curve, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG_PREFIX = '<img src="data:image/png;base64,'
MODELS = ("small", "medium", "large")
EVIL = "<script>alert(1)</script>"


def _spread(mean: float, se: float) -> dict[str, Any]:
    return {"mean": mean, "se": se, "by_seed": [mean - se, mean, mean + se]}


def _policy(acc: float, cost: float, util: float, cluster: float, drift: float) -> dict[str, Any]:
    ts = list(range(1, 2001, 20))
    shares = [drift, 0.3, 0.7 - drift]
    return {
        "per_1000_vs_best": _spread(round(1000 * (util - 0.795)), 2.5),
        "per_1000_vs_cluster_oracle": _spread(-cluster / 2, 6.5),
        "per_1000_vs_prompt_oracle": _spread(-149.0, math.nan),
        "against_best_model": {"cost_saved": 1 - cost / 0.005, "accuracy_points": 100 * acc - 88},
        "gap_closed": 1 - 298.0 / 410.0,
        "mean_accuracy": acc,
        "mean_cost_usd": cost,
        "mean_utility": util,
        "regret": {"best_fixed": -66.0, "cluster_oracle": cluster, "prompt_oracle": 298.0},
        "regret_std": {"best_fixed": 5.0, "cluster_oracle": 13.0, "prompt_oracle": math.nan},
        "regret_curve": {
            "t": ts,
            "best_fixed": [-0.03 * t for t in ts],
            "cluster_oracle": [cluster * math.sqrt(t / ts[-1]) for t in ts],
            "prompt_oracle": [0.15 * t for t in ts],
        },
        "traffic": {
            "t": [250.0, 750.0, 1250.0, 1750.0],
            "share": {m: [s] * 4 for m, s in zip(MODELS, shares, strict=True)},
        },
        "interrupted": False,
    }


@pytest.fixture
def report() -> dict[str, Any]:
    return {
        "dataset": "tiny_bench",
        "lambda": 0.1,
        "steps": 2000,
        "seeds": 3,
        "clusters": 4,
        "settings": {"feedback": "label", "thumbs": [0.8, 0.3], "budget": None},
        "policies": {
            "static": _policy(0.81, 0.0021, 0.77, 410.0, 0.2),
            "thompson": _policy(0.852, 0.0011, 0.828, 185.0, 0.5),
            EVIL: _policy(0.7, 0.0004, 0.69, math.inf, 0.1),
        },
        "models": [
            {"name": "small", "accuracy": 0.6, "mean_cost_usd": 0.0002},
            {"name": "medium", "accuracy": 0.75, "mean_cost_usd": 0.001},
            {"name": "large", "accuracy": 0.88, "mean_cost_usd": 0.005},
        ],
        "c_max": 0.005,
        "best_model": {"name": "large", "by_seed": ["large"] * 3, "accuracy": 0.88},
        "mean_accuracy": math.nan,  # a flattened single-policy key: not rendered, but sanitised
    }


@pytest.fixture
def curve() -> dict[str, Any]:
    points = [(0.0, 1.0, 0.87), (0.1, 0.4, 0.85), (0.5, 0.12, 0.7), (2.0, 0.04, 0.6)]
    return {
        "policy": "thompson",
        "dataset": "tiny_bench",
        "points": [{"lambda": lam, "cost": c, "accuracy": a} for lam, c, a in points],
        "audc": 0.812,
        "qnc": math.inf,
        "apgr": 0.7,
        "models": [
            {"name": "small", "accuracy": 0.6, "cost": 0.04},
            {"name": "large", "accuracy": 0.88, "cost": 1.0},
        ],
    }


def _pngs(page: str) -> list[bytes]:
    return [
        base64.b64decode(b) for b in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


def _assert_valid_pngs(page: str, at_least: int) -> None:
    assert page.count(IMG_PREFIX) >= at_least
    pngs = _pngs(page)
    assert len(pngs) == page.count(IMG_PREFIX)
    for png in pngs:
        assert png.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG"
            assert img.width > 200


def test_write_report_files_and_json_round_trip(tmp_path: Path, report: dict[str, Any]) -> None:
    path = write_report(tmp_path / "run", report)
    assert path == tmp_path / "run" / "report.html"
    assert path.is_file() and (tmp_path / "run" / "report.json").is_file()
    assert not (tmp_path / "run" / "curve.json").exists()
    text = (tmp_path / "run" / "report.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text)
    assert loaded == sanitise(report)
    assert loaded["mean_accuracy"] is None
    assert loaded["policies"][EVIL]["regret"]["cluster_oracle"] is None
    assert loaded["policies"]["static"]["regret_std"]["prompt_oracle"] is None
    assert loaded["policies"]["thompson"]["regret"]["cluster_oracle"] == 185.0


def test_html_is_self_contained_with_plots(report: dict[str, Any]) -> None:
    page = render_html(report)
    _assert_valid_pngs(page, 3)
    assert "<style>" in page
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    for img in re.findall(r"<img [^>]*>", page):
        assert re.search(r'alt="[^"]+"', img)
    assert page.count("<figcaption>") == page.count(IMG_PREFIX)


def test_html_shows_policies_and_key_figures(report: dict[str, Any]) -> None:
    page = render_html(report)
    for name in ("static", "thompson", "tiny_bench", "λ=0.1", "2,000 steps × 3 seeds", "K=4"):
        assert name in page
    for figure in ("0.852", "$0.00110", "0.220", "0.828", "-92 ± 6", "-205 ± 6", "+33 ± 2"):
        assert figure in page
    assert "-149</td>" in page and "27%</td>" in page  # no SE where it is not finite
    # The verdict leads with what the policy earned over the best single model, and how.
    assert page.split('<p class="verdict">')[1].startswith(
        "thompson earned +33 ± 2 per 1,000 requests over always using large, the best single "
        "model in hindsight: it saved 78% of its cost at 2.8 points less accuracy."
    )
    assert "It closed 27% of static&#x27;s gap to the best model for each prompt." in page
    assert "static earned -25 ± 2" not in page  # the best earner leads when default is absent
    assert '<td class="best">0.852</td>' in page
    assert '<td class="best">-92 ± 6</td>' in page
    assert "<dt>thumbs</dt><dd>0.8, 0.3</dd>" in page


def test_html_escapes_data_strings(report: dict[str, Any]) -> None:
    report["settings"]["note"] = 'a "quoted" <b>value</b> & more'
    page = render_html(report)
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>value</b>" not in page
    assert "&lt;b&gt;value&lt;/b&gt; &amp; more" in page


def test_with_curve(tmp_path: Path, report: dict[str, Any], curve: dict[str, Any]) -> None:
    path = write_report(tmp_path, report, curve)
    page = path.read_text(encoding="utf-8")
    _assert_valid_pngs(page, 3)
    assert "AUDC 0.812" in page and "APGR 0.700" in page
    assert "never reaches the best single model" in page
    loaded = json.loads((tmp_path / "curve.json").read_text(encoding="utf-8"))
    assert loaded["qnc"] is None and loaded["points"][1]["cost"] == 0.4


def test_write_curve_alone(tmp_path: Path, curve: dict[str, Any]) -> None:
    path = write_curve(tmp_path, curve)
    assert path == tmp_path / "curve.json"
    assert json.loads(path.read_text(encoding="utf-8"))["audc"] == 0.812
    page = (tmp_path / "curve.html").read_text(encoding="utf-8")
    _assert_valid_pngs(page, 1)
    assert "thompson" in page and "0.850" in page


def test_partial_report_renders_what_exists() -> None:
    """A report still being filled in (no curves, traffic, models or settings) renders."""
    bare = {"dataset": "d", "policies": {"p": {"mean_accuracy": None, "regret": {}}}}
    page = render_html(bare)
    assert "<table>" in page and "—" in page
    assert IMG_PREFIX not in page
    assert "No policy has been replayed yet." in render_html({"policies": {}})


def test_writes_are_atomic(
    tmp_path: Path, report: dict[str, Any], curve: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_report(tmp_path, report, curve)
    write_curve(tmp_path, curve)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["curve.html", "curve.json", "report.html", "report.json"]
    before = (tmp_path / "report.html").read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", broken_replace)
    report["policies"]["static"]["mean_accuracy"] = 0.1
    with pytest.raises(KeyboardInterrupt):
        write_report(tmp_path, report)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert (tmp_path / "report.html").read_bytes() == before


def test_ten_policies_fit_one_small_page(report: dict[str, Any]) -> None:
    base = report["policies"]["thompson"]
    report["policies"] = {f"policy-{i}": dict(base) for i in range(10)}
    page = render_html(report)
    assert len(page) < 1_000_000
    assert "Showing the first 8 of 10 policies" in page


@pytest.mark.parametrize(
    ("saved", "points", "said"),
    [
        (0.35, -1.2, "it saved 35% of its cost at 1.2 points less accuracy."),
        (0.1, 0.5, "it saved 10% of its cost and gained 0.5 points of accuracy."),
        (-0.2, 3.1, "it cost 20% more and gained 3.1 points of accuracy."),
        (-0.2, -1.0, "it cost 20% more at 1.0 points less accuracy."),
    ],
)
def test_the_headline_says_what_routing_saved_and_at_what_accuracy(
    saved: float, points: float, said: str
) -> None:
    row = {
        "per_1000_vs_best": _spread(-3.0, 2.0),
        "against_best_model": {"cost_saved": saved, "accuracy_points": points},
        "learning": _spread(-3.0, 2.0),
    }
    best = {"name": "gpt-4", "by_seed": ["gpt-4", "gpt-4", "yi"]}
    text = headline({"best_model": best, "policies": {"default": row}})
    assert text.startswith(
        "default earned -3.0 ± 2.0 per 1,000 requests over always using each seed's best single "
        f"model in hindsight (gpt-4 on 2 of 3): {said}"
    )
    assert "Learning from feedback took away 3.0 ± 2.0 per 1,000 over the same policy" in text


def test_the_headline_leads_with_default_and_names_a_policy_that_did_better() -> None:
    def row(earned: float) -> dict[str, Any]:
        return {"per_1000_vs_best": _spread(earned, 3.0), "gap_closed": 0.1}

    pols = {"static": row(5.0), "default": row(20.0), "thompson": row(40.0)}
    pols["thompson (frozen)"] = row(60.0)  # a frozen twin neither leads nor is named best
    text = headline({"policies": pols})
    assert text.startswith("default earned +20 ± 3 per 1,000 requests over always using the best")
    assert text.endswith("It closed 10% of static's gap to the best model for each prompt. "
                         "thompson did best here: +40 ± 3.")  # fmt: skip
    assert headline({"policies": {"static": {"mean_accuracy": 0.8}}}) == ""
