"""The search function called in-process, no HTTP: the ceiling any server of it can reach.

Run on the server core as its own process, so it gets the same core, event loop
(uvloop) and database file as the servers:
``python -m bench.direct --config FILE --queries FILE --concurrency 1,16,64 --seconds 10``.
Prints one JSON object per concurrency level.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import uvloop

from bench.stats import LoadFigures, summarize
from bench.workspace import documents_connector
from bridgehead.config import load_settings
from bridgehead.connectors.base import CallContext
from bridgehead.runtime import Runtime

MAX_CALLS = 2_000_000  # per level: a bound on top of the time limit
LAYERS = ("search", "tool")

Call = Callable[[str], Awaitable[object]]


async def closed_loop(call: Call, queries: Sequence[str], concurrency: int, seconds: float) -> LoadFigures:
    """``concurrency`` workers, each calling again as soon as its last call returned, for ``seconds``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        position = offset
        while time.perf_counter() < deadline and len(latencies) < MAX_CALLS:
            query = queries[position % len(queries)]
            position += 1
            started = time.perf_counter()
            await call(query)
            latencies.append(time.perf_counter() - started)

    cpu_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(i * 7) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = (time.process_time() - cpu_before) / elapsed
    return summarize(concurrency, latencies, elapsed, server_cpu=cpu)


async def measure(
    config: Path, queries: Sequence[str], layer: str, levels: Sequence[int], seconds: float, warmup: float
) -> list[LoadFigures]:
    runtime = Runtime.create(load_settings(config, environ={}))
    await runtime.database.migrate()
    connector = documents_connector(runtime)
    context = CallContext(base_url="http://127.0.0.1:8000")

    async def search(query: str) -> object:
        return await connector.search(query)

    async def tool(query: str) -> object:
        result = await runtime.surface.call("search", {"query": query}, context)
        if result.is_error:
            raise RuntimeError(f"search {query!r} failed: {result.content}")
        return result

    call = search if layer == "search" else tool
    figures = []
    try:
        for concurrency in levels:
            await closed_loop(call, queries, concurrency, warmup)
            figures.append(await closed_loop(call, queries, concurrency, seconds))
    finally:
        await runtime.database.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="Time DocumentsConnector.search in-process.")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True, help="a JSON list of query strings")
    parser.add_argument("--layer", choices=LAYERS, default="search")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    queries = json.loads(args.queries.read_text())
    levels = [int(c) for c in args.concurrency.split(",")]
    figures = uvloop.run(measure(args.config, queries, args.layer, levels, args.seconds, args.warmup))
    for item in figures:
        print(json.dumps(dataclasses.asdict(item)))


if __name__ == "__main__":
    main()
