"""Servers under test as real processes pinned to the server core, and what they cost in CPU."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bench.machine import SERVER_CORE, prioritized

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120  # Bridgehead checks the whole corpus for changes before it listens
STOP_TIMEOUT_S = 15
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bridgehead_launcher() -> list[str]:
    """The ``bridgehead`` command of this environment (its console script, as a deployment runs it)."""
    script = Path(sys.executable).with_name("bridgehead")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bridgehead"]


def bridgehead_command(config: Path, port: int) -> list[str]:
    """``bridgehead serve`` as a deployment runs it."""
    return [*bridgehead_launcher(), "serve", "--config", str(config), "--port", str(port)]


@dataclass
class ServerProcess:
    """A running server: its process and port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The process and its live descendants (the worker processes of ``serve --workers N``)."""
        return [self.process.pid, *_descendants(self.process.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and its live descendants, all threads included."""
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            # Fields 14 and 15 of stat(5), counted after the ")" that ends the command name.
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        return total

    def rss_mb(self) -> float:
        """Resident memory of the process and its live descendants in MiB."""
        total, found = 0.0, False
        for pid in self.pids():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                    found = True
        return total if found else float("nan")


def _descendants(root: int) -> list[int]:
    """Every live process below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


@contextmanager
def pinned_server(
    command: Sequence[str],
    env: Mapping[str, str],
    port: int,
    log: Path,
    cores: frozenset[int] = frozenset({SERVER_CORE}),
) -> Iterator[ServerProcess]:
    """Start ``command`` on the server core (or ``cores``), wait until GET /healthz answers, stop it afterwards."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            prioritized(["taskset", "-c", ",".join(map(str, sorted(cores))), *command]),
            env=dict(env),
            cwd=REPO_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        server = ServerProcess(process, port, log)
        try:
            _wait_until_healthy(server)
            yield server
        finally:
            _stop(process)


def _wait_until_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}; see {server.log}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer /healthz within {START_TIMEOUT_S}s; see {server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # Worker processes are stopped by their parent; any it leaves behind are killed here.
    workers = {pid: _start_time(pid) for pid in _descendants(process.pid)}
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)
    for pid, started in workers.items():
        # The same start time: still that worker, not a new process that reused its id.
        if started is not None and _start_time(pid) == started:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _start_time(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
