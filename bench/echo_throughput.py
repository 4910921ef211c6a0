"""Issue 6: a ``tools/call`` of an echo tool through Bridgehead, the bare endpoint, the official SDK and fastmcp.

The echo tool does no work, so every difference is protocol machinery: HTTP,
JSON-RPC, MCP validation, token verification, the role check and the audit
log. Every server runs as a real uvicorn process (uvloop + httptools) pinned
to the server core, wrk pinned to the load core, and all of them answer the
same request with the same text content:

- the floor: a bare Starlette route (``bench/echo_servers.py floor``);
- Bridgehead (``bridgehead serve``) with a ``functions`` connector over
  ``bench/echo_tools.py``, audit log on: without auth, and with
  ``auth.mode = "oauth"`` and a JWT its own authorization server issued to a
  local user whose role may call ``echo`` (``bench/oauth_flow.py``); stateless,
  and with one reused session;
- the official SDK's ``MCPServer``, stateless and with one reused session;
- fastmcp, pinned, in a virtualenv of its own (``bench/fastmcp_venv.py``).

``--workers 2`` cannot have a core of its own on a 2-core machine, so it is
measured under other conditions, stated in the report: the servers may use
every core (wrk stays on the load core and competes with them), and the
single-worker baseline it is divided by runs under exactly those conditions.

Targets take turns cell by cell, in an order that rotates with each
repetition, and each cell keeps its best run (see bench/http_overhead.py).
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.fastmcp_venv import fastmcp_python
from bench.http_overhead import undisturbed
from bench.loadgen import run_wrk
from bench.machine import LOAD_CORE, QUIET_SHARE, SERVER_CORE, CpuMeter, SetupError
from bench.mcp_client import REQUEST_HEADERS, check_echo, check_refused, open_session, write_echo_requests
from bench.oauth_flow import access_token
from bench.processes import (
    REPO_ROOT,
    ServerProcess,
    bridgehead_command,
    bridgehead_launcher,
    free_port,
    pinned_server,
)
from bench.stats import LoadFigures, ratio
from bench.workspace import clean_environment
from bridgehead.config import load_settings

ECHO_TEXT = "echo from wrk: the quick brown fox jumps over the lazy dog"
USERNAME = "bench"
ROLE = "echo_caller"
SCOPE = "tools:read"
ALL_CORES = frozenset({SERVER_CORE, LOAD_CORE})
CLI_TIMEOUT_S = 120
SETTLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EchoTarget:
    """One server configuration under test."""

    key: str
    label: str
    kind: str
    """"bridgehead", or the server of bench/echo_servers.py: "floor", "sdk", "fastmcp"."""
    env: Mapping[str, str] = field(default_factory=dict)
    auth: bool = False
    session: bool = False
    workers: int = 1
    pinned: bool = True
    """False: the server may use every core (wrk still runs on the load core only)."""

    @property
    def cores(self) -> frozenset[int]:
        return frozenset({SERVER_CORE}) if self.pinned else ALL_CORES


_STATELESS = {"BRIDGEHEAD_MCP__STATELESS": "true", "BRIDGEHEAD_MCP__JSON_RESPONSE": "true"}
_SESSION = {"BRIDGEHEAD_MCP__STATELESS": "false", "BRIDGEHEAD_MCP__JSON_RESPONSE": "true"}
_OAUTH = {"BRIDGEHEAD_AUTH__MODE": "oauth"}

FLOOR = EchoTarget("floor", "Bare Starlette endpoint (floor)", "floor")
BRIDGEHEAD = EchoTarget("bh", "Bridgehead, stateless + JSON, no auth, audit on", "bridgehead", _STATELESS)
BRIDGEHEAD_AUTH = EchoTarget(
    "bh_oauth",
    "Bridgehead, stateless + JSON, OAuth (JWT + role), audit on",
    "bridgehead",
    {**_STATELESS, **_OAUTH},
    auth=True,
)
BRIDGEHEAD_SESSION = EchoTarget(
    "bh_session", "Bridgehead, one session + JSON, no auth, audit on", "bridgehead", _SESSION, session=True
)
BRIDGEHEAD_SESSION_AUTH = EchoTarget(
    "bh_session_oauth",
    "Bridgehead, one session + JSON, OAuth (JWT + role), audit on",
    "bridgehead",
    {**_SESSION, **_OAUTH},
    auth=True,
    session=True,
)
SDK = EchoTarget("sdk", "Official SDK MCPServer, stateless + JSON", "sdk")
SDK_SESSION = EchoTarget("sdk_session", "Official SDK MCPServer, one session + JSON", "sdk", session=True)
FASTMCP = EchoTarget("fastmcp", "fastmcp, stateless + JSON", "fastmcp")
ONE_WORKER = EchoTarget(
    "bh_oauth_w1",
    "Bridgehead, stateless + JSON, OAuth, 1 worker, unpinned",
    "bridgehead",
    BRIDGEHEAD_AUTH.env,
    auth=True,
    pinned=False,
)
TWO_WORKERS = EchoTarget(
    "bh_oauth_w2",
    "Bridgehead, stateless + JSON, OAuth, --workers 2, unpinned",
    "bridgehead",
    BRIDGEHEAD_AUTH.env,
    auth=True,
    workers=2,
    pinned=False,
)
TARGETS = (
    FLOOR,
    BRIDGEHEAD,
    BRIDGEHEAD_AUTH,
    BRIDGEHEAD_SESSION,
    BRIDGEHEAD_SESSION_AUTH,
    SDK,
    SDK_SESSION,
    FASTMCP,
    ONE_WORKER,
    TWO_WORKERS,
)


@dataclass(frozen=True)
class Check:
    """One ratio the issue sets a target for (or that it asks to report), at one concurrency level."""

    level: int
    what: str
    value: float
    minimum: float | None = None
    maximum: float | None = None
    errors: bool = False
    """A run behind the ratio had failed requests: the ratio describes a broken server."""
    disturbed: bool = False
    """A run behind the ratio is the least disturbed of several that others' processes all disturbed."""

    @property
    def target(self) -> str:
        if self.minimum is not None:
            return f">= x{self.minimum:g}"
        if self.maximum is not None:
            return f"<= x{self.maximum:g}"
        return "-"

    @property
    def verdict(self) -> str:
        if math.isnan(self.value):
            return "not measured"
        if self.errors:
            return "invalid: errors"
        if self.minimum is not None:
            verdict = "pass" if self.value >= self.minimum else "FAIL"
        elif self.maximum is not None:
            verdict = "pass" if self.value <= self.maximum else "FAIL"
        else:
            return "-"
        return verdict + (" (disturbed)" if self.disturbed else "")


