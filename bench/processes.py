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
from contextlib import contextmanager
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


def bridgehead_command(config: Path, port: int) -> list[str]:
    """``bridgehead serve`` as a deployment runs it (the console script of this environment)."""
    script = Path(sys.executable).with_name("bridgehead")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "bridgehead"]
    return [*launcher, "serve", "--config", str(config), "--port", str(port)]


@dataclass
class ServerProcess:
    """A running server: its process and port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process, all threads included."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # Fields 14 and 15 of stat(5), counted after the ")" that ends the command name.
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident memory of the process in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def pinned_server(
    command: Sequence[str], env: Mapping[str, str], port: int, log: Path
) -> Iterator[ServerProcess]:
    """Start ``command`` on the server core, wait until GET /healthz answers, stop it afterwards."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            prioritized(["taskset", "-c", str(SERVER_CORE), *command]),
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
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)
