"""The official MCP conformance suite's server scenarios against ``bridgehead serve``.

Every scenario must pass except those in conformance-baseline.yml (the suite's own
baseline format), and those must fail only because Bridgehead lacks the optional
feature or the suite's fixture the entry names. A listed scenario that starts
passing fails the run, so the baseline stays honest.

The suite runs once against each configuration of /mcp (tests/interop/paths.py); the
baseline holds for each, the SDK path and the fast path give the same result for every
check, and the fast path is shown to have answered the suite's hot requests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import BridgeheadPool, NodePeers, ServedBridgehead
from tests.interop.paths import (
    FAST_PATH,
    PATH_IDS,
    PATHS,
    SDK_PATH,
    Handled,
    MCPPath,
    check_answered_by,
    hot_requests,
)

pytestmark = [pytest.mark.node, pytest.mark.timeout(300)]

CONFORMANCE = "@modelcontextprotocol/conformance"
BASELINE = Path(__file__).with_name("conformance-baseline.yml")
BASELINE_ENTRY = re.compile(r"^\s*-\s*(?P<scenario>[\w./-]+)\s*(?:#\s*(?P<reason>.*?))?\s*$")
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
LISTED_SCENARIO = re.compile(r"^\s+-\s+(?P<scenario>[\w./-]+)(?:\s+\[.*\])?\s*$")
# How a missing optional feature or fixture shows: the capability's methods do not exist,
# or the fixture tool is not there. Any other failure of a listed scenario is a bug.
MISSING_FEATURE = re.compile(
    r"MCP error -32601: Method not found$"
    r"|MCP error -32602: Unknown tool: '\w+'$"
    r"|^Tool '\w+' not found\. Available tools: "
)
# An entry whose reason starts so holds only where POSTs are answered with SSE streams.
SSE_RESPONSES_ONLY = "[sse-responses]"


def read_baseline(path: Path = BASELINE) -> dict[str, str]:
    """Scenario → reason for each entry of the ``server:`` list."""
    reasons: dict[str, str] = {}
    section = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            section = line.split(":")[0].strip()
            continue
        entry = BASELINE_ENTRY.match(line)
        assert entry, f"{path.name}: not a baseline entry: {line!r}"
        if section == "server":
            reasons[entry["scenario"]] = entry["reason"] or ""
    return reasons


def baseline_for(mcp_path: MCPPath, path: Path = BASELINE) -> dict[str, str]:
    """The entries that hold for one configuration of /mcp."""
    json_responses = mcp_path.mcp.get("json_response", False)
    return {
        scenario: reason
        for scenario, reason in read_baseline(path).items()
        if not (json_responses and reason.startswith(SSE_RESPONSES_ONLY))
    }


def write_baseline(entries: dict[str, str], target: Path) -> Path:
    """``entries`` as a baseline file in the suite's format, for ``--expected-failures``."""
    target.write_text(
        "server:\n" + "".join(f"  - {scenario}  # {reason}\n" for scenario, reason in entries.items())
    )
    return target


@dataclass(frozen=True)
class SuiteRun:
    """One run of the server suite: its exit code, its report, each scenario's checks, and who answered."""

    path: MCPPath
    baseline: dict[str, str]  # the entries of conformance-baseline.yml that hold for this configuration
    returncode: int
    report: str
    checks: dict[str, list[dict[str, Any]]]
    handled: list[Handled]

    def failed(self) -> set[str]:
        """Scenarios with a FAILURE or WARNING check (the suite's own rule for its baseline)."""
        return {
            scenario
            for scenario, checks in self.checks.items()
            if any(check["status"] in ("FAILURE", "WARNING") for check in checks)
        }

    def problems(self, scenario: str, statuses: tuple[str, ...] = ("FAILURE", "WARNING")) -> list[str]:
        return [
            f"{check['status']} {check['id']}: {check.get('errorMessage') or check.get('description')}"
            for check in self.checks[scenario]
            if check["status"] in statuses
        ]

    def explain(self, scenarios: set[str]) -> str:
        return "\n".join(f"{s}:\n    " + "\n    ".join(self.problems(s)) for s in sorted(scenarios))


@pytest.fixture(scope="module")
def listed_scenarios(node_peers: NodePeers) -> set[str]:
    """Every server scenario this version of the suite has (active and pending)."""
    done = node_peers.run(node_peers.command(CONFORMANCE, "conformance", "list", "--server"))
    assert done.returncode == 0, done.stderr
    scenarios = {m["scenario"] for line in done.stdout.splitlines() if (m := LISTED_SCENARIO.match(line))}
    assert scenarios, done.stdout
    return scenarios


