"""What an idle session and an open SSE stream cost the server in memory, and whether idle sessions expire.

A real ``bridgehead serve`` process (stateful Streamable HTTP, default settings,
no auth) runs pinned to the server core; this process is the client, on the
load core, so none of its memory is counted. The server's resident memory
(VmRSS) is read after a one-session warm-up, with N sessions just opened
(initialize + notifications/initialized each, over keep-alive connections),
once those sessions have been idle past the in-memory warm period, once a
second N have been opened and gone idle too (memory that sessions leaving it
gave back is reused by the process, not returned to the OS, so the second
batch shows the working size), and with one standalone GET SSE stream open
for each of the first N sessions (a sample of which must then still answer).
Those streams may fit in memory that sessions gave back when they left it, so
a second server, whose sessions stay in memory only briefly and so never reach
that high-water mark, shows what N streams add on their own. A third server
with a short idle timeout shows that idle sessions end: their ids answer 404,
and what stays resident is the high-water mark of the sessions that were in
memory at once.
Every figure is a difference of VmRSS readings of the same server divided by
the number of sessions (or streams), next to the budget of 20 KiB each.

``python -m bench.sessions [--sessions 10000] [--expiry-seconds 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import uvloop

from bench.machine import LOAD_CORE, SetupError, pin_to, require_cores, source_revision
from bench.mcp_client import PROTOCOL_VERSION, REQUEST_HEADERS
from bench.processes import ServerProcess, bridgehead_command, free_port, pinned_server
from bench.workspace import clean_environment
from bridgehead.config import load_settings

BUDGET_KIB = 20.0
SETTLE_MAX_S = 30.0
SETTLE_STEP_S = 1.0
SETTLE_TOLERANCE_KIB = 256
SAMPLE = 50  # sessions checked by a request after each phase
STREAM_RUN_MEMORY_IDLE_S = 2.0  # the streams run's in-memory period: few sessions are in memory at once
FDS_PER_STREAM = 1  # the server holds one socket per stream; the client too
FD_HEADROOM = 512


@dataclass(frozen=True)
class Reading:
    """The server's resident memory at one point of the run, and how many things it held then."""

    label: str
    rss_kib: int
    count: int
    baseline_kib: int

    @property
    def kib_each(self) -> float:
        return (self.rss_kib - self.baseline_kib) / self.count if self.count else float("nan")


@dataclass
class SessionFigures:
    """Everything one run measured."""

    sessions: int
    memory_idle_s: float
    idle_timeout_s: float
    expiry_timeout_s: float
    readings: list[Reading] = field(default_factory=list)
    reopened: str = ""
    streamed: str = ""
    streamed_alone: str = ""
    expired: str = ""
    open_seconds: float = 0.0
    stopped: str = ""
    stream_seconds: float = 0.0
    nofile: str = ""


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def settled_rss(pid: int) -> int:
    """VmRSS once it stops moving (two readings a second apart within the tolerance), or after SETTLE_MAX_S."""
    deadline = time.monotonic() + SETTLE_MAX_S
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_STEP_S)
        now = rss_kib(pid)
        if abs(now - last) <= SETTLE_TOLERANCE_KIB:
            return now
        last = now
    return last


def open_files_limit(pid: int) -> str:
    """The 'Max open files' soft limit of a running process, as /proc shows it."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "unknown"


def raise_open_files(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit (children inherit it); returns the new value."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if target < needed:
        raise SetupError(
            f"{needed:,} open files are needed but the hard limit is {hard:,}; raise it (ulimit -Hn, "
            "or LimitNOFILE= in a systemd unit) or pass a smaller --sessions"
        )
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def write_config(root: Path) -> Path:
    """Bridgehead's defaults (sample corpus, SQLite, no auth), quiet logs, data under ``root``."""
    config = root / "bridgehead.toml"
    config.write_text(
        "# Written by bench/sessions.py: the defaults, with logs at warning.\n"
        "[server]\n"
        f'data_dir = "{root / "data"}"\n'
        'log_level = "warning"\n'
    )
    return config


def _initialize_body() -> bytes:
    return orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bridgehead-bench-sessions", "version": "1"},
            },
        }
    )


_INITIALIZED = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
_TOOLS_LIST = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})


def _session_headers(session_id: str) -> dict[str, str]:
    return {**REQUEST_HEADERS, "Mcp-Session-Id": session_id}


