"""The check catalog, the report model and its JSON contract."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from bridgehead.doctor import CATALOG, Report, Status, render
from bridgehead.doctor.report import excerpt, redact

STAGES = ["url", "transport", "auth", "oauth", "tools"]


def test_catalog_ids_are_unique_and_follow_the_stages() -> None:
    ids = [spec.id for spec in CATALOG]
    assert len(ids) == len(set(ids))
    for spec in CATALOG:
        assert spec.id.split(".")[0] == spec.stage
    # Catalog order is the order of ChatGPT's connection flow.
    order = [STAGES.index(spec.stage) for spec in CATALOG]
    assert order == sorted(order)


def test_unrecorded_checks_are_reported_as_skipped_in_catalog_order() -> None:
    report = Report("https://mcp.example.com/mcp")
    report.record("tools.list", Status.PASS, "ok")
    report.record("url.https", Status.WARN, "plain http")
    assert [r.id for r in report.checks] == [spec.id for spec in CATALOG]
    assert report.checks[0].status is Status.WARN
    assert report.get("auth.pkce") is None
    assert next(r for r in report.checks if r.id == "auth.pkce").status is Status.SKIP
    assert report.exit_code == 0
    report.record("auth.pkce", Status.FAIL, "no S256")
    assert report.exit_code == 1
    assert report.first_failed("auth.registration", "auth.pkce") == "auth.pkce"


def test_unknown_check_ids_are_refused() -> None:
    with pytest.raises(KeyError):
        Report("x").record("tools.made_up", Status.PASS, "")


def test_json_contract() -> None:
    report = Report("https://mcp.example.com/mcp")
    report.record("url.https", Status.PASS, "ok", evidence=["TLS verified"])
    data = json.loads(report.to_json())
    assert set(data) == {"schema", "target", "exit_code", "counts", "checks"}
    assert data["checks"][0] == {
        "id": "url.https",
        "stage": "url",
        "title": "HTTPS with a valid certificate",
        "status": "pass",
        "message": "ok",
        "evidence": ["TLS verified"],
        "hint": None,
    }
    assert data["counts"]["pass"] == 1 and data["counts"]["skip"] == len(CATALOG) - 1


def test_secrets_never_reach_the_evidence() -> None:
    tokens = {
        "access_token": "eyJhbGciOi",
        "refresh_token": "r-123",
        "scope": "a b",
        "nested": [{"code": "c0de"}],
    }
    assert redact(tokens) == {
        "access_token": "<redacted, 10 chars>",
        "refresh_token": "<redacted, 5 chars>",
        "scope": "a b",
        "nested": [{"code": "<redacted, 4 chars>"}],
    }
    text = excerpt({"client_secret": "s3cr3t-value", "client_id": "abc"})
    assert "s3cr3t" not in text and "abc" in text
    assert len(excerpt({"text": "x" * 1000}, 50)) == 50


def test_render_shows_the_table_evidence_and_hints() -> None:
    report = Report("https://mcp.example.com/mcp")
    report.record(
        "auth.offline_access", Status.FAIL, "missing", evidence=["scopes_supported: []"], hint="add it"
    )
    report.record("tools.list", Status.PASS, "2 tools", evidence=["search, fetch"])
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    assert "auth.offline_access" in text and "scopes_supported: []" in text and "fix: add it" in text
    assert "search, fetch" not in text  # passing evidence only with verbose
    assert "FAILED" in text
    console = Console(record=True, width=200)
    render(report, console, verbose=True)
    assert "search, fetch" in console.export_text()