def run_suite(node_peers: NodePeers, served: ServedBridgehead, workdir: Path) -> SuiteRun:
    """Every server scenario against ``served``, with its configuration's baseline; results land in ``workdir``."""
    baseline = baseline_for(served.mcp_path)
    expected_failures = write_baseline(baseline, workdir / "expected-failures.yml")
    results = workdir / "results"
    results.mkdir()
    handled_before = len(served.handled())
    command = node_peers.command(
        CONFORMANCE,
        "conformance",
        "server",
        "--url",
        served.mcp_url,
        "--suite",
        "all",
        "--expected-failures",
        str(expected_failures),
        "--output-dir",
        str(results),
    )
    done = node_peers.run(command, timeout=240)
    checks: dict[str, list[dict[str, Any]]] = {}
    for directory in sorted(results.iterdir()):
        match = RESULT_DIR.match(directory.name)
        assert match, f"unexpected result folder {directory.name}"
        assert match["scenario"] not in checks, f"{match['scenario']} ran twice"
        checks[match["scenario"]] = json.loads((directory / "checks.json").read_text())
    handled = served.handled()[handled_before:]
    return SuiteRun(served.mcp_path, baseline, done.returncode, done.stdout + done.stderr, checks, handled)


@pytest.fixture(scope="module")
def suite_runs(
    node_peers: NodePeers, bridgeheads: BridgeheadPool, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, SuiteRun]:
    """The suite against each configuration of /mcp, by configuration id."""
    return {
        path.id: run_suite(node_peers, bridgeheads[path], tmp_path_factory.mktemp(f"conformance-{path.id}"))
        for path in PATHS
    }


@pytest.fixture(params=PATHS, ids=PATH_IDS)
def suite_run(request: pytest.FixtureRequest, suite_runs: dict[str, SuiteRun]) -> SuiteRun:
    path: MCPPath = request.param
    return suite_runs[path.id]


def test_baseline_gives_a_reason_for_every_entry() -> None:
    reasons = read_baseline()
    assert reasons
    assert not [scenario for scenario, reason in reasons.items() if not reason], "entries without a reason"


def test_every_server_scenario_ran(listed_scenarios: set[str], suite_run: SuiteRun) -> None:
    assert set(suite_run.checks) == listed_scenarios, suite_run.report
    unknown = set(read_baseline()) - listed_scenarios
    assert not unknown, f"conformance-baseline.yml names scenarios the suite does not have: {sorted(unknown)}"


def test_only_baseline_scenarios_fail(suite_run: SuiteRun) -> None:
    unexpected = suite_run.failed() - set(suite_run.baseline)
    assert not unexpected, (
        f"scenarios failing that are not in conformance-baseline.yml:\n{suite_run.explain(unexpected)}"
    )


def test_baseline_scenarios_still_fail(suite_run: SuiteRun) -> None:
    stale = set(suite_run.baseline) - suite_run.failed()
    assert not stale, f"now passing, so delete these lines from conformance-baseline.yml: {sorted(stale)}"


def test_baseline_scenarios_fail_only_for_the_missing_feature(suite_run: SuiteRun) -> None:
    wrong_reason = {
        scenario
        for scenario in set(suite_run.baseline) & suite_run.failed()
        if any(
            not MISSING_FEATURE.search(problem.split(": ", 1)[1])
            for problem in suite_run.problems(scenario, ("FAILURE",))
        )
    }
    assert not wrong_reason, (
        f"listed scenarios failing for a reason other than a missing feature or fixture:\n"
        f"{suite_run.explain(wrong_reason)}"
    )


def test_the_suites_own_baseline_check_passes(suite_run: SuiteRun) -> None:
    summary = suite_run.report[suite_run.report.find("=== SUMMARY ===") :]
    assert suite_run.returncode == 0, summary


def test_hot_requests_took_the_configured_path(suite_run: SuiteRun) -> None:
    """In the fast-path run the fast path answered the suite's tools/call, tools/list and ping; elsewhere the SDK."""
    hot = hot_requests(suite_run.handled)
    check_answered_by(suite_run.path.fast, suite_run.path.id, hot)
    assert {item.method for item in hot} == {"tools/call", "tools/list", "ping"}, hot


def _outcomes(run: SuiteRun) -> dict[str, list[tuple[str, str, str]]]:
    """Each scenario's checks as (id, status, message), which must not depend on the path taken."""
    return {
        scenario: [(check["id"], check["status"], check.get("errorMessage") or "") for check in checks]
        for scenario, checks in run.checks.items()
    }


def test_sdk_path_and_fast_path_give_the_same_results(suite_runs: dict[str, SuiteRun]) -> None:
    sdk, fast = _outcomes(suite_runs[SDK_PATH.id]), _outcomes(suite_runs[FAST_PATH.id])
    assert set(sdk) == set(fast)
    differing = {
        scenario: (sdk[scenario], fast[scenario]) for scenario in sdk if sdk[scenario] != fast[scenario]
    }
    assert not differing, f"checks that differ between the SDK path and the fast path: {differing}"
    assert suite_runs[SDK_PATH.id].failed() == suite_runs[FAST_PATH.id].failed()