async def post(client: httpx.AsyncClient, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    """POST /mcp, once more on a fresh connection when the server had closed the kept-alive one.

    uvicorn closes a connection idle for 5 s; on a busy shared machine the client
    can pick such a connection just as it is closed, before the request is read.
    """
    try:
        return await client.post("/mcp", content=body, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return await client.post("/mcp", content=body, headers=headers)


async def open_sessions(base_url: str, count: int, concurrency: int) -> list[str]:
    """Open ``count`` sessions with ``concurrency`` keep-alive connections; returns their ids."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    body = _initialize_body()
    ids: list[str] = []
    remaining = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in remaining:
            opened = await post(client, body, REQUEST_HEADERS)
            session_id = opened.headers.get("mcp-session-id")
            if opened.status_code != 200 or not session_id or b'"result"' not in opened.content:
                raise RuntimeError(f"initialize failed: {opened.status_code} {opened.content[:300]!r}")
            notified = await post(client, _INITIALIZED, _session_headers(session_id))
            if notified.status_code != 202:
                raise RuntimeError(f"notifications/initialized got {notified.status_code}")
            ids.append(session_id)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return ids


async def statuses(base_url: str, session_ids: list[str]) -> list[int]:
    """The HTTP status of a tools/list on each session (200 with tools, or the error status)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        found = []
        for session_id in session_ids:
            response = await post(client, _TOOLS_LIST, _session_headers(session_id))
            ok = response.status_code == 200 and b'"tools"' in response.content
            found.append(200 if ok else (response.status_code if response.status_code != 200 else 500))
        return found


@dataclass
class Streams:
    """Open standalone GET SSE streams, one socket each."""

    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    async def close(self) -> None:
        for _, writer in self.connections:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for _, w in self.connections), return_exceptions=True)
        self.connections.clear()


async def open_streams(port: int, session_ids: list[str], concurrency: int, streams: Streams) -> None:
    """Open the standalone SSE stream (GET /mcp) of every session; each stays open in ``streams``.

    Plain sockets: the client then holds 10,000 streams in a few tens of MiB, and the
    request is the one any client sends. Only the response head is read.
    """
    remaining = iter(session_ids)

    async def worker() -> None:
        for session_id in remaining:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                (
                    f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                    f"Mcp-Session-Id: {session_id}\r\nMCP-Protocol-Version: {PROTOCOL_VERSION}\r\n\r\n"
                ).encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" " or b"text/event-stream" not in head.lower():
                writer.close()
                raise RuntimeError(f"GET /mcp for session {session_id[:12]} answered {head[:300]!r}")
            streams.connections.append((reader, writer))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def summarize_statuses(found: list[int], expected: int) -> str:
    counts: dict[int, int] = {}
    for status in found:
        counts[status] = counts.get(status, 0) + 1
    shown = ", ".join(f"{n} answered {s}" for s, n in sorted(counts.items()))
    verdict = "as expected" if counts.get(expected, 0) == len(found) else "NOT as expected"
    return f"{len(found)} sampled: {shown} ({verdict}: {expected})"


@contextmanager
def bridgehead_server(
    root: Path, name: str, env: Mapping[str, str], progress: Callable[[str], None]
) -> Iterator[ServerProcess]:
    shutil.rmtree(root, ignore_errors=True)  # a fresh store: no sessions from an earlier run
    root.mkdir(parents=True)
    config = write_config(root)
    port = free_port()
    progress(f"sessions: starting {name}")
    with pinned_server(
        bridgehead_command(config, port), {**clean_environment(), **env}, port, root / f"{name}.log"
    ) as server:
        yield server


def with_streams(server: ServerProcess, ids: list[str], concurrency: int) -> tuple[int, float, list[int]]:
    """Open the GET stream of every session in ``ids``; returns the settled RSS with them open, how long
    opening took, and the tools/list status of a sample of those sessions (asked after the reading:
    answering brings them back into memory)."""

    async def run() -> tuple[int, float, list[int]]:
        streams = Streams()
        began = time.monotonic()
        try:
            await open_streams(server.port, ids, concurrency, streams)
            took = time.monotonic() - began
            rss = await asyncio.to_thread(settled_rss, server.process.pid)
            answered = await statuses(server.base_url, random.Random(3).sample(ids, min(SAMPLE, len(ids))))
            return rss, took, answered
        finally:
            await streams.close()

    return uvloop.run(run())


