"""The official MCP conformance suite's server scenarios against ``bridgehead serve``.

Every scenario must pass except those in conformance-baseline.yml (the suite's own
baseline format), and those must fail only because Bridgehead lacks the optional
feature or the suite's fixture the entry names. A listed scenario that starts
passing fails the run, so the baseline stays honest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import NodePeers, ServedBridgehead

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


@dataclass(frozen=True)
class SuiteRun:
    """One run of the server suite: its exit code, its report, and each scenario's checks."""

    returncode: int
    report: str
    checks: dict[str, list[dict[str, Any]]]

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


@pytest.fixture(scope="module")
def suite_run(
    node_peers: NodePeers, bridgehead: ServedBridgehead, tmp_path_factory: pytest.TempPathFactory
) -> SuiteRun:
    results = tmp_path_factory.mktemp("conformance")
    command = node_peers.command(
        CONFORMANCE,
        "conformance",
        "server",
        "--url",
        bridgehead.mcp_url,
        "--suite",
        "all",
        "--expected-failures",
        str(BASELINE),
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
    return SuiteRun(done.returncode, done.stdout + done.stderr, checks)


def test_baseline_gives_a_reason_for_every_entry() -> None:
    reasons = read_baseline()
    assert reasons
    assert not [scenario for scenario, reason in reasons.items() if not reason], "entries without a reason"


def test_every_server_scenario_ran(listed_scenarios: set[str], suite_run: SuiteRun) -> None:
    assert set(suite_run.checks) == listed_scenarios, suite_run.report
    unknown = set(read_baseline()) - listed_scenarios
    assert not unknown, f"conformance-baseline.yml names scenarios the suite does not have: {sorted(unknown)}"


def test_only_baseline_scenarios_fail(suite_run: SuiteRun) -> None:
    unexpected = suite_run.failed() - set(read_baseline())
    assert not unexpected, (
        f"scenarios failing that are not in conformance-baseline.yml:\n{suite_run.explain(unexpected)}"
    )


def test_baseline_scenarios_still_fail(suite_run: SuiteRun) -> None:
    stale = set(read_baseline()) - suite_run.failed()
    assert not stale, f"now passing, so delete these lines from conformance-baseline.yml: {sorted(stale)}"


def test_baseline_scenarios_fail_only_for_the_missing_feature(suite_run: SuiteRun) -> None:
    wrong_reason = {
        scenario
        for scenario in set(read_baseline()) & suite_run.failed()
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
