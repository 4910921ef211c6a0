"""Latency summaries and the ratio arithmetic the reports use."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``samples`` (need not be sorted); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, baseline: float) -> float:
    """value / baseline, NaN when the baseline is zero or missing."""
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline


@dataclass(frozen=True)
class LoadFigures:
    """Throughput and latency of one closed-loop run at a fixed concurrency."""

    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    server_cpu: float = math.nan
    """Share of one core the system under test used during the run (1.0 = a full core)."""
    load_cpu: float = math.nan
    """Share of one core the load generator used during the run."""
    other_cpu: float = math.nan
    """CPU that neither the target nor the load generator used on the two benchmark cores (interference)."""
    server_rss_mb: float = math.nan
    """Resident memory of the server process at the end of the run."""

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def summarize(
    concurrency: int, latencies_s: Sequence[float], seconds: float, *, server_cpu: float = math.nan
) -> LoadFigures:
    """LoadFigures from per-request latencies in seconds."""
    return LoadFigures(
        concurrency=concurrency,
        requests=len(latencies_s),
        seconds=seconds,
        p50_ms=percentile(latencies_s, 50) * 1000,
        p99_ms=percentile(latencies_s, 99) * 1000,
        server_cpu=server_cpu,
    )