def warm_up(server: ServerProcess) -> int:
    """One session through initialize, a tools/list, a short GET stream and DELETE; returns the settled RSS.

    The session is deleted so that all of ``mcp.max_sessions`` (10,000 by default) is left for the run.
    """

    async def once() -> None:
        (session_id,) = await open_sessions(server.base_url, 1, 1)
        if await statuses(server.base_url, [session_id]) != [200]:
            raise RuntimeError("tools/list on the warm-up session failed")
        streams = Streams()
        await open_streams(server.port, [session_id], 1, streams)
        await streams.close()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            deleted = await client.delete("/mcp", headers=_session_headers(session_id))
        if deleted.status_code != 200:
            raise RuntimeError(f"DELETE of the warm-up session answered {deleted.status_code}")

    uvloop.run(once())
    return settled_rss(server.process.pid)


def measure(
    figures: SessionFigures,
    workdir: Path,
    concurrency: int,
    idle_wait: float,
    progress: Callable[[str], None],
) -> None:
    """The whole run, filling in ``figures`` as it goes: the default server (sessions, idle sessions,
    streams), the streams server, then the short-timeout server."""
    count = figures.sessions
    with bridgehead_server(workdir / "defaults", "defaults", {}, progress) as server:
        pid = server.process.pid
        figures.nofile = open_files_limit(pid)
        base = warm_up(server)
        figures.readings.append(Reading("after warm-up (1 session, deleted)", base, 0, base))
        progress(f"sessions: baseline {base / 1024:.1f} MiB; opening {count:,} sessions")
        started = time.monotonic()
        ids = uvloop.run(open_sessions(server.base_url, count, concurrency))
        figures.open_seconds = time.monotonic() - started
        label = f"{count:,} sessions just opened"
        if figures.open_seconds > figures.memory_idle_s:
            label += f" (over {figures.open_seconds:.0f} s: the earlier ones had left memory already)"
        figures.readings.append(Reading(label, settled_rss(pid), count, base))
        progress(f"sessions: opened in {figures.open_seconds:.0f} s; leaving them idle {idle_wait:.0f} s")
        time.sleep(idle_wait)
        figures.readings.append(
            Reading(f"{count:,} sessions idle for {idle_wait:.0f} s", settled_rss(pid), count, base)
        )
        # Memory the first sessions gave back is reused, not returned to the OS: a second batch
        # shows what idle sessions cost once the process has reached its working size.
        progress(f"sessions: opening {count:,} more")
        more = uvloop.run(open_sessions(server.base_url, count, concurrency))
        time.sleep(idle_wait)
        idle = Reading(
            f"{2 * count:,} sessions idle (a second {count:,} opened)", settled_rss(pid), 2 * count, base
        )
        figures.readings.append(idle)
        half = min(SAMPLE // 2, count)
        sample = random.Random(1).sample(ids, half) + random.Random(1).sample(more, half)
        figures.reopened = summarize_statuses(uvloop.run(statuses(server.base_url, sample)), 200)
        progress(f"sessions: idle sessions answer: {figures.reopened}; opening {count:,} GET streams")

        with_open, figures.stream_seconds, answered = with_streams(server, ids, concurrency)
        figures.streamed = summarize_statuses(answered, 200)
        figures.readings.append(
            Reading(
                f"{count:,} open GET SSE streams, over the previous reading", with_open, count, idle.rss_kib
            )
        )
    # Above, the streams may fit in memory the sessions gave back when they left it (the process keeps
    # it): a server whose sessions leave memory after STREAM_RUN_MEMORY_IDLE_S never holds many at once,
    # so what its streams add is their own cost.
    brief_env = {"BRIDGEHEAD_MCP__SESSION_MEMORY_IDLE_SECONDS": f"{STREAM_RUN_MEMORY_IDLE_S:g}"}
    with bridgehead_server(workdir / "streams", "streams", brief_env, progress) as server:
        pid = server.process.pid
        base = warm_up(server)
        ids = uvloop.run(open_sessions(server.base_url, count, concurrency))
        time.sleep(STREAM_RUN_MEMORY_IDLE_S + 5.0)
        idle = Reading(
            f"streams run ({STREAM_RUN_MEMORY_IDLE_S:g} s in memory): {count:,} sessions idle",
            settled_rss(pid),
            count,
            base,
        )
        figures.readings.append(idle)
        progress(f"sessions: streams run: opening {count:,} GET streams")
        with_open, _, answered = with_streams(server, ids, concurrency)
        figures.streamed_alone = summarize_statuses(answered, 200)
        figures.readings += [
            Reading(
                f"streams run: {count:,} open GET SSE streams, over the previous reading",
                with_open,
                count,
                idle.rss_kib,
            ),
            Reading(
                f"streams run: {count:,} idle sessions with an open stream each, over warm-up",
                with_open,
                count,
                base,
            ),
        ]
    expiry = figures.expiry_timeout_s
    expiry_env = {"BRIDGEHEAD_MCP__SESSION_IDLE_TIMEOUT": f"{expiry:g}"}
    with bridgehead_server(workdir / "expiry", "expiry", expiry_env, progress) as server:
        pid = server.process.pid
        base = warm_up(server)
        ids = uvloop.run(open_sessions(server.base_url, count, concurrency))
        wait = expiry + 5.0
        progress(f"sessions: {count:,} sessions on the {expiry:g} s server; waiting {wait:.0f} s")
        time.sleep(wait)
        label = f"expiry run ({expiry:g} s timeout): {wait:.0f} s after the last session opened"
        figures.readings.append(Reading(label, settled_rss(pid), count, base))
        sample = random.Random(2).sample(ids, min(SAMPLE, len(ids)))
        figures.expired = summarize_statuses(uvloop.run(statuses(server.base_url, sample)), 404)


def render(figures: SessionFigures, command: str) -> str:
    lines = [
        "## Sessions: server memory per idle session and per open SSE stream",
        "",
        f"Command: `{command}`; source: {source_revision()}",
        "",
        f"Defaults: sessions leave memory after {figures.memory_idle_s:g} s idle and expire after "
        f"{figures.idle_timeout_s:g} s; server open-files limit {figures.nofile}. "
        f"{figures.sessions:,} sessions opened in {figures.open_seconds:.0f} s, "
        f"their streams in {figures.stream_seconds:.0f} s.",
        "",
        "| server state | RSS (MiB) | KiB each over warm-up | vs 20 KiB budget |",
        "|---|---:|---:|---:|",
    ]
    for reading in figures.readings:
        each = "" if not reading.count else f"{reading.kib_each:.1f}"
        versus = "" if not reading.count else f"{reading.kib_each / BUDGET_KIB:.2f}x"
        lines.append(f"| {reading.label} | {reading.rss_kib / 1024:.1f} | {each} | {versus} |")
    lines += [
        "",
        f"- Idle sessions, after the wait, answer tools/list: {figures.reopened}",
        f"- Sessions with an open GET stream answer tools/list: {figures.streamed}; "
        f"in the streams run: {figures.streamed_alone}",
        f"- Sessions past the {figures.expiry_timeout_s:g} s idle timeout: {figures.expired}",
    ]
    if figures.stopped:
        lines.append(f"- **The run stopped early**: {figures.stopped}")
    return "\n".join(lines)


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sessions",
        description="Server memory per idle session and per open SSE stream; idle expiry.",
    )
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions (and streams) to open")
    parser.add_argument("--concurrency", type=int, default=32, help="client connections opening them")
    parser.add_argument(
        "--idle-wait",
        type=float,
        help="seconds to leave the sessions idle (default: the in-memory warm period + 5 s)",
    )
    parser.add_argument(
        "--expiry-seconds", type=float, default=30.0, help="idle timeout of the expiry run's server"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bridgehead-bench" / "sessions",
        help="stores and server logs go here",
    )
    args = parser.parse_args(argv)
    command = " ".join(["python -m bench.sessions", *(sys.argv[1:] if argv is None else argv)])
    try:
        require_cores()
        limit = raise_open_files(args.sessions * FDS_PER_STREAM + FD_HEADROOM)
    except SetupError as exc:
        print(f"bench.sessions: cannot run: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    progress(f"sessions: open-files limit {limit:,} (the server inherits it)")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(write_config(workdir), environ={})
    memory_idle = settings.mcp.memory_idle_seconds()
    figures = SessionFigures(
        args.sessions, memory_idle, settings.mcp.session_idle_timeout, args.expiry_seconds
    )
    idle_wait = args.idle_wait if args.idle_wait is not None else memory_idle + 5.0
    previous = pin_to({LOAD_CORE})
    try:
        measure(figures, workdir, args.concurrency, idle_wait, progress)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        figures.stopped = f"{type(exc).__name__}: {exc}"
    finally:
        pin_to(previous)
    print(render(figures, command))
    if figures.stopped:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
