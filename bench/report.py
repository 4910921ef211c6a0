"""Markdown rendering of benchmark results: figures first, each next to the baseline it is divided by."""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bench.breakdown import STEPS, Breakdown, cpu_ms_per_call
from bench.echo_throughput import FLOOR as ECHO_FLOOR
from bench.echo_throughput import ONE_WORKER, EchoResult, issue_checks
from bench.http_overhead import BRIDGEHEAD_TARGETS, DIRECT, DIRECT_TOOL, FLOOR, TARGETS, HttpOverheadResult
from bench.machine import LOAD_CORE, PRIORITY, QUIET_SHARE, SERVER_CORE, machine_facts, source_revision
from bench.queries import KINDS
from bench.search_scaling import SizeResult
from bench.stats import LoadFigures, percentile, ratio


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _x(value: float) -> str:
    return "-" if math.isnan(value) else f"x{value:.2f}"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 100:.0f}%"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _size(documents: int) -> str:
    return f"{documents // 1000}k" if documents % 1000 == 0 else str(documents)


def cpu_ms_per_request(figures: LoadFigures) -> float:
    """Server CPU time per answered request: the cost that concurrency cannot hide."""
    rps = figures.requests_per_second
    return figures.server_cpu / rps * 1000 if rps and not math.isnan(figures.server_cpu) else math.nan


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "--:"}
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def render_http(result: HttpOverheadResult) -> str:
    lines = [
        "## 1. `tools/call` of `search`: Bridgehead vs the bare endpoint vs a direct call",
        "",
        f"Corpus: {_count(result.documents)} generated documents"
        + (f" (SQLite store {result.index.database_bytes / 2**20:.1f} MiB)" if result.index else "")
        + f"; the {len(result.queries)} queries of the mix are sent in turn. Each run is closed-loop, "
        f"{result.seconds:g} s after a {result.warmup:g} s warm-up at the same concurrency; every cell was run "
        f"{result.repeats} time(s), targets taking turns, and shows its best run. A run during which other "
        f"processes used {QUIET_SHARE:.0%} of the server core or more was repeated ({result.discarded} discarded). "
        f"Servers run on CPU "
        f"{SERVER_CORE}, wrk (1 thread, one connection per concurrent client) on CPU {LOAD_CORE}; the direct "
        f"calls run in their own process on CPU {SERVER_CORE} with uvloop.",
        "",
        "### Ratios",
        "",
        "Throughput ratios below 1 and latency ratios above 1 are what Bridgehead costs over the baseline. "
        "*CPU/req* is server CPU time per answered request (core busy time ÷ requests).",
        "",
    ]
    rows = []
    for level in result.levels:
        floor, direct = result.best(FLOOR.key, level), result.best(DIRECT.key, level)
        for target in BRIDGEHEAD_TARGETS:
            f = result.best(target.key, level)
            rows.append(
                [
                    str(level),
                    target.label.removeprefix("Bridgehead, "),
                    _x(ratio(f.requests_per_second, floor.requests_per_second)),
                    _x(ratio(f.p50_ms, floor.p50_ms)),
                    _x(ratio(f.p99_ms, floor.p99_ms)),
                    _x(ratio(cpu_ms_per_request(f), cpu_ms_per_request(floor))),
                    _x(ratio(f.requests_per_second, direct.requests_per_second)),
                    _x(ratio(f.p50_ms, direct.p50_ms)),
                    _x(ratio(f.p99_ms, direct.p99_ms)),
                ]
            )
    lines += _table(
        [
            "Concurrency",
            "Bridgehead mode",
            "req/s ÷ bare",
            "p50 ÷ bare",
            "p99 ÷ bare",
            "CPU/req ÷ bare",
            "req/s ÷ direct",
            "p50 ÷ direct",
            "p99 ÷ direct",
        ],
        rows,
        "rlrrrrrrr",
    )
    lines += ["", "### Figures", ""]
    rows = []
    for target in TARGETS:
        for level in result.levels:
            f = result.best(target.key, level)
            rows.append(
                [
                    target.label,
                    str(level),
                    _count(f.requests_per_second),
                    _pct(result.spread(target.key, level)) if result.repeats > 1 else "-",
                    _ms(f.p50_ms),
                    _ms(f.p99_ms),
                    _ms(cpu_ms_per_request(f)),
                    _pct(f.server_cpu),
                    _pct(f.load_cpu),
                    _pct(f.other_cpu),
                    str(f.errors),
                    "-" if math.isnan(f.server_rss_mb) else f"{f.server_rss_mb:.0f}",
                ]
            )
    lines += _table(
        [
            "Target",
            "Concurrency",
            "req/s",
            "req/s spread",
            "p50 ms",
            "p99 ms",
            "CPU ms/req",
            "target CPU",
            "wrk CPU",
            f"others on CPU {SERVER_CORE}",
            "errors",
            "RSS MiB",
        ],
        rows,
    )
    lines += [
        "",
        "*target CPU* and *wrk CPU* are the share of a core the server (or direct-call loop) and wrk used; "
        f"*others on CPU {SERVER_CORE}* is what other processes used of the server core meanwhile; "
        "*req/s spread* is (best - worst) / best over the repetitions.",
        "",
        f"*errors* counts connection errors, timeouts and every response that was not HTTP 200 carrying "
        f"`structuredContent` without `isError: true` (checked by `bench/tools_call.lua`). "
        f"*{DIRECT_TOOL.label.removeprefix('Direct: ')}* adds argument validation and the `CallToolResult` "
        f"to the bare search, so it separates the tool layer from the transport.",
        "",
    ]
    return "\n".join(lines)


