"""``bridgehead doctor`` on the command line: the table, the JSON contract and the exit status."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import CliRunner

from bridgehead.cli import app
from bridgehead.doctor import CATALOG
from tests.conftest import RunningServer

runner = CliRunner()
CHECK_KEYS = {"id", "stage", "title", "status", "message", "evidence", "hint"}


def test_json_report_is_the_stable_schema(sample_server: RunningServer) -> None:
    result = runner.invoke(app, ["doctor", sample_server.mcp_url, "--json", "--timeout", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "bridgehead.doctor/1"
    assert report["target"] == sample_server.mcp_url
    assert report["exit_code"] == 0
    assert [c["id"] for c in report["checks"]] == [spec.id for spec in CATALOG]
    for check in report["checks"]:
        assert set(check) == CHECK_KEYS
        assert check["status"] in {"pass", "warn", "fail", "skip", "n/a"}
        assert isinstance(check["evidence"], list)
    assert sum(report["counts"].values()) == len(CATALOG)
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["tools.search"]["status"] == "pass"
    assert by_id["url.https"]["status"] == "warn" and by_id["url.https"]["hint"]


def test_failures_exit_1_and_show_evidence_and_hint(broken_server: Callable[..., str]) -> None:
    url = broken_server(no_offline_access=True)
    result = runner.invoke(app, ["doctor", url, "--timeout", "5"])
    assert result.exit_code == 1, result.output
    assert "auth.offline_access" in result.stdout
    assert "fix:" in result.stdout and "offline_access" in result.stdout
    assert "FAILED" in result.stdout


def test_auth_none_against_an_oauth_server_fails_transport(broken_server: Callable[..., str]) -> None:
    result = runner.invoke(app, ["doctor", broken_server(), "--auth", "none", "--json", "--timeout", "5"])
    assert result.exit_code == 1
    by_id = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert by_id["transport.streamable_http"]["status"] == "fail"
    assert "--auth none" in by_id["transport.streamable_http"]["message"]
    assert by_id["auth.challenge"]["status"] == "n/a"


def test_unreachable_server_fails_url_endpoint() -> None:
    from tests.conftest import free_port

    result = runner.invoke(app, ["doctor", f"http://127.0.0.1:{free_port()}/mcp", "--json", "--timeout", "2"])
    assert result.exit_code == 1
    by_id = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert by_id["url.endpoint"]["status"] == "fail"
    assert by_id["tools.list"]["status"] == "skip" and "url.endpoint" in by_id["tools.list"]["message"]


def test_oauth_client_options(
    broken_server: Callable[..., str], metadata_document: Callable[..., str]
) -> None:
    url = broken_server(scoped_tools=True)
    call = ["--call-tool", "create_note", "--call-arguments", '{"title": "t", "body": "b"}']
    result = runner.invoke(app, ["doctor", url, "--json", "--timeout", "5", "--profile", "spec", *call])
    assert result.exit_code == 0, result.output
    by_id = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert by_id["oauth.step_up"]["status"] == "pass" and by_id["tools.call"]["status"] == "pass"
    assert by_id["oauth.redirect_uris"]["status"] == "n/a"  # a ChatGPT probe, not run as a spec client
    result = runner.invoke(
        app, ["doctor", broken_server(), "--json", "--client-metadata-url", metadata_document()]
    )
    assert result.exit_code == 0, result.output
    assert {c["id"]: c for c in json.loads(result.stdout)["checks"]}["oauth.cimd"]["status"] == "pass"


def test_bad_oauth_client_options_are_refused() -> None:
    for args in (
        ["--call-arguments", "[1]"],
        ["--call-arguments", "{oops"],
        ["--client-metadata-url", "http://example.com/client.json"],
    ):
        result = runner.invoke(app, ["doctor", "http://127.0.0.1:1/mcp", *args])
        assert result.exit_code == 2, result.output