@dataclass
class EchoResult:
    """Every run of every target at every concurrency level, plus how they were produced."""

    seconds: float
    warmup: float
    levels: list[int]
    repeats: int
    text: str
    targets: list[EchoTarget]
    fastmcp_version: str = ""
    skipped: dict[str, str] = field(default_factory=dict)
    """Targets that could not be set up, with the reason."""
    settings: dict[str, str] = field(default_factory=dict)
    """What each Bridgehead target's settings resolve to (auth mode, audit, stateless, JSON)."""
    runs: dict[str, dict[int, list[LoadFigures]]] = field(default_factory=dict)
    completed: dict[str, int] = field(default_factory=dict)
    """Requests each target answered, warm-ups and discarded runs included."""
    audit_rows: dict[str, int] = field(default_factory=dict)
    discarded: int = 0

    def measured(self, key: str) -> bool:
        return key in self.runs and all(self.runs[key][level] for level in self.levels)

    def label(self, target: EchoTarget) -> str:
        if target.kind == "fastmcp" and self.fastmcp_version:
            return target.label.replace("fastmcp", f"fastmcp {self.fastmcp_version}", 1)
        return target.label

    def best(self, key: str, level: int) -> LoadFigures | None:
        """The repetition with the highest throughput, None when the target was not measured."""
        runs = self.runs.get(key, {}).get(level)
        return max(runs, key=lambda f: f.requests_per_second) if runs else None

    def spread(self, key: str, level: int) -> float:
        rates = [f.requests_per_second for f in self.runs[key][level]]
        return (max(rates) - min(rates)) / max(rates) if max(rates) else 0.0


P99_LEVELS = (16, 64)
_RATE = "requests_per_second"
_P99 = "p99_ms"


