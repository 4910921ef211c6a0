"""Benchmark 2: search latency as the corpus grows, on the default SQLite store.

For each size the corpus is generated (or reused when identical), indexed from
scratch with DocumentsConnector.reindex, and searched with the fixed query mix
one call at a time, in-process, on the server core.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from bench.corpus import CompanyProse
from bench.index_floor import index_floor
from bench.machine import (
    QUIET_SHARE,
    SERVER_CORE,
    CpuMeter,
    pin_to,
    raise_priority,
    restore_priority,
    wait_until_quiet,
)
from bench.queries import Query, query_mix
from bench.stats import percentile
from bench.workspace import CorpusFigures, IndexFigures, Workspace, documents_connector, open_workspace
from bench.workspace import index_from_scratch as index_workspace
from bridgehead.runtime import Runtime

BLOCK_S = 1.0


@dataclass
class QueryTimings:
    """Every timed call of one query, and how many hits it returned."""

    query: Query
    latencies_s: list[float] = field(default_factory=list)
    hits: int = 0


@dataclass
class SizeResult:
    """One corpus size: what building it cost and how fast it answers."""

    size: int
    corpus: CorpusFigures
    index: IndexFigures
    floor_documents_per_second: float
    """The same corpus indexed with plain sqlite3 (bench/index_floor.py)."""
    passes: TimedPasses

    @property
    def timings(self) -> list[QueryTimings]:
        return self.passes.timings

    def latencies(self, kind: str | None = None) -> list[float]:
        return [t for q in self.timings if kind is None or q.query.kind == kind for t in q.latencies_s]

    def p50_ms(self, kind: str | None = None) -> float:
        return percentile(self.latencies(kind), 50) * 1000

    def p99_ms(self, kind: str | None = None) -> float:
        return percentile(self.latencies(kind), 99) * 1000


@dataclass
class TimedPasses:
    """The timings of the passes kept, and what the others cost us."""

    timings: list[QueryTimings]
    kept: int
    discarded: int
    other_cpu: float
    """Mean CPU others used on the server core during the kept passes (share of the core)."""


async def time_queries(
    workspace: Workspace, queries: Sequence[Query], rounds: int, budget_s: float
) -> TimedPasses:
    """Run the mix once untimed, then timed passes until ``rounds`` undisturbed ones or ``budget_s`` is spent.

    Passes are judged in blocks of at least BLOCK_S (the kernel counts CPU time in
    10 ms ticks, too coarse for one short pass): a block during which other
    processes used the server core is discarded, as the HTTP benchmark discards
    disturbed runs.
    """
    runtime = Runtime.create(workspace.settings())
    await runtime.database.migrate()
    connector = documents_connector(runtime)
    timings = [QueryTimings(q) for q in queries]
    kept = discarded = 0
    others: list[float] = []
    try:
        for item in timings:  # warm the page cache and the connection pool
            item.hits = len(await connector.search(item.query.text))
        deadline = time.perf_counter() + budget_s
        while kept < rounds and kept + discarded < rounds * 3 and time.perf_counter() < deadline:
            if discarded:
                await asyncio.to_thread(wait_until_quiet, 10.0)
            meter = CpuMeter(time.process_time)
            block_started = time.perf_counter()
            block: list[list[float]] = []
            while kept + len(block) < rounds and (not block or time.perf_counter() - block_started < BLOCK_S):
                latencies = []
                for item in timings:
                    started = time.perf_counter()
                    await connector.search(item.query.text)
                    latencies.append(time.perf_counter() - started)
                block.append(latencies)
            other = meter.read().other
            if other >= QUIET_SHARE:
                discarded += len(block)
                continue
            for latencies in block:
                for item, latency in zip(timings, latencies, strict=True):
                    item.latencies_s.append(latency)
            others.append(other)
            kept += len(block)
    finally:
        await runtime.database.close()
    return TimedPasses(timings, kept, discarded, sum(others) / len(others) if others else float("nan"))


def run_search_scaling(
    workdir: Path,
    sizes: Sequence[int],
    *,
    seed: int,
    rounds: int,
    budget_s: float,
    progress: Callable[[str], None] = print,
) -> list[SizeResult]:
    """Generate, index and search each corpus size in turn, pinned to the server core."""
    queries = query_mix(CompanyProse(seed))
    results = []
    previous = pin_to({SERVER_CORE})
    niceness = raise_priority()
    try:
        for size in sizes:
            progress(f"search: generating {size:,} documents")
            workspace, corpus = open_workspace(workdir, size, seed)
            progress(f"search: indexing {size:,} documents")
            index = uvloop.run(index_workspace(workspace))
            progress(f"search: indexing {size:,} documents with plain sqlite3 (the floor)")
            floor_documents, floor_seconds = index_floor(workspace)
            progress(f"search: {len(queries)} queries x {rounds} rounds over {size:,} documents")
            passes = uvloop.run(time_queries(workspace, queries, rounds, budget_s))
            results.append(SizeResult(size, corpus, index, floor_documents / floor_seconds, passes))
    finally:
        restore_priority(niceness)
        pin_to(previous)
    return results