def render_search(results: Sequence[SizeResult]) -> str:
    if not results:
        return ""
    base = results[0]
    lines = [
        "## 2. Search latency as the corpus grows (SQLite FTS5, default store)",
        "",
        "Each corpus is indexed from scratch with `DocumentsConnector.reindex`, and again with plain sqlite3 "
        "into the same tables (`bench/index_floor.py`: Bridgehead's parser, `executemany` in batches of "
        "the indexer's size) as the indexing floor. Then the mix of "
        f"{len(base.timings)} queries is run once untimed, then in timed passes, one call at a time, in-process "
        f"on CPU {SERVER_CORE}. A pass during which other processes used {QUIET_SHARE:.0%} of that core or more "
        f"is discarded. Ratios are against the {_size(base.size)} corpus.",
        "",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                _count(r.size),
                f"{r.corpus.bytes / 2**20:.1f}",
                f"{r.index.seconds:.1f}",
                _count(r.index.documents_per_second),
                _count(r.floor_documents_per_second),
                _x(ratio(r.index.documents_per_second, r.floor_documents_per_second)),
                f"{r.index.database_bytes / 2**20:.0f}",
                str(len(r.latencies())),
                _ms(r.p50_ms()),
                _ms(r.p99_ms()),
                _x(ratio(r.p50_ms(), base.p50_ms())),
                _x(ratio(r.p99_ms(), base.p99_ms())),
                f"{r.passes.kept} / {r.passes.discarded}",
                _pct(r.passes.other_cpu),
            ]
        )
    lines += _table(
        [
            "Documents",
            "Text MiB",
            "Index s",
            "Indexed docs/s",
            "plain sqlite3 docs/s",
            "÷ plain",
            "Store MiB",
            "Searches",
            "p50 ms",
            "p99 ms",
            f"p50 ÷ {_size(base.size)}",
            f"p99 ÷ {_size(base.size)}",
            "Passes kept / discarded",
            f"others on CPU {SERVER_CORE}",
        ],
        rows,
    )
    lines += ["", "### By query shape (p50 / p99 ms, ratio of p50 to the smallest corpus)", ""]
    rows = []
    for kind in KINDS:
        row = [kind]
        for r in results:
            row.append(
                f"{_ms(r.p50_ms(kind))} / {_ms(r.p99_ms(kind))} ({_x(ratio(r.p50_ms(kind), base.p50_ms(kind)))})"
            )
        rows.append(row)
    lines += _table(["Query shape", *(f"{_size(r.size)} docs" for r in results)], rows)
    lines += [
        "",
        "<details><summary>Every query: hits returned (of at most 10) and p50 ms per corpus size</summary>",
        "",
    ]
    rows = []
    for index, timing in enumerate(base.timings):
        row = [f"`{timing.query.text}`", timing.query.kind]
        for r in results:
            t = r.timings[index]
            row.append(f"{t.hits} / {_ms(percentile(t.latencies_s, 50) * 1000)}")
        rows.append(row)
    lines += _table(
        ["Query", "Shape", *(f"{_size(r.size)}: hits / p50" for r in results)],
        rows,
        "ll" + "r" * len(results),
    )
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def render_breakdown(result: Breakdown) -> str:
    steps = [s for s in STEPS if s.target.key in result.runs]
    top = cpu_ms_per_call(result.best(steps[-1].target.key))
    lines = [
        "## 3. Where Bridgehead's CPU per call goes",
        "",
        f"The same load (concurrency {result.level}, {result.seconds:g} s runs, best of {result.repeats}, "
        f"targets taking turns; {result.discarded} disturbed runs discarded) against configurations that each "
        "turn on one feature over a parent configuration. *CPU ms/call* is server CPU time per answered call with "
        "the server core saturated, from the run with the highest throughput; *adds* is the difference from "
        "the parent row, and its share of the last row (Bridgehead's defaults). Sampling profilers (py-spy) mislead here: SQLAlchemy's greenlets and asyncio "
        "tasks leave stacks that mix the event loop's work with whichever coroutine ran last.",
        "",
    ]
    rows = []
    for step in steps:
        f = result.best(step.target.key)
        cpu = cpu_ms_per_call(f)
        every = sorted(cpu_ms_per_call(run) for run in result.runs[step.target.key])
        parent = cpu_ms_per_call(result.best(step.parent)) if step.parent in result.runs else math.nan
        delta = cpu - parent if step.parent else cpu
        rows.append(
            [
                step.target.label,
                step.adds,
                _count(f.requests_per_second),
                _ms(cpu),
                f"{_ms(every[0])}-{_ms(every[-1])}",
                f"{delta:+.2f}" if not math.isnan(delta) else "-",
                _pct(ratio(delta, top)),
            ]
        )
    lines += _table(
        [
            "Configuration",
            "Adds",
            "req/s",
            "CPU ms/call",
            "range over runs",
            "adds ms/call",
            "share of defaults",
        ],
        rows,
        "llrrrrr",
    )
    lines += [
        "",
        "An increment smaller than the *range over runs* of its two rows is within this machine's "
        "run-to-run noise.",
    ]
    lines.append("")
    return "\n".join(lines)


