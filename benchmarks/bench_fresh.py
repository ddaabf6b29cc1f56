"""Routing on prompts never seen before: the replay with no repeats, written into BENCHMARKS.md.

The quality bars' protocol draws 20,000 requests from a pool of about a thousand prompts, so
nearly every request repeats an earlier one. Here each prompt of the stream is new: the split
is 30% to fit the clusters, 10% labelled validation (as there), and 60% streamed once each in
random order (`routing-agent simulate --fresh`). What a policy gains here carries over to new
prompts; what it gained only on repeats does not show.

    .venv/bin/python benchmarks/bench_fresh.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_quality import VARIANTS, logs  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from simulator import Experiment, FeedbackChannel, Splits, aggregate, setups  # noqa: E402
from simulator.data import make_embedder  # noqa: E402
from simulator.experiment import run_seeds  # noqa: E402

POLICIES = ("static", "default", "thompson", "greedy", "ucb", "best-fixed")
CHANNELS = (
    ("labels on every request", FeedbackChannel()),
    ("thumbs (0.8, 0.3) on 30%", FeedbackChannel(rate=0.3, kind="thumbs", thumbs=(0.8, 0.3))),
)
SPLITS = Splits(fit=0.3, validation=0.1, pool=0.6)


def table(log_name: str, log, emb: np.ndarray, seeds: int) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    pool = SPLITS.sizes(log.n_prompts)[2]
    exp = Experiment(steps=pool, seeds=seeds, splits=SPLITS, fresh=True)
    plain = setups(log, emb, exp)
    leafy = setups(log, emb, replace(exp, n_leaves=256))
    runs = [(name, name, {}, plain) for name in POLICIES]
    label, params, _ = VARIANTS[-1]  # the previous default: 256 leaves, no prompt memory
    runs.append((label, "default", params, leafy))
    lines = []
    static: dict = {}
    ratios: dict = {}
    for label, name, params, prepared in runs:
        cells = []
        for _, channel in CHANNELS:
            e = replace(exp, channel=channel, policy_params={name: params})
            r = aggregate(run_seeds(prepared, e, name), exp.clusters)
            co = r["regret"]["cluster_oracle"]
            static.setdefault(channel, co)
            ratios[(label, channel.kind)] = co / static[channel] if static[channel] > 0 else None
            ratio = f"{co / static[channel]:.0%}" if static[channel] > 0 else "–"
            cells.append(
                f"{r['mean_accuracy']:.3f} | {co:.0f} ± {r['regret_std']['cluster_oracle']:.0f} "
                f"| {ratio}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    head = " | ".join(f"{c}: accuracy | regret vs cluster oracle | vs static" for c, _ in CHANNELS)
    text = (
        f"### {log_name} ({pool} fresh prompts per stream, {seeds} seeds)\n\n"
        f"| policy | {head} |\n|---|" + "---:|" * (3 * len(CHANNELS)) + "\n" + "\n".join(lines)
    )
    return text, ratios


def summary(names: list[str], ratios: list[dict]) -> str:
    """Each policy's regret as a share of static's, per log, with labels and with thumbs."""
    labels = list(dict.fromkeys(label for r in ratios for label, _ in r))
    head = " | ".join(f"{n}: labels / thumbs" for n in names)
    rows = []
    for label in labels:
        cells = []
        for r in ratios:
            vals = [r.get((label, kind)) for kind in ("label", "thumbs")]
            cells.append(" / ".join("–" if v is None else f"{v:.0%}" for v in vals))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return f"| policy | {head} |\n|---|" + "---:|" * len(names) + "\n" + "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    embedder = make_embedder("minilm")
    parts, ratios, names = [], [], []
    for log in logs():
        text, r = table(log.name, log, embedder.encode(log.prompts), args.seeds)
        parts.append(text)
        ratios.append(r)
        names.append(log.name)
        print(text, "\n", flush=True)
    body = (
        "Each stream shows every prompt of its pool once (30% of the prompts fit the clusters, "
        "10% are the labelled validation set, 60% are streamed), λ = 0.1, K = 16. Regret is "
        "cumulative over the stream, mean ± sd over seeds; *vs static* is the ratio to static "
        "UniRoute's regret with the same feedback (below 100% is better than static). The "
        "prompt memory never has evidence to use here, by construction, so `default` routes as "
        "tempered Thompson sampling on the clusters and its resolution levels; the last row is "
        "the previous default, "
        "whose 256 leaf cells were meant to learn finer than the clusters.\n\n"
        "Regret as a share of static's, all logs at a glance:\n\n"
        + summary(names, ratios)
        + "\n\n"
        + "\n\n".join(parts)
        + "\n\nThese streams are short (one to four thousand requests over 16 clusters) and "
        "each prompt is seen once, so what the policies can learn here is only what carries "
        "over between prompts of a cluster. Greedy exploits that best with labels but never "
        "explores, so a model its profile underrates is never tried again; `default` keeps "
        "Thompson's exploration, tempered by how much the feedback teaches.\n"
    )
    write_section("Fresh prompts", "python benchmarks/bench_fresh.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
