"""Benchmark 1: a ``tools/call`` of ``search`` through Bridgehead, against the floor and the direct call.

Every HTTP target runs as a real uvicorn process (uvloop + httptools) pinned to
the server core, with wrk pinned to the load core; the in-process targets run
on the server core too. All of them search the same SQLite database with the
same query mix, so the ratios isolate what the HTTP and MCP layers cost.

All servers stay up for the whole benchmark (idle ones cost nothing) and the
targets take turns, cell by cell, in an order that rotates with each
repetition: anything else running on the machine then slows every target
alike instead of one of them. Each cell reports its best repetition, since
interference only ever makes a run slower, along with the spread.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.corpus import CompanyProse
from bench.loadgen import run_wrk
from bench.machine import QUIET_SHARE, SERVER_CORE, CpuMeter, prioritized, wait_until_quiet
from bench.mcp_client import REQUEST_HEADERS, check_search, open_session, write_requests
from bench.processes import REPO_ROOT, ServerProcess, bridgehead_command, free_port, pinned_server
from bench.queries import query_mix
from bench.stats import LoadFigures
from bench.workspace import IndexFigures, Workspace, clean_environment
from bridgehead.config import ENV_PREFIX, Settings

DIRECT_TIMEOUT_S = 300
ATTEMPTS = 3  # per run: a disturbed run is repeated at most this many times in all


@dataclass(frozen=True)
class Target:
    """One system under test."""

    key: str
    label: str
    command: str  # "bridgehead", "floor", or "direct:<layer>"
    env: Mapping[str, str] = field(default_factory=dict)
    session: bool = False

    @property
    def served(self) -> bool:
        return not self.command.startswith("direct:")

    def supported(self) -> bool:
        """False when a setting this target changes does not exist in this version of Bridgehead."""
        sections = Settings.model_fields
        return all(key.removeprefix(ENV_PREFIX).split("__")[0].lower() in sections for key in self.env)


FLOOR = Target("floor", "Bare Starlette endpoint (floor)", "floor")
STATELESS = Target(
    "stateless",
    "Bridgehead, stateless + JSON responses",
    "bridgehead",
    {"BRIDGEHEAD_MCP__STATELESS": "true", "BRIDGEHEAD_MCP__JSON_RESPONSE": "true"},
)
NO_AUDIT = Target(
    "no_audit",
    "Bridgehead, stateless + JSON responses, audit off",
    "bridgehead",
    {**STATELESS.env, "BRIDGEHEAD_AUDIT__ENABLED": "false"},
)
SESSION = Target("session", "Bridgehead, one stateful session (SSE responses)", "bridgehead", session=True)
DIRECT = Target("direct", "Direct: DocumentsConnector.search in-process", "direct:search")
DIRECT_TOOL = Target("direct_tool", "Direct: ToolSurface.call('search') in-process", "direct:tool")
TARGETS = tuple(t for t in (FLOOR, STATELESS, NO_AUDIT, SESSION, DIRECT, DIRECT_TOOL) if t.supported())
BRIDGEHEAD_TARGETS = tuple(t for t in TARGETS if t.command == "bridgehead")


@dataclass
class HttpOverheadResult:
    """Every run of every target at every concurrency level, plus how they were produced."""

    documents: int
    index: IndexFigures | None
    seconds: float
    warmup: float
    levels: list[int]
    repeats: int
    queries: list[str]
    runs: dict[str, dict[int, list[LoadFigures]]] = field(default_factory=dict)
    discarded: int = 0
    """Runs thrown away because something else used the cores meanwhile."""

    def best(self, key: str, level: int) -> LoadFigures:
        """The repetition with the highest throughput."""
        return max(self.runs[key][level], key=lambda f: f.requests_per_second)

    def spread(self, key: str, level: int) -> float:
        """(max - min) / max of the repetitions' throughput: how much the machine disturbed this cell."""
        rates = [f.requests_per_second for f in self.runs[key][level]]
        return (max(rates) - min(rates)) / max(rates) if max(rates) else 0.0


def server_command(target: Target, workspace: Workspace, port: int) -> list[str]:
    if target.command == "bridgehead":
        return bridgehead_command(workspace.config, port)
    return [sys.executable, "-m", "bench.floor", "--config", str(workspace.config), "--port", str(port)]