def render_echo(result: EchoResult) -> str:
    """Section 4: the issue-6 comparison with the echo tool, its targets first."""
    checks = issue_checks(result)
    judged = [c for c in checks if c.target != "-" and not math.isnan(c.value)]
    failed = [c for c in judged if not c.verdict.startswith("pass")]
    disturbed = [c for c in judged if c.disturbed]
    unpinned = [t for t in result.targets if not t.pinned]
    lines = [
        "## 4. `tools/call` of an echo tool: Bridgehead vs the bare endpoint, the official SDK and fastmcp",
        "",
        f"The echo tool returns its `text` argument ({len(result.text)} characters) as text content and does "
        "nothing else, so the figures are protocol machinery only. Every server is a uvicorn process with "
        "uvloop and httptools serving the same tool: the bare endpoint (`bench/echo_servers.py floor`: orjson "
        "parse, result, orjson dump), `bridgehead serve` with a `functions` connector over "
        "`bench/echo_tools.py` (audit log on; OAuth targets send a JWT that Bridgehead's own authorization "
        "server issued through the authorization-code flow to a local user whose role may call `echo`, so "
        "each call pays signature (cached) and revocation checks, the role and scope check and the audit "
        "record), the official SDK's `MCPServer` (`mcp` "
        f"{_package_version('mcp')}) and fastmcp {result.fastmcp_version or '(not measured)'} in its own "
        "virtualenv (`bench/fastmcp-requirements.txt`). Tools return text only, no structured content, "
        "everywhere. Sessions are opened once with `initialize` and reused by every connection.",
        "",
        f"Each run is closed-loop, {result.seconds:g} s after a {result.warmup:g} s warm-up; every cell was "
        f"run {result.repeats} time(s), targets taking turns, and shows its best run. A run during which "
        f"other processes used {QUIET_SHARE:.0%} of the server core or more was repeated ({result.discarded} "
        f"discarded). Servers are pinned to CPU {SERVER_CORE} and wrk (1 thread, "
        f"`bench/tools_call.lua`, which checks every answer) to CPU {LOAD_CORE}, except the "
        f"{len(unpinned)} *unpinned* targets: `--workers 2` needs more than one core, and this machine has "
        f"two, so both it and its single-worker baseline may use CPUs {SERVER_CORE} and {LOAD_CORE} while "
        f"wrk stays on CPU {LOAD_CORE}, competing with the server for it. Their ratio is what a second worker "
        "adds when the load generator takes part of the second core, not what it adds on a machine with "
        "cores to spare.",
        "",
    ]
    for key, reason in result.skipped.items():
        lines += [f"*Not measured*: `{key}`: {reason}", ""]
    lines += [
        "### Against the issue's targets",
        "",
        f"{len(judged) - len(failed)} of {len(judged)} targets met"
        + (f"; missed: {len(failed)}." if failed else ".")
        + (
            f" {len(disturbed)} verdict(s) rest on a run that other processes disturbed (every attempt at "
            f"it saw them use {QUIET_SHARE:.0%} of the cores or more): *(disturbed)*, to be measured again "
            "on a quiet machine."
            if disturbed
            else ""
        ),
        "",
    ]
    lines += _table(
        ["Concurrency", "Ratio", "Value", "Target", "Verdict"],
        [[str(c.level), c.what, _x(c.value), c.target, c.verdict] for c in checks],
        "rlrll",
    )
    lines += ["", "### Ratios to the bare endpoint", ""]
    rows = []
    for level in result.levels:
        floor = result.best(ECHO_FLOOR.key, level)
        base = result.best(ONE_WORKER.key, level)
        for target in result.targets:
            f = result.best(target.key, level)
            if f is None or target.key == ECHO_FLOOR.key:
                continue
            # Unpinned targets are compared with the unpinned single worker, never with a pinned floor.
            other = floor if target.pinned else base
            if other is None or (not target.pinned and target.key == ONE_WORKER.key):
                continue
            rows.append(
                [
                    str(level),
                    result.label(target),
                    _x(ratio(f.requests_per_second, other.requests_per_second)),
                    _x(ratio(f.p50_ms, other.p50_ms)),
                    _x(ratio(f.p99_ms, other.p99_ms)),
                    _x(ratio(cpu_ms_per_request(f), cpu_ms_per_request(other))),
                    "bare" if target.pinned else "1 worker, unpinned",
                ]
            )
    lines += _table(
        ["Concurrency", "Target", "req/s ÷ base", "p50 ÷ base", "p99 ÷ base", "CPU/req ÷ base", "base"],
        rows,
        "rlrrrrl",
    )
    lines += ["", "### Figures", ""]
    rows = []
    for target in result.targets:
        for level in result.levels:
            f = result.best(target.key, level)
            if f is None:
                continue
            rows.append(
                [
                    result.label(target),
                    str(level),
                    _count(f.requests_per_second),
                    _pct(result.spread(target.key, level)) if result.repeats > 1 else "-",
                    _ms(f.p50_ms),
                    _ms(f.p99_ms),
                    _ms(cpu_ms_per_request(f)),
                    _pct(f.server_cpu),
                    _pct(f.load_cpu),
                    _pct(f.other_cpu),
                    str(f.errors),
                    "-" if math.isnan(f.server_rss_mb) else f"{f.server_rss_mb:.0f}",
                ]
            )
    lines += _table(
        [
            "Target",
            "Concurrency",
            "req/s",
            "req/s spread",
            "p50 ms",
            "p99 ms",
            "CPU ms/req",
            "server CPU",
            "wrk CPU",
            "others",
            "errors",
            "RSS MiB",
        ],
        rows,
    )
    lines += [
        "",
        "*server CPU* is the share of one core the server's processes used (above 100% for the unpinned "
        f"targets, which may use two cores); *others* is what other processes used of CPU {SERVER_CORE} "
        f"(of CPUs {SERVER_CORE} and {LOAD_CORE} for unpinned targets, wrk excluded). *errors* counts "
        "connection errors, timeouts and every response that was not HTTP 200 with a JSON-RPC result "
        "echoing the text without `isError: true` (`bench/tools_call.lua`).",
        "",
    ]
    unsaturated = [
        level
        for level in result.levels
        if level > 1
        and (f := result.best(ECHO_FLOOR.key, level)) is not None
        and f.server_cpu + f.other_cpu < 0.9
    ]
    if unsaturated:
        lines += [
            f"At concurrency {', '.join(map(str, unsaturated))} the bare endpoint's core was not busy all the "
            "time: "
            "its requests/s are bounded by the round trip with wrk (which parses every answer) as much as by "
            "its own work, so *req/s ÷ base* flatters the targets that saturate their core; *CPU/req ÷ base* "
            "does not depend on it.",
            "",
        ]
    lines += [
        "Bridgehead settings as each target resolved them, and the audit events its store held afterwards "
        "(every answered call writes one; requests counts what wrk saw answered, warm-ups included):",
        "",
    ]
    lines += _table(
        ["Target", "Settings", "audit events", "requests"],
        [
            [
                result.label(t),
                result.settings[t.key],
                _count(result.audit_rows[t.key]) if t.key in result.audit_rows else "-",
                _count(result.completed.get(t.key, 0)),
            ]
            for t in result.targets
            if t.key in result.settings
        ],
        "llrr",
    )
    lines.append("")
    return "\n".join(lines)


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@dataclass
class Results:
    """Everything one invocation measured, and the facts needed to read it."""

    command: str
    started: datetime
    seconds: float
    bridgehead_defaults: str
    revision: str
    """The source under test when the run started (servers load it as they start)."""
    http: HttpOverheadResult | None = None
    search: list[SizeResult] = field(default_factory=list)
    breakdown: Breakdown | None = None
    echo: EchoResult | None = None


