"""``routing-agent simulate`` and ``sweep`` end to end, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli import main

FAST = [
    "--embedder",
    "hashing",
    "--steps",
    "1500",
    "--seeds",
    "2",
    "--clusters",
    "6",
]


@pytest.fixture()
def log_csv(tmp_path: Path) -> Path:
    from agent.synthetic_log import generate_log

    log = generate_log(n_prompts=400, n_models=4, seed=2)
    rows = [
        {
            "prompt_id": pid,
            "prompt": p,
            "model": m,
            "correct": log.correct[i, j],
            "cost_usd": log.cost[i, j],
            "dataset": log.tasks[i],
        }
        for i, (pid, p) in enumerate(zip(log.prompt_ids, log.prompts, strict=True))
        for j, m in enumerate(log.models)
    ]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_simulate_writes_report_json_and_html(
    log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "simulate",
            "--data",
            str(log_csv),
            "--policy",
            "static",
            "--policy",
            "default",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            *FAST,
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    for key in (
        "dataset",
        "policy",
        "lambda",
        "steps",
        "seeds",
        "clusters",
        "mean_accuracy",
        "mean_cost_usd",
        "mean_utility",
        "regret",
        "regret_curve",
        "policies",
    ):
        assert key in report
    assert set(report["regret"]) == {"best_fixed", "cluster_oracle", "prompt_oracle"}
    assert set(report["policies"]) == {"static", "default"}
    assert report["steps"] == 1500 and report["seeds"] == 2
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    table = capsys.readouterr().out
    assert "static" in table and "default" in table and "report.html" in table


def test_frozen_adds_each_learning_policys_twin_and_the_learning_column(
    log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--data", str(log_csv), "--policy", "static", "--policy", "greedy"]
    args += ["--frozen", "--fresh", "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    assert main([*args, *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["policies"]) == ["static", "greedy", "greedy (frozen)"]
    static, greedy, twin = report["policies"].values()
    assert report["frozen"] is True and twin["frozen"] is True and twin["feedback"] == 0
    assert "learning" not in static and "learning" not in twin
    # learning: greedy's utility per 1,000 minus its twin's, seed by seed, mean ± SE
    gains = np.subtract(greedy["per_1000_vs_best"]["by_seed"], twin["per_1000_vs_best"]["by_seed"])
    assert greedy["learning"]["by_seed"] == pytest.approx(gains.tolist())
    assert greedy["learning"]["mean"] == pytest.approx(gains.mean())
    assert greedy["learning"]["se"] == pytest.approx(gains.std(ddof=1) / np.sqrt(2))
    for key in ("per_1000_vs_best", "per_1000_vs_cluster_oracle", "per_1000_vs_prompt_oracle"):
        assert set(greedy[key]) == {"mean", "se", "by_seed"} and len(greedy[key]["by_seed"]) == 2
    assert static["gap_closed"] == 0.0 and report["gap_reference"]["shown"] is True
    assert report["best_model"]["name"] in {m["name"] for m in report["models"]}
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert " earned " in first and "per 1,000 requests over always using" in first
    assert "Learning from feedback" in printed.split("\n\n")[0]  # in the verdict, first
    assert "greedy (frozen)" in printed and "what feedback added" in printed
    table = printed.split("\nreport: ")[0]  # the verdict, the table and its legend
    assert max(len(line) for line in table.splitlines()) <= 100
    page = (out / "report.html").read_text()
    assert "greedy (frozen)" in page and "Learning from feedback" in page


def test_static_is_the_gap_reference_even_when_not_asked_for(
    log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--data", str(log_csv), "--policy", "greedy", "--fresh"]
    assert main([*args, "--out", str(out), "--cache-dir", str(tmp_path / "c"), *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["policies"]) == ["greedy"] and report["policy"] == "greedy"
    reference = report["gap_reference"]
    assert reference["policy"] == "static" and reference["shown"] is False
    mine = report["policies"]["greedy"]["regret_by_seed"]["prompt_oracle"]
    want = 1 - np.mean(mine) / reference["regret_prompt_oracle"]["mean"]
    assert report["policies"]["greedy"]["gap_closed"] == pytest.approx(want)
    table = capsys.readouterr().out
    assert "\nstatic " not in table and "--frozen adds it" in table


def test_simulate_fresh_streams_each_pool_prompt_once(
    log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--data", str(log_csv), "--policy", "default", "--fresh", "--out"]
    assert main([*args, str(out), "--cache-dir", str(tmp_path / "cache"), *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["fresh"] is True and report["steps"] == 120  # 400 prompts: 30% is the pool
    assert "--fresh: 120 steps" in capsys.readouterr().err


def test_simulate_shows_progress_when_stderr_is_not_a_terminal(
    log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--data", str(log_csv), "--policy", "static", "--out", str(out)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache"), *FAST]) == 0
    err = capsys.readouterr().err  # captured: not a terminal, so plain lines, no bar
    assert "embedding 400 prompts of log with hashing..." in err
    assert "preparing 2 seeds: split, clusters, profiles, level maps..." in err
    assert "replaying: 3,000/3,000 steps, done in" in err
    assert "\r" not in err


def test_simulate_with_scenario_thumbs_delay_and_budget(log_csv: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps([{"event": "price", "model": "small-7b", "step": 100, "cost": 0.01}])
    )
    out = tmp_path / "out"
    code = main(
        [
            "simulate",
            "--data",
            str(log_csv),
            "--policy",
            "default",
            "--out",
            str(out),
            "--feedback",
            "thumbs",
            "--thumbs",
            "0.9,0.2",
            "--feedback-rate",
            "0.5",
            "--delay",
            "5",
            "--random-delay",
            "--budget",
            "0.0005",
            "--scenario",
            str(scenario),
            "--cache-dir",
            str(tmp_path / "c"),
            *FAST,
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["policies"]["default"]["mean_cost_usd"] == pytest.approx(0.0005, rel=0.25)


def test_sweep_writes_the_deferral_curve(log_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "curve"
    code = main(
        [
            "sweep",
            "--data",
            str(log_csv),
            "--policy",
            "greedy",
            "--lambdas",
            "0,0.1,1,5",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "c"),
            *FAST,
        ]
    )
    assert code == 0
    curve = json.loads((out / "curve.json").read_text())
    assert [p["lambda"] for p in curve["points"]] == [0.0, 0.1, 1.0, 5.0]
    costs = [p["cost"] for p in curve["points"]]
    assert costs == sorted(costs, reverse=True)  # a higher λ never spends more here
    assert 0 < curve["audc"] <= 1 and {"qnc", "apgr", "models"} <= set(curve)
    for p in curve["points"]:  # utility per 1,000 over the best single model at that λ
        assert set(p["per_1000_vs_best"]) == {"mean", "se", "by_seed"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--policy", "nope"], "unknown policy 'nope'"),
        (["simulate", "--steps", "0"], "--steps must be >= 1"),
        (["simulate", "--thumbs", "x"], "--thumbs expects A,B"),
        (["simulate", "--drift", "gpt4"], "--drift expects MODEL@STEP"),
        (["simulate", "--price", "m@3"], "--price expects MODEL@STEP=USD"),
        (["simulate", "--feedback-rate", "2"], "feedback rate must be in [0, 1]"),
        (["simulate", "--data", "/nonexistent/log.csv"], "/nonexistent/log.csv"),
        (["sweep", "--lambdas", "a,b"], "--lambdas expects comma-separated numbers"),
        (["simulate", "--bogus"], "unrecognized arguments: --bogus"),
        (["simulate", "--clusters", "many"], "--clusters expects a number or 'auto'"),
        (
            ["simulate", "--policy", "static", "--policy", "best-fixed", "--frozen"],
            "--frozen: none of static, best-fixed learns from feedback, so none has a frozen "
            "twin to compare with; add a --policy that does (default, thompson, ucb, greedy, "
            "river-egreedy, river-ts, bandit)",
        ),
        (
            ["simulate", "--policy", "greedy", "--frozen", "--feedback-rate", "0"],
            "--frozen compares each learning policy with itself with feedback off, and "
            "--feedback-rate 0 already turns it off",
        ),
        (["simulate", "--policy", "nope", "--frozen"], "unknown policy 'nope'"),
        (["sweep", "--frozen"], "unrecognized arguments: --frozen"),
    ],
)
def test_bad_flags_and_data_give_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    try:
        code = main([*args, "--embedder", "hashing", "--cache-dir", str(tmp_path)])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_rows_name_the_file_and_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("prompt_id,prompt,model,correct,cost_usd\np1,hello,a,1.5,0.1\n")
    code = main(["simulate", "--data", str(path), "--embedder", "hashing"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.csv" in err and "row 1" in err and "correct" in err


def test_unknown_scenario_model_is_one_line(log_csv: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        [
            "simulate",
            "--data",
            str(log_csv),
            "--drift",
            "ghost@10",
            "--out",
            str(tmp_path / "o"),
            "--cache-dir",
            str(tmp_path / "c"),
            *FAST,
        ]
    )
    assert code == 2 and "unknown model 'ghost'" in capsys.readouterr().err


def test_clusters_auto_picks_k_by_validation_auc(
    log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [f for f in FAST if f not in ("--clusters", "6")]
    code = main(
        [
            "simulate",
            "--data",
            str(log_csv),
            "--policy",
            "static",
            "--clusters",
            "auto",
            "--out",
            str(tmp_path / "o"),
            "--cache-dir",
            str(tmp_path / "c"),
            *flags,
        ]
    )
    assert code == 0
    assert "chose K=" in capsys.readouterr().err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["clusters"] in (4, 8, 16, 32, 64)


def test_the_feedback_kinds_flag_matches_the_core() -> None:
    from policies import KINDS
    from simulator.flags import FEEDBACK_KINDS

    assert FEEDBACK_KINDS == KINDS  # the CLI's copy (kept import-free) matches the core


def test_the_default_levels_flag_matches_the_core() -> None:
    from agent.level_maps import DEFAULT_LEVELS as CORE
    from simulator.flags import DEFAULT_LEVELS

    assert DEFAULT_LEVELS == CORE
