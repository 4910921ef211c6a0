"""The doctor's OAuth client against the official MCP conformance suite's client scenarios.

``conformance client --suite auth|backcompat|draft --command conformance/doctor-client``: the
suite starts a test server and authorization server per scenario, runs the adapter (which runs
``bridgehead doctor --profile spec``) on its URL and checks every request the doctor made. Every
scenario must pass except those in conformance/expected-failures.yml (empty), whose entries each
carry a reason that README.md's conformance table repeats. The three suites run side by side.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from tests.interop.conftest import REPO, NodePeers, node_peers

__all__ = ["node_peers"]

CONFORMANCE = "@modelcontextprotocol/conformance"
ADAPTER = REPO / "conformance" / "doctor-client"
BASELINE = REPO / "conformance" / "expected-failures.yml"
README = REPO / "README.md"
SUITES = ("auth", "backcompat", "draft")
ENTRY = re.compile(r"^\s*-\s*(?P<scenario>[\w./-]+)\s*(?:#\s*(?P<reason>.*?))?\s*$")
LISTED = re.compile(r"^\s+-\s+(?P<scenario>auth/[\w.-]+)\s+\[(?P<versions>[^\]]*)\]\s*$")
RESULT = re.compile(r"^(?P<name>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


def adapter_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("doctor_client", REPO / "conformance" / "doctor_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_baseline() -> dict[str, str]:
    """Scenario → reason for each entry of the ``client:`` list."""
    reasons: dict[str, str] = {}
    section = None
    for line in BASELINE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            section, _, rest = line.partition(":")
            assert rest.strip() in ("", "[]"), f"{BASELINE.name}: entries go one per line: {line!r}"
            continue
        entry = ENTRY.match(line)
        assert entry, f"{BASELINE.name}: not a baseline entry: {line!r}"
        if section == "client":
            reasons[entry["scenario"]] = entry["reason"] or ""
    return reasons


def suite_of(versions: str) -> str | None:
    """Which suite a listed auth scenario belongs to, by its spec versions."""
    tags = {v.strip() for v in versions.split(",")}
    if "extension" in tags:
        return None
    if "draft" in tags:
        return "draft"
    if tags == {"2025-03-26"}:
        return "backcompat"
    return "auth"


# -- the adapter's mapping (no Node needed) --------------------------------------------------------


def test_the_adapter_maps_scenarios_and_context_onto_doctor_options() -> None:
    adapter = adapter_module()
    argv, env = adapter.doctor_command("http://localhost:1/mcp", "auth/metadata-default", {}, python="py")
    assert argv[:5] == ["py", "-m", "bridgehead", "doctor", "http://localhost:1/mcp"]
    assert argv[argv.index("--profile") : argv.index("--profile") + 2] == ["--profile", "spec"]
    assert env == {}
    argv, env = adapter.doctor_command(
        "http://localhost:1/mcp", "auth/pre-registration", {"client_id": "c", "client_secret": "s"}
    )
    assert argv[argv.index("--client-id") + 1] == "c" and "s" not in argv  # the secret goes by environment
    assert env == {"BRIDGEHEAD_DOCTOR_CLIENT_SECRET": "s"}
    argv, _ = adapter.doctor_command("http://localhost:1/mcp", "auth/basic-cimd", {})
    assert argv[argv.index("--client-metadata-url") + 1] == adapter.CONFORMANCE_CIMD_URL
    argv, _ = adapter.doctor_command("http://localhost:1/mcp", "auth/scope-step-up", {})
    assert argv[argv.index("--call-tool") + 1] == "test-tool"


def test_the_adapter_is_executable() -> None:
    assert ADAPTER.stat().st_mode & 0o111, f"{ADAPTER} must be executable"
    assert ADAPTER.read_text().startswith("#!/bin/sh")


def test_every_expected_failure_has_a_reason_in_the_readme() -> None:
    reasons = read_baseline()
    assert all(reasons.values()), f"entries without a reason: {[s for s, r in reasons.items() if not r]}"
    readme = README.read_text()
    table = readme[readme.index("### The doctor's OAuth client (client scenarios)") :]
    for scenario, reason in reasons.items():
        assert f"`{scenario}`" in table and reason in table, f"README lacks {scenario}: {reason}"


# -- the suites ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteRuns:
    """The three suite runs: exit codes, output, and each scenario's checks."""

    returncodes: dict[str, int]
    output: dict[str, str]
    checks: dict[str, list[dict[str, Any]]]
    seconds: float

    def failed(self) -> dict[str, list[str]]:
        return {
            scenario: [
                f"{c['status']} {c['id']}: {c.get('errorMessage') or c.get('description')}"
                for c in checks
                if c["status"] in ("FAILURE", "WARNING")
            ]
            for scenario, checks in self.checks.items()
            if any(c["status"] in ("FAILURE", "WARNING") for c in checks)
        }