def headline(results: Results) -> list[str]:
    """The sentences a reader wants before the tables, computed from them."""
    lines = []
    http = results.http
    if http is not None:
        for level in http.levels:
            floor, direct = http.best(FLOOR.key, level), http.best(DIRECT.key, level)
            parts = []
            for target in BRIDGEHEAD_TARGETS:
                f = http.best(target.key, level)
                parts.append(
                    f"{target.label.removeprefix('Bridgehead, ')} {f.requests_per_second:,.0f} req/s "
                    f"({_x(ratio(f.requests_per_second, floor.requests_per_second))} the bare endpoint, "
                    f"{_x(ratio(f.requests_per_second, direct.requests_per_second))} the direct call; "
                    f"p50 {_ms(f.p50_ms)} ms, {_x(ratio(f.p50_ms, floor.p50_ms))} the bare endpoint's)"
                )
            lines.append(
                f"- Concurrency {level}: bare endpoint {floor.requests_per_second:,.0f} req/s, "
                f"direct call {direct.requests_per_second:,.0f}/s; " + "; ".join(parts) + "."
            )
    if results.search:
        base, last = results.search[0], results.search[-1]
        lines.append(
            f"- Search over {last.size:,} documents: p50 {_ms(last.p50_ms())} ms "
            f"({_x(ratio(last.p50_ms(), base.p50_ms()))} the {base.size:,}-document figure), "
            f"p99 {_ms(last.p99_ms())} ms ({_x(ratio(last.p99_ms(), base.p99_ms()))}); "
            f"indexing ran at {last.index.documents_per_second:,.0f} documents/s "
            f"({_x(ratio(last.index.documents_per_second, last.floor_documents_per_second))} plain sqlite3's "
            f"{last.floor_documents_per_second:,.0f})."
        )
    echo = results.echo
    if echo is not None:
        checks = issue_checks(echo)
        judged = [c for c in checks if c.target != "-" and not math.isnan(c.value)]
        level = 16 if 16 in echo.levels else echo.levels[-1]
        lines.append(
            f"- Echo tool (issue 6): {sum(c.verdict.startswith('pass') for c in judged)} of {len(judged)} "
            "targets met"
            + (" (some on disturbed runs)" if any(c.disturbed for c in judged) else "")
            + f"; at concurrency {level}: "
            + "; ".join(f"{c.what} {_x(c.value)}" for c in checks if c.level == level)
            + "."
        )
    return lines


