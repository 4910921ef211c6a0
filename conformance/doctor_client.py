"""The MCP conformance suite's client adapter for ``bridgehead doctor``.

``conformance client --command conformance/doctor-client`` starts, for each scenario, a test
server and authorization server with one behaviour, appends the server's URL to the command, and
sets ``MCP_CONFORMANCE_SCENARIO`` (the scenario's name) and, for some scenarios,
``MCP_CONFORMANCE_CONTEXT`` (JSON, e.g. pre-registered client credentials). This maps both onto
doctor options and runs ``bridgehead doctor URL --profile spec --json``: the spec profile sends
what a conformant MCP client sends and nothing else (no ChatGPT-specific probes, which would be
extra authorization requests the scenarios count).

The exit status is the doctor's own health, not its verdict on the test server (those servers are
minimal on purpose and fail many of the doctor's ChatGPT checks): 0 when the doctor produced a
report, 1 when it did not or when a stage of the doctor itself failed. The suite judges the
requests it saw. Standard library only; run with the Python that has Bridgehead installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

# The metadata document URL the suite's auth/basic-cimd scenario expects as the client_id (its
# authorization server does not fetch it, and neither does the doctor).
CONFORMANCE_CIMD_URL = "https://conformance-test.local/client-metadata.json"
SCENARIO_OPTIONS: dict[str, list[str]] = {
    "auth/basic-cimd": ["--client-metadata-url", CONFORMANCE_CIMD_URL],
    # Only a tools/call needs the scope the step-up asks for; the suite's server has one tool.
    "auth/scope-step-up": ["--call-tool", "test-tool"],
}
DOCTOR_FAULT = "the doctor itself failed"


def doctor_command(
    url: str, scenario: str, context: Mapping[str, Any], python: str = sys.executable
) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) of the doctor run for one scenario."""
    argv = [python, "-m", "bridgehead", "doctor", url, "--json", "--profile", "spec", "--timeout", "5"]
    argv += SCENARIO_OPTIONS.get(scenario, [])
    env: dict[str, str] = {}
    if context.get("client_id"):
        argv += ["--client-id", str(context["client_id"])]
    if context.get("client_secret"):
        env["BRIDGEHEAD_DOCTOR_CLIENT_SECRET"] = str(context["client_secret"])
    return argv, env


def main(args: Sequence[str]) -> int:
    if not args:
        print("usage: doctor-client URL (the conformance suite appends it)", file=sys.stderr)
        return 2
    url = args[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    argv, env = doctor_command(url, scenario, context)
    print(f"scenario {scenario or '(none)'}: {' '.join(argv[2:])}", file=sys.stderr)
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"the doctor produced no report (exit {done.returncode})", file=sys.stderr)
        return 1
    faults = [c["id"] for c in report.get("checks", []) if DOCTOR_FAULT in str(c.get("message", ""))]
    if faults:
        print(f"{DOCTOR_FAULT} in: {', '.join(faults)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
