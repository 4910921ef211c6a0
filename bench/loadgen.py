"""Drive `wrk` on its own core and read back throughput, latency percentiles and its own CPU use."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.machine import LOAD_CORE, prioritized
from bench.stats import LoadFigures

SCRIPT = Path(__file__).resolve().parent / "tools_call.lua"
REQUEST_TIMEOUT_S = 10
_MARK = "WRK_SUMMARY "


class LoadError(Exception):
    """wrk failed or reported nothing."""


def run_wrk(
    url: str,
    bodies: Path,
    headers: Mapping[str, str],
    *,
    connections: int,
    seconds: float,
    script_args: Sequence[str] = (),
) -> LoadFigures:
    """One closed-loop run: ``connections`` connections, each sending its next request as soon as one returns.

    wrk runs with one thread pinned to the load core. Measure its CPU use around
    the call (machine.CpuMeter) to show whether it could have gone faster. ``tools_call.lua`` gets
    ``bodies`` and then ``script_args`` (the text every answer must carry) as its arguments.
    """
    command = prioritized([
        "taskset", "-c", str(LOAD_CORE),
        "wrk", "--threads", "1", "--connections", str(connections), "--duration", f"{max(1, round(seconds))}s",
        "--timeout", f"{REQUEST_TIMEOUT_S}s", "--script", str(SCRIPT),
    ])  # fmt: skip
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command += [url, "--", str(bodies), *script_args]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_S + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk did not finish: {' '.join(command)}") from exc
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(_MARK)), None)
    if result.returncode or line is None:
        raise LoadError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    summary = json.loads(line[len(_MARK) :])
    # bad_responses already counts every non-200 answer, so wrk's status_errors is not added again.
    errors = sum(
        summary[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts", "bad_responses")
    )
    return LoadFigures(
        concurrency=connections,
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=int(errors),
    )