@pytest.fixture(scope="module")
def listed(node_peers: NodePeers) -> dict[str, str]:
    """Every auth client scenario of this version of the suite → the suite it belongs to."""
    done = node_peers.run(node_peers.command(CONFORMANCE, "conformance", "list", "--client"))
    assert done.returncode == 0, done.stderr
    found = {
        m["scenario"]: suite_of(m["versions"])
        for line in done.stdout.splitlines()
        if (m := LISTED.match(line))
    }
    return {scenario: suite for scenario, suite in found.items() if suite is not None}


@pytest.fixture(scope="module")
def runs(node_peers: NodePeers, tmp_path_factory: pytest.TempPathFactory) -> SuiteRuns:
    results = tmp_path_factory.mktemp("conformance-client")
    started = time.monotonic()
    processes = {
        suite: subprocess.Popen(
            node_peers.command(
                CONFORMANCE,
                "conformance",
                "client",
                "--suite",
                suite,
                "--command",
                str(ADAPTER),
                "--expected-failures",
                str(BASELINE),
                "--timeout",
                "60000",
                "--output-dir",
                str(results / suite),
            ),
            env=node_peers.env(),
            cwd=node_peers.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for suite in SUITES
    }
    output = {suite: process.communicate(timeout=240)[0] for suite, process in processes.items()}
    checks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(results.rglob("checks.json")):
        match = RESULT.match(path.parent.name)
        assert match, f"unexpected result folder {path.parent}"
        scenario = f"{path.parent.parent.name}/{match['name']}"
        assert scenario not in checks, f"{scenario} ran twice"
        checks[scenario] = json.loads(path.read_text())
    return SuiteRuns(
        {suite: process.returncode for suite, process in processes.items()},
        output,
        checks,
        time.monotonic() - started,
    )


@pytest.mark.node
@pytest.mark.timeout(300)
def test_every_scenario_of_the_three_suites_ran(listed: dict[str, str], runs: SuiteRuns) -> None:
    assert set(runs.checks) == set(listed), "\n".join(runs.output.values())
    assert {
        "auth/resource-mismatch",
        "auth/offline-access-scope",
        "auth/offline-access-not-supported",
    } <= set(runs.checks)
    unknown = set(read_baseline()) - set(listed)
    assert not unknown, f"expected-failures.yml names scenarios the suite does not have: {sorted(unknown)}"


@pytest.mark.node
@pytest.mark.timeout(300)
def test_only_expected_failures_fail(runs: SuiteRuns) -> None:
    failed = runs.failed()
    unexpected = set(failed) - set(read_baseline())
    assert not unexpected, "\n".join(f"{s}:\n    " + "\n    ".join(failed[s]) for s in sorted(unexpected))
    stale = set(read_baseline()) - set(failed)
    assert not stale, f"now passing, so delete these lines from expected-failures.yml: {sorted(stale)}"


@pytest.mark.node
@pytest.mark.timeout(300)
def test_the_suites_own_baseline_check_passes(runs: SuiteRuns) -> None:
    for suite, code in runs.returncodes.items():
        summary = runs.output[suite][runs.output[suite].find("=== SUMMARY ===") :]
        assert code == 0, f"{suite}:\n{summary or runs.output[suite][-4000:]}"
    assert runs.seconds < 150, f"the conformance suites took {runs.seconds:.0f}s"