def _check(
    result: EchoResult,
    level: int,
    what: str,
    key: str,
    base: str,
    measure: str = _RATE,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Check:
    """``measure`` of target ``key`` divided by that of ``base`` at ``level``, their best runs."""
    mine, theirs = result.best(key, level), result.best(base, level)
    if mine is None or theirs is None:
        return Check(level, what, math.nan, minimum, maximum)
    return Check(
        level,
        what,
        ratio(getattr(mine, measure), getattr(theirs, measure)),
        minimum,
        maximum,
        errors=bool(mine.errors or theirs.errors),
        disturbed=max(mine.other_cpu, theirs.other_cpu) >= QUIET_SHARE,
    )


def issue_checks(result: EchoResult) -> list[Check]:
    """The issue's targets, level by level, and the comparisons it asks to report without a target."""
    checks = []
    for level in result.levels:
        check = partial(_check, result, level)
        checks += [
            check("Bridgehead OAuth req/s ÷ bare", BRIDGEHEAD_AUTH.key, FLOOR.key, minimum=0.5),
            check("Bridgehead no auth req/s ÷ bare", BRIDGEHEAD.key, FLOOR.key, minimum=0.6),
            check("Bridgehead OAuth req/s ÷ SDK", BRIDGEHEAD_AUTH.key, SDK.key, minimum=5.0),
        ]
        if level in P99_LEVELS:
            checks += [
                check("Bridgehead OAuth p99 ÷ bare p99", BRIDGEHEAD_AUTH.key, FLOOR.key, _P99, maximum=3.0),
                check("Bridgehead no auth p99 ÷ bare p99", BRIDGEHEAD.key, FLOOR.key, _P99, maximum=3.0),
            ]
        checks += [
            check("Bridgehead OAuth req/s ÷ fastmcp", BRIDGEHEAD_AUTH.key, FASTMCP.key),
            check("Bridgehead no auth req/s ÷ fastmcp", BRIDGEHEAD.key, FASTMCP.key),
            check("Bridgehead no auth req/s ÷ SDK", BRIDGEHEAD.key, SDK.key),
            check("Bridgehead session, no auth req/s ÷ SDK session", BRIDGEHEAD_SESSION.key, SDK_SESSION.key),
            check(
                "OAuth --workers 2 req/s ÷ 1 worker (both unpinned)",
                TWO_WORKERS.key,
                ONE_WORKER.key,
                minimum=1.6,
            ),
        ]
    return checks


def write_config(root: Path) -> Path:
    """The Bridgehead configuration every Bridgehead target shares; each gets its own data_dir from the environment."""
    config = root / "bridgehead.toml"
    config.write_text(
        "# Written by bench/echo_throughput.py: the echo tool of bench/echo_tools.py through a functions connector.\n"
        "[server]\n"
        'log_level = "warning"\n'
        "\n"
        "[auth]\n"
        "access_token_ttl = 86400  # outlives the whole benchmark\n"
        f'default_role = "{ROLE}"\n'
        f'tool_scopes = {{ echo = ["{SCOPE}"] }}\n'
        "\n"
        f"[auth.roles.{ROLE}]\n"
        'description = "May call the echo tool, nothing else."\n'
        'tools = ["echo"]\n'
        f'scopes = ["{SCOPE}", "offline_access"]\n'
        "\n"
        "[[connectors]]\n"
        'type = "functions"\n'
        'name = "bench"\n'
        'module = "bench.echo_tools"\n'
        f'search_path = ["{REPO_ROOT}"]\n'
    )
    return config


def _describe(config: Path, env: Mapping[str, str]) -> str:
    """What a Bridgehead target's settings resolve to, read back through Bridgehead's own loader."""
    settings = load_settings(config, environ=env)
    return (
        f"auth {settings.auth.mode}, audit {'on' if settings.audit.enabled else 'off'}, "
        f"{'stateless' if settings.mcp.stateless else 'sessions'}, "
        f"{'JSON' if settings.mcp.json_response else 'SSE'} responses, "
        f"fast path {'on' if settings.mcp.fast_path else 'off'}"
    )


def _add_user(config: Path, env: Mapping[str, str], password: str) -> None:
    """A local user with the role that may call echo, added with the CLI as an administrator would."""
    command = [*bridgehead_launcher(), "users", "add", USERNAME, "--role", ROLE, "--password-stdin"]
    result = subprocess.run(
        [*command, "--config", str(config)],
        input=password + "\n",
        env=dict(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"`bridgehead users add` failed: {result.stderr.strip() or result.stdout.strip()}")


def _settle(server: ServerProcess) -> None:
    """Wait until the server has finished starting (every worker) and sits idle."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(0.5)
        if server.cpu_seconds() - before < 0.025:
            return


def _audit_rows(data_dir: Path) -> int:
    """Audit events in a stopped Bridgehead's SQLite store."""
    with sqlite3.connect(data_dir / "bridgehead.db") as db:
        return int(db.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def measure(
    server: ServerProcess,
    target: EchoTarget,
    headers: Mapping[str, str],
    requests: Path,
    level: int,
    seconds: float,
    warmup: float,
    completed: dict[str, int],
) -> LoadFigures:
    """Warm up, then one measured wrk run; fails when the server has died."""
    url = server.base_url + "/mcp"
    load = partial(run_wrk, url, requests, headers, connections=level, script_args=(ECHO_TEXT,))
    warm = load(seconds=warmup)
    meter = CpuMeter(server.cpu_seconds, cores=target.cores)
    run = load(seconds=seconds)
    cpu = meter.read()
    if server.process.poll() is not None:
        raise RuntimeError(f"{target.label} exited with {server.process.returncode}; see {server.log}")
    completed[target.key] = completed.get(target.key, 0) + warm.requests + run.requests
    return dataclasses.replace(
        run, server_cpu=cpu.target, load_cpu=cpu.children, other_cpu=cpu.other, server_rss_mb=server.rss_mb()
    )


def run_echo(
    workdir: Path,
    *,
    levels: Sequence[int],
    seconds: float,
    warmup: float,
    repeats: int,
    progress: Callable[[str], None] = print,
) -> EchoResult:
    """Start every target, check each answers the echo, then measure them in turns ``repeats`` times."""
    root = workdir / "echo"
    root.mkdir(parents=True, exist_ok=True)
    config = write_config(root)
    requests = root / "requests.txt"
    write_echo_requests(requests, ECHO_TEXT)
    result = EchoResult(seconds, warmup, list(levels), repeats, ECHO_TEXT, list(TARGETS))

    fastmcp: Path | None = None
    try:
        progress("echo: preparing the fastmcp virtualenv")
        fastmcp, result.fastmcp_version = fastmcp_python(workdir)
    except SetupError as exc:
        result.skipped[FASTMCP.key] = str(exc).splitlines()[0]
        progress(f"echo: fastmcp will not be measured: {exc}")

    password = secrets.token_urlsafe(18)
    data_dirs: dict[str, Path] = {}
    with ExitStack() as stack:
        servers: dict[str, tuple[ServerProcess, dict[str, str]]] = {}
        for target in TARGETS:
            if target.key in result.skipped:
                continue
            progress(f"echo: starting {result.label(target)}")
            port = free_port()
            env = {**clean_environment(), **target.env}
            if target.kind == "bridgehead":
                data_dir = root / f"data-{target.key}"
                shutil.rmtree(data_dir, ignore_errors=True)
                env["BRIDGEHEAD_SERVER__DATA_DIR"] = str(data_dir)
                data_dirs[target.key] = data_dir
                result.settings[target.key] = _describe(config, env)
                if target.auth:
                    _add_user(config, env, password)
                command = bridgehead_command(config, port)
                if target.workers > 1:
                    command += ["--workers", str(target.workers)]
            else:
                python = fastmcp if target.kind == "fastmcp" else Path(sys.executable)
                command = [str(python), "-m", "bench.echo_servers", target.kind, "--port", str(port)]
                if target.session:
                    command.append("--session")
            log = root / f"server-{target.key}.log"
            server = stack.enter_context(pinned_server(command, env, port, log, cores=target.cores))
            headers = dict(REQUEST_HEADERS)
            if target.auth:
                check_refused(server.base_url, ECHO_TEXT)
                headers["Authorization"] = "Bearer " + access_token(
                    server.base_url, USERNAME, password, SCOPE
                )
            if target.session:
                headers["Mcp-Session-Id"] = open_session(server.base_url, headers)
            check_echo(server.base_url, headers, ECHO_TEXT)
            _settle(server)
            servers[target.key] = (server, headers)
        measured = [t for t in TARGETS if t.key in servers]
        result.runs = {t.key: {level: [] for level in levels} for t in measured}
        for repeat in range(repeats):
            for level in levels:
                shift = repeat % len(measured)
                for target in (*measured[shift:], *measured[:shift]):
                    server, headers = servers[target.key]
                    figures, discarded = undisturbed(
                        partial(
                            measure,
                            server,
                            target,
                            headers,
                            requests,
                            level,
                            seconds,
                            warmup,
                            result.completed,
                        )
                    )
                    result.runs[target.key][level].append(figures)
                    result.discarded += discarded
                    progress(
                        f"echo: run {repeat + 1}/{repeats}, concurrency {level}, {target.key}: "
                        f"{figures.requests_per_second:,.0f} req/s, p50 {figures.p50_ms:.2f} ms, "
                        f"p99 {figures.p99_ms:.2f} ms, server CPU {figures.server_cpu:.0%}, "
                        f"wrk CPU {figures.load_cpu:.0%}, errors {figures.errors}, "
                        f"other load {figures.other_cpu:.0%}"
                        + (f" ({discarded} disturbed run(s) discarded)" if discarded else "")
                    )
    # Read after the servers stopped, so every group commit of the audit log has landed.
    for key, data_dir in data_dirs.items():
        try:
            result.audit_rows[key] = _audit_rows(data_dir)
        except sqlite3.Error as exc:
            progress(f"echo: cannot count the audit events of {key}: {exc}")
    return result