METHOD = """\
## Method

- **Load generator: wrk** (Debian package, one thread pinned to CPU {load}) with `bench/tools_call.lua`,
  which posts the query mix as JSON-RPC `tools/call` requests with unique ids and checks every response body.
  wrk is C and event-driven: its *wrk CPU* (CPU time ÷ wall time, from `getrusage`) was at most {load_max} of
  its core in this run, while the server's core was busy {server_min} or more in every run at concurrency 16
  and up. The figures are bounded by the server, not by the load generator. A Python load generator would
  spend a sizeable fraction of the server's per-request CPU on its own HTTP client and event loop, and would
  have to prove its headroom on the one spare core.
- **Interference**: the machine may be shared. Benchmark processes run at nice {priority} (when allowed), so
  others' processes yield the cores and migrate away from the server core; each run waits for a quiet second
  on the server core first, and a run (or search pass) during which other processes used {quiet} of that core
  or more is discarded and repeated, a bounded number of times. All servers stay up and the targets take
  turns cell by cell, in an order that rotates with each repetition; each cell shows its best repetition
  (interference only slows a run down) with the spread, and the CPU others used during it.
- **Closed loop**: each of the N connections sends its next request when the previous answer arrives, so N is
  the number of concurrent clients. Latency is per request, from send to complete response, as wrk measures it.
- **Servers** are real processes: `bridgehead serve --config …` (uvicorn with uvloop and httptools, as
  deployed) and `python -m bench.floor` (the same uvicorn options), each pinned with `taskset -c {server}`.
  Bridgehead runs with its defaults ({defaults}) apart from what each target names: stateless mode is
  `BRIDGEHEAD_MCP__STATELESS=true BRIDGEHEAD_MCP__JSON_RESPONSE=true`, audit off adds
  `BRIDGEHEAD_AUDIT__ENABLED=false`, and the stateful target keeps the defaults (SSE responses, in-memory event
  store) with one session opened by `initialize`, whose `Mcp-Session-Id` every request reuses. Requests carry
  `MCP-Protocol-Version: 2025-11-25`.
- **Direct** calls run `DocumentsConnector.search` (and, separately, the `search` tool through `ToolSurface.call`)
  on uvloop in a process pinned to CPU {server}, with the same closed-loop workers.
- **Corpora** are generated by `bench/corpus.py` from a fixed seed: Zipf-weighted company vocabulary, a long
  tail of generated codenames, sentence templates and per-document topic words; nothing is downloaded.
"""


