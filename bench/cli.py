"""``python -m bench``: run the benchmarks and print (or write) a Markdown report."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvloop

from bench.breakdown import run_breakdown
from bench.corpus import DEFAULT_SEED
from bench.echo_throughput import run_echo
from bench.http_overhead import run_http_overhead
from bench.machine import (
    SERVER_CORE,
    SetupError,
    pin_to,
    require_cores,
    require_event_loop,
    require_wrk,
    source_revision,
)
from bench.report import Results, render_report
from bench.search_scaling import run_search_scaling
from bench.workspace import Workspace, index_from_scratch, open_workspace

BREAKDOWN_LEVEL = 16
WHICH = ("all", "http", "search", "breakdown", "echo")


@dataclass(frozen=True)
class Plan:
    """What to run and for how long."""

    which: str
    sizes: list[int]
    levels: list[int]
    seconds: float
    warmup: float
    repeats: int
    breakdown_repeats: int
    http_documents: int
    rounds: int
    budget_s: float
    seed: int
    workdir: Path

    @property
    def http(self) -> bool:
        return self.which in ("all", "http")

    @property
    def search(self) -> bool:
        return self.which in ("all", "search")

    @property
    def breakdown(self) -> bool:
        return self.which in ("all", "breakdown")

    @property
    def echo(self) -> bool:
        return self.which in ("all", "echo")


def parse_size(text: str) -> int:
    """'10k' -> 10000."""
    text = text.strip().lower().replace("_", "")
    scale = 1000 if text.endswith("k") else 1
    try:
        value = int(float(text.rstrip("k")) * scale)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from exc
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"corpus size {text!r} is outside 1..1,000,000")
    return value


def parse_sizes(text: str) -> list[int]:
    return [parse_size(part) for part in text.split(",") if part.strip()]


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not levels or any(not 1 <= level <= 1024 for level in levels):
        raise argparse.ArgumentTypeError("concurrency levels must be between 1 and 1024")
    return levels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Bridgehead benchmarks. Prints a Markdown report; --output also writes it to a file.",
    )
    parser.add_argument(
        "which",
        nargs="?",
        choices=WHICH,
        default="all",
        help="http: tools/call through Bridgehead vs a bare endpoint vs a direct call; search: latency by "
        "corpus size; breakdown: CPU per call, one Bridgehead feature at a time; echo: an echo tool through "
        "Bridgehead (with and without OAuth), a bare endpoint, the official SDK and fastmcp, and --workers 2; "
        "all (default): all four",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs, sizes 1k,10k: a smoke test, not figures"
    )
    parser.add_argument("--sizes", type=parse_sizes, help="corpus sizes for search (default 1k,10k,100k)")
    parser.add_argument(
        "--concurrency", type=parse_levels, help="concurrency levels for http and echo (default 1,16,64)"
    )
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per http and echo run (default 10; quick 3)"
    )
    parser.add_argument(
        "--warmup", type=float, help="warm-up seconds before each http and echo run (default 2; quick 1)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs per http and echo cell, targets taking turns (default 3, breakdown 5; quick 1)",
    )
    parser.add_argument(
        "--http-docs", type=parse_size, default=1000, help="corpus size http and breakdown serve"
    )
    parser.add_argument(
        "--rounds", type=int, help="timed passes of the query mix per size (default 30; quick 5)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus generator seed")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bridgehead-bench",
        help="corpora, stores and server logs go here; identical corpora are reused",
    )
    parser.add_argument("--output", type=Path, help="also write the report here (e.g. bench/RESULTS.md)")
    return parser


def make_plan(args: argparse.Namespace) -> Plan:
    quick = bool(args.quick)
    return Plan(
        which=args.which,
        sizes=args.sizes or ([1000, 10_000] if quick else [1000, 10_000, 100_000]),
        levels=args.concurrency or [1, 16, 64],
        seconds=args.seconds or (3.0 if quick else 10.0),
        warmup=args.warmup or (1.0 if quick else 2.0),
        repeats=max(1, args.repeats or (1 if quick else 3)),
        # Its increments are small differences between two targets: more runs narrow the noise.
        breakdown_repeats=max(1, args.repeats or (1 if quick else 5)),
        http_documents=args.http_docs,
        rounds=max(1, args.rounds or (5 if quick else 30)),
        budget_s=60.0 if quick else 300.0,
        seed=args.seed,
        workdir=args.workdir.resolve(),
    )


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def check_requirements(plan: Plan) -> None:
    """Fail before any long step when a tool is missing."""
    if plan.http or plan.breakdown or plan.echo:
        require_cores()
        require_event_loop()
        require_wrk()


def describe_defaults(workspace: Workspace) -> str:
    """The Bridgehead settings that change what a tools/call costs, as the benchmark config leaves them."""
    settings = workspace.settings()
    facts = [f"auth mode {getattr(getattr(settings, 'auth', None), 'mode', 'n/a')}"]
    audit = getattr(settings, "audit", None)
    if audit is not None:
        facts.append(f"audit {'on' if audit.enabled else 'off'}")
    return ", ".join(facts)


def run(plan: Plan, results: Results) -> None:
    plan.workdir.mkdir(parents=True, exist_ok=True)
    check_requirements(plan)
    if plan.search:
        results.search = run_search_scaling(
            plan.workdir,
            plan.sizes,
            seed=plan.seed,
            rounds=plan.rounds,
            budget_s=plan.budget_s,
            progress=progress,
        )
    if plan.echo:
        results.echo = run_echo(
            plan.workdir,
            levels=plan.levels,
            seconds=plan.seconds,
            warmup=plan.warmup,
            repeats=plan.repeats,
            progress=progress,
        )
    if not (plan.http or plan.breakdown):
        return
    workspace, _ = open_workspace(plan.workdir, plan.http_documents, plan.seed)
    results.bridgehead_defaults = describe_defaults(workspace)
    progress(f"http: indexing {plan.http_documents:,} documents")
    previous = pin_to({SERVER_CORE})
    try:
        index = uvloop.run(index_from_scratch(workspace))
    finally:
        pin_to(previous)
    if plan.http:
        results.http = run_http_overhead(
            workspace,
            index,
            levels=plan.levels,
            seconds=plan.seconds,
            warmup=plan.warmup,
            repeats=plan.repeats,
            progress=progress,
        )
    if plan.breakdown:
        results.breakdown = run_breakdown(
            workspace,
            level=BREAKDOWN_LEVEL,
            seconds=plan.seconds,
            warmup=plan.warmup,
            repeats=plan.breakdown_repeats,
            progress=progress,
        )


def main(argv: list[str] | None = None) -> None:
    # SIGTERM unwinds like Ctrl-C, so the servers under test are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args = build_parser().parse_args(argv)
    plan = make_plan(args)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    results = Results(command, datetime.now(UTC), 0.0, "defaults", source_revision())
    began = time.monotonic()
    try:
        run(plan, results)
    except SetupError as exc:
        print(f"bench: cannot run: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    results.seconds = time.monotonic() - began
    report = render_report(results)
    print(report)
    if args.output:
        args.output.write_text(report)
        progress(f"report written to {args.output}")