def measure_served(
    server: ServerProcess,
    headers: Mapping[str, str],
    requests: Path,
    level: int,
    seconds: float,
    warmup: float,
) -> LoadFigures:
    """Warm up, then one measured wrk run against a running server."""
    url = server.base_url + "/mcp"
    run_wrk(url, requests, headers, connections=level, seconds=warmup)
    meter = CpuMeter(server.cpu_seconds)
    run = run_wrk(url, requests, headers, connections=level, seconds=seconds)
    cpu = meter.read()
    return dataclasses.replace(
        run, server_cpu=cpu.target, load_cpu=cpu.children, other_cpu=cpu.other, server_rss_mb=server.rss_mb()
    )


def measure_direct(
    target: Target, workspace: Workspace, queries_file: Path, level: int, seconds: float, warmup: float
) -> LoadFigures:
    """One run of bench.direct in its own process on the server core."""
    layer = target.command.split(":", 1)[1]
    command = prioritized([
        "taskset", "-c", str(SERVER_CORE), sys.executable, "-m", "bench.direct",
        "--config", str(workspace.config), "--queries", str(queries_file), "--layer", layer,
        "--concurrency", str(level), "--seconds", str(seconds), "--warmup", str(warmup),
    ])  # fmt: skip
    meter = CpuMeter(children_core=SERVER_CORE)
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=DIRECT_TIMEOUT_S + seconds + warmup,
        check=False,
    )
    cpu = meter.read()
    if result.returncode:
        raise RuntimeError(f"bench.direct failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("{"))
    # The child's own figure covers only the measured loop; the meter's "children" share includes its start-up.
    return dataclasses.replace(LoadFigures(**json.loads(line)), other_cpu=cpu.other)


def undisturbed(run: Callable[[], LoadFigures]) -> tuple[LoadFigures, int]:
    """The first run that others did not disturb (or the least disturbed of ATTEMPTS), and how many were discarded."""
    tried: list[LoadFigures] = []
    for _ in range(ATTEMPTS):
        wait_until_quiet()
        figures = run()
        if figures.other_cpu < QUIET_SHARE:
            return figures, len(tried)
        tried.append(figures)
    return min(tried, key=lambda f: f.other_cpu), len(tried) - 1


def run_http_overhead(
    workspace: Workspace,
    index: IndexFigures | None,
    *,
    levels: Sequence[int],
    seconds: float,
    warmup: float,
    repeats: int,
    progress: Callable[[str], None] = print,
) -> HttpOverheadResult:
    """Measure every target at every concurrency level ``repeats`` times; the workspace must be indexed."""
    queries = [q.text for q in query_mix(CompanyProse(workspace.seed))]
    requests = workspace.root / "requests.txt"
    write_requests(requests, queries)
    queries_file = workspace.root / "queries.json"
    queries_file.write_text(json.dumps(queries))
    result = HttpOverheadResult(workspace.size, index, seconds, warmup, list(levels), repeats, queries)
    result.runs = {t.key: {level: [] for level in levels} for t in TARGETS}
    with ExitStack() as stack:
        servers: dict[str, tuple[ServerProcess, dict[str, str]]] = {}
        for target in (t for t in TARGETS if t.served):
            progress(f"http: starting {target.label}")
            port = free_port()
            env = {**clean_environment(), **target.env}
            log = workspace.root / f"server-{target.key}.log"
            server = stack.enter_context(
                pinned_server(server_command(target, workspace, port), env, port, log)
            )
            headers = dict(REQUEST_HEADERS)
            if target.session:
                headers["Mcp-Session-Id"] = open_session(server.base_url)
            check_search(server.base_url, headers, queries[0])
            servers[target.key] = (server, headers)
        for repeat in range(repeats):
            for level in levels:
                shift = repeat % len(TARGETS)
                for target in (*TARGETS[shift:], *TARGETS[:shift]):
                    if target.served:
                        server, headers = servers[target.key]
                        figures, discarded = undisturbed(
                            partial(measure_served, server, headers, requests, level, seconds, warmup)
                        )
                    else:
                        figures, discarded = undisturbed(
                            partial(measure_direct, target, workspace, queries_file, level, seconds, warmup)
                        )
                    result.runs[target.key][level].append(figures)
                    result.discarded += discarded
                    progress(
                        f"http: run {repeat + 1}/{repeats}, concurrency {level}, {target.key}: "
                        f"{figures.requests_per_second:,.0f} req/s, p50 {figures.p50_ms:.2f} ms, "
                        f"p99 {figures.p99_ms:.2f} ms, errors {figures.errors}, other load {figures.other_cpu:.0%}"
                        + (f" ({discarded} disturbed run(s) discarded)" if discarded else "")
                    )
    return result