def render_report(results: Results) -> str:
    """The whole Markdown report, as bench/RESULTS.md holds it."""
    header = [
        "# Bridgehead benchmarks",
        "",
        f"- Command: `{results.command}` (repository root, virtualenv active)",
        f"- Date: {results.started:%Y-%m-%d %H:%M} UTC; took {results.seconds / 60:.1f} min",
        f"- Bridgehead source: {results.revision.split(' | ')[0]}"
        + (
            ""
            if (now := source_revision()).split(" | ")[1] == results.revision.split(" | ")[1]
            else f" (src/ changed during the run; by its end: {now.split(' | ')[0]})"
        ),
        machine_facts().markdown(),
    ]
    parts = ["\n".join(header), "\n".join(headline(results))]
    if results.http is not None:
        parts.append(render_http(results.http))
    if results.search:
        parts.append(render_search(results.search))
    if results.breakdown is not None:
        parts.append(render_breakdown(results.breakdown))
    if results.echo is not None:
        parts.append(render_echo(results.echo))
    if results.http is None and results.breakdown is None and not results.search:
        # The echo section describes its own method; the one below is about the other parts.
        return "\n\n".join(part.strip("\n") for part in parts if part) + "\n"
    load_max = server_min = "-"
    if results.http is not None:
        served = [f for t in TARGETS if t.served for runs in results.http.runs[t.key].values() for f in runs]
        load_max = _pct(max(f.load_cpu for f in served))
        server_min = _pct(min((f.server_cpu for f in served if f.concurrency >= 16), default=math.nan))
    parts.append(
        METHOD.format(
            quiet=_pct(QUIET_SHARE),
            priority=PRIORITY,
            load=LOAD_CORE,
            server=SERVER_CORE,
            load_max=load_max,
            server_min=server_min,
            defaults=results.bridgehead_defaults,
        )
    )
    return "\n\n".join(part.strip("\n") for part in parts if part) + "\n"
