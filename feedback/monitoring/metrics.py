"""Prometheus metrics for one app, on its own ``CollectorRegistry`` (never the global one).

Counters and the live gauges describe this process's traffic (each replica exports its own;
sum them in Prometheus). The ``routing_report_*`` gauges come from the last report built here
(``GET /report`` or ``GET /report.html``) and describe the whole database. Under
``serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) every worker writes its values to
shared files and ``/metrics`` on any worker sums all of them; the live gauges then show the
most recently set worker's value.

>>> m = Metrics.create()
>>> m.count_decision("cheap", cost=0.001, regret=0.02)
>>> m.count_feedback("cheap", "label")
>>> text = m.render().decode()
>>> 'routing_decisions_total{model="cheap"} 1.0' in text, "routing_traffic_share" in text
(True, True)
>>> m.observe_encode(8, 0.012)
>>> text = m.render().decode()
>>> "routing_encoder_seconds_count 1.0" in text
True
>>> 'routing_encoder_batch_size_bucket{le="8.0"} 1.0' in text
True
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

ROLLING = 1000
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Buckets of the encoder histograms: seconds per encoder call, and texts per call.
ENCODE_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass
class Metrics:
    """The metric objects of one app; build with :meth:`create`."""

    registry: CollectorRegistry
    decisions: Counter
    feedback: Counter
    cost: Counter
    regret: Counter
    share: Gauge
    regret_rate: Gauge
    mean_cost: Gauge
    report: Gauge
    policy_value: Gauge
    latency: Histogram
    errors: Counter
    encode_seconds: Histogram
    encode_batch: Histogram
    _counts: dict[str, int] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=ROLLING))
    _cost_sum: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _on_render: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry()
        return cls(
            registry=reg,
            decisions=Counter(
                "routing_decisions", "Routing decisions by chosen model", ["model"], registry=reg
            ),
            feedback=Counter(
                "routing_feedback",
                "Feedback accepted (not duplicates) by decided model and kind",
                ["model", "kind"],
                registry=reg,
            ),
            cost=Counter(
                "routing_cost_usd",
                "Sum of the chosen models' per-request costs (pool prices)",
                ["model"],
                registry=reg,
            ),
            regret=Counter(
                "routing_estimated_regret",
                "Sum of decision-time estimated regret: best posterior-mean utility minus the "
                "chosen model's",
                registry=reg,
            ),
            share=Gauge(
                "routing_traffic_share",
                "Share of this process's decisions per model",
                ["model"],
                registry=reg,
                multiprocess_mode="mostrecent",
            ),
            regret_rate=Gauge(
                "routing_estimated_regret_rate",
                f"Mean decision-time estimated regret over the last {ROLLING} decisions",
                registry=reg,
                multiprocess_mode="mostrecent",
            ),
            mean_cost=Gauge(
                "routing_mean_cost_usd",
                "Mean per-request cost of this process's decisions",
                registry=reg,
                multiprocess_mode="mostrecent",
            ),
            report=Gauge(
                "routing_report",
                "Figures of the last report built from the database",
                ["figure"],
                registry=reg,
                multiprocess_mode="mostrecent",
            ),
            policy_value=Gauge(
                "routing_report_policy_value",
                "Off-policy estimate of each policy's accuracy in the last report",
                ["policy", "estimator"],
                registry=reg,
                multiprocess_mode="mostrecent",
            ),
            latency=Histogram(
                "http_request_duration_seconds",
                "Time from request to the last byte of the answer, by route template",
                ["method", "route"],
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            errors=Counter(
                "http_request_errors",
                "Answers with a 4xx or 5xx status, by route template and status",
                ["method", "route", "status"],
                registry=reg,
            ),
            encode_seconds=Histogram(
                "routing_encoder_seconds",
                "Seconds per call to the prompt encoder (one micro-batch of new prompts)",
                buckets=ENCODE_SECONDS,
                registry=reg,
            ),
            encode_batch=Histogram(
                "routing_encoder_batch_size",
                "Prompts per call to the prompt encoder (micro-batch size after the LRU)",
                buckets=BATCH_SIZES,
                registry=reg,
            ),
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request: its latency, and an error if ``status`` is 400 or more."""
        self.latency.labels(method=method, route=route).observe(seconds)
        if status >= 400:
            self.errors.labels(method=method, route=route, status=str(status)).inc()

    def count_decision(self, model: str, *, cost: float, regret: float | None) -> None:
        self.decisions.labels(model=model).inc()
        self.cost.labels(model=model).inc(max(cost, 0.0))
        with self._lock:
            self._counts[model] = self._counts.get(model, 0) + 1
            self._cost_sum += max(cost, 0.0)
            if regret is not None and math.isfinite(regret):
                self.regret.inc(max(regret, 0.0))
                self._recent.append(regret)

    def observe_encode(self, texts: int, seconds: float) -> None:
        """Record one encoder call: its batch size and duration."""
        self.encode_seconds.observe(seconds)
        self.encode_batch.observe(texts)

    def count_feedback(self, model: str, kind: str) -> None:
        self.feedback.labels(model=model, kind=kind).inc()

    def publish(self, report: Mapping[str, Any]) -> None:
        """Set the ``routing_report*`` gauges from a report dict."""
        figures = {
            "decisions": report["decisions"]["total"],
            "regret_at_decision_total": report["regret"]["at_decision"]["total"],
            "regret_today_total": report["regret"]["today"]["total"],
            "cost_usd_total": report["savings"]["cost_spent"],
            "savings_usd_total": report["savings"]["saved"],
            "feedback_rate": report["feedback"]["rate"],
            "drift_alarms": len(report["drift"]["alarms"]),
        }
        for name, value in figures.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self.report.labels(figure=name).set(value)
        for policy, ests in report["off_policy"]["policies"].items():
            for method, est in ests.items():
                v = est.get("value") if isinstance(est, Mapping) else None
                if isinstance(v, int | float) and math.isfinite(v):
                    self.policy_value.labels(policy=policy, estimator=method).set(v)

    def on_render(self, refresh: Callable[[], None]) -> None:
        """Call ``refresh`` before each :meth:`render` (to bring gauges of its own up to date)."""
        self._on_render.append(refresh)

    def render(self) -> bytes:
        """The text exposition format, with the derived gauges brought up to date."""
        for refresh in self._on_render:
            refresh()
        with self._lock:
            total = sum(self._counts.values())
            for model, n in self._counts.items():
                self.share.labels(model=model).set(n / total)
            if self._recent:
                self.regret_rate.set(sum(self._recent) / len(self._recent))
            if total:
                self.mean_cost.set(self._cost_sum / total)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            every_worker = CollectorRegistry()
            MultiProcessCollector(every_worker)
            return generate_latest(every_worker)
        return generate_latest(self.registry)
