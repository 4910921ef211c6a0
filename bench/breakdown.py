"""Where Bridgehead's CPU per call goes: the same load against configurations that differ in one feature.

The steps form one chain from the bare endpoint to Bridgehead's defaults, so
their increments add up to the defaults' CPU per call.

Sampling profilers mislead on this server: SQLAlchemy's greenlets and asyncio
tasks leave py-spy with stacks that mix the event loop's work with whichever
coroutine ran last. So the breakdown is measured instead, as differences: each
step below turns one feature on over its parent step, and its cost is the
extra server CPU time per answered call (the server core saturated, so CPU per
call does not depend on how long calls wait).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from bench.corpus import CompanyProse
from bench.http_overhead import FLOOR, STATELESS, Target, measure_served, server_command, undisturbed
from bench.mcp_client import REQUEST_HEADERS, check_search, open_session, write_requests
from bench.processes import ServerProcess, free_port, pinned_server
from bench.queries import query_mix
from bench.stats import LoadFigures
from bench.workspace import Workspace, clean_environment

_AUDIT_OFF = {"BRIDGEHEAD_AUDIT__ENABLED": "false"}
_NO_EVENTS = {"BRIDGEHEAD_MCP__EVENT_STORE_MAX_EVENTS": "0"}


@dataclass(frozen=True)
class Step:
    """A configuration and the one it adds a feature to."""

    target: Target
    adds: str
    parent: str | None


STEPS = (
    Step(FLOOR, "bare Starlette endpoint: parse, search, respond", None),
    Step(
        Target("b_stateless", "stateless + JSON, audit off", "bridgehead", {**STATELESS.env, **_AUDIT_OFF}),
        "the MCP SDK's stateless transport and Bridgehead's tool layer",
        FLOOR.key,
    ),
    Step(
        Target(
            "b_session_json",
            "session, JSON responses, audit off",
            "bridgehead",
            {"BRIDGEHEAD_MCP__JSON_RESPONSE": "true", **_AUDIT_OFF},
            session=True,
        ),
        "a stateful session instead of stateless",
        "b_stateless",
    ),
    Step(
        Target(
            "b_session_sse",
            "session, SSE, no event store, audit off",
            "bridgehead",
            {**_NO_EVENTS, **_AUDIT_OFF},
            session=True,
        ),
        "SSE responses instead of JSON",
        "b_session_json",
    ),
    Step(
        Target(
            "b_session_events",
            "session, SSE, event store, audit off",
            "bridgehead",
            dict(_AUDIT_OFF),
            session=True,
        ),
        "the event store (resumable streams)",
        "b_session_sse",
    ),
    Step(
        Target("b_default", "session, SSE, event store, audit on (defaults)", "bridgehead", {}, session=True),
        "the audit log (all defaults now)",
        "b_session_events",
    ),
)


@dataclass
class Breakdown:
    """Every run of every step at one concurrency level."""

    level: int
    seconds: float
    repeats: int
    runs: dict[str, list[LoadFigures]] = field(default_factory=dict)
    discarded: int = 0

    def best(self, key: str) -> LoadFigures:
        return max(self.runs[key], key=lambda f: f.requests_per_second)


def cpu_ms_per_call(figures: LoadFigures) -> float:
    rps = figures.requests_per_second
    return figures.server_cpu / rps * 1000 if rps else float("nan")


def run_breakdown(
    workspace: Workspace,
    *,
    level: int,
    seconds: float,
    warmup: float,
    repeats: int,
    progress: Callable[[str], None] = print,
) -> Breakdown:
    """Measure each step ``repeats`` times, the steps taking turns; the workspace must be indexed."""
    steps = [s for s in STEPS if s.target.supported()]
    queries = [q.text for q in query_mix(CompanyProse(workspace.seed))]
    requests = workspace.root / "requests.txt"
    write_requests(requests, queries)
    result = Breakdown(level, seconds, repeats, {s.target.key: [] for s in steps})
    with ExitStack() as stack:
        servers: dict[str, tuple[ServerProcess, dict[str, str]]] = {}
        for step in steps:
            target = step.target
            progress(f"breakdown: starting {target.label}")
            port = free_port()
            env = {**clean_environment(), **target.env}
            log = workspace.root / f"breakdown-{target.key}.log"
            server = stack.enter_context(
                pinned_server(server_command(target, workspace, port), env, port, log)
            )
            headers = dict(REQUEST_HEADERS)
            if target.session:
                headers["Mcp-Session-Id"] = open_session(server.base_url)
            check_search(server.base_url, headers, queries[0])
            servers[target.key] = (server, headers)
        for repeat in range(repeats):
            shift = repeat % len(steps)
            for step in (*steps[shift:], *steps[:shift]):
                server, headers = servers[step.target.key]
                figures, discarded = undisturbed(
                    partial(measure_served, server, headers, requests, level, seconds, warmup)
                )
                result.runs[step.target.key].append(figures)
                result.discarded += discarded
                progress(
                    f"breakdown: run {repeat + 1}/{repeats}, {step.target.label}: "
                    f"{figures.requests_per_second:,.0f} req/s, {cpu_ms_per_call(figures):.2f} ms CPU per call"
                )
    return result
