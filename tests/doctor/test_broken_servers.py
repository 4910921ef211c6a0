"""The doctor against deliberately broken servers: each fault is found and named, nothing else is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridgehead.doctor import ClientAuth, Report, Status
from bridgehead.doctor.probe import Profile
from tests.doctor.conftest import assert_clean, assert_findings, explain, run_doctor, statuses

ChatGPTOnly = {"oauth.differences"}
"""The summary that warns whenever a fault hurts ChatGPT but not a spec-conformant client."""


async def test_a_healthy_server_passes_every_check(broken_server: Callable[..., str]) -> None:
    """The control: the test server without faults, through the whole (auto-approved) OAuth flow."""
    report = await run_doctor(broken_server())
    assert_findings(report)
    assert_clean(report)


async def test_a_healthy_server_as_a_spec_client(broken_server: Callable[..., str]) -> None:
    """With --profile spec the doctor registers a loopback redirect URI and runs no ChatGPT probes."""
    report = await run_doctor(broken_server(), profile=Profile.SPEC)
    assert_findings(report)
    assert_clean(report, na={"oauth.redirect_uris", "oauth.empty_scope"})
    register = report.get("oauth.register")
    assert register is not None and "http://127.0.0.1:" in " ".join(register.evidence)


@pytest.mark.parametrize(
    ("faults", "fails", "warns"),
    [
        # discovery and registration
        pytest.param(
            {"no_prm": True}, {"auth.protected_resource"}, set(), id="no-protected-resource-metadata"
        ),
        pytest.param(
            {"no_offline_access": True}, {"auth.offline_access"}, ChatGPTOnly, id="no-offline-access"
        ),
        pytest.param(
            {"post_only": True}, {"auth.token_auth_methods"}, ChatGPTOnly, id="client-secret-post-only"
        ),
        pytest.param({"bot_rule": True}, {"oauth.register", "auth.automated_clients"}, set(), id="bot-rule"),
        pytest.param({"expiring_secret": True}, set(), {"oauth.register"}, id="expiring-client-secret"),
        # the authorization response
        pytest.param({"no_state": True}, {"oauth.authorize"}, set(), id="no-state"),
        pytest.param({"wrong_state": True}, {"oauth.authorize"}, set(), id="wrong-state"),
        pytest.param({"error_redirect": True}, {"oauth.authorize"}, set(), id="error-redirect"),
        pytest.param({"http_redirect": True}, {"oauth.authorize"}, set(), id="plain-http-redirect"),
        pytest.param({"code_elsewhere": True}, {"oauth.authorize"}, set(), id="code-to-another-path"),
        pytest.param({"wrong_iss": True}, {"oauth.iss"}, set(), id="iss-differs"),
        pytest.param({"no_iss": True}, {"oauth.iss"}, set(), id="iss-missing"),
        pytest.param(
            {"iss_not_advertised": True}, set(), {"oauth.iss"}, id="iss-neither-sent-nor-advertised"
        ),
        # ChatGPT's linking
        pytest.param({"no_cimd": True}, set(), {"oauth.cimd"}, id="no-cimd"),
        pytest.param({"cimd_without_none": True}, {"oauth.cimd"}, set(), id="cimd-without-none"),
        pytest.param({"cimd_accepts_anything": True}, {"oauth.cimd"}, set(), id="cimd-accepts-any-url"),
        pytest.param(
            {"callback_refused": True}, {"oauth.redirect_uris"}, ChatGPTOnly, id="callback-uri-refused"
        ),
        pytest.param(
            {"empty_scope_invalid": True}, {"oauth.empty_scope"}, ChatGPTOnly, id="empty-scope-invalid"
        ),
        pytest.param({"unbound_audience": True}, {"oauth.audience"}, set(), id="audience-not-bound"),
        pytest.param({"no_refresh_tokens": True}, {"oauth.refresh_issued"}, set(), id="no-refresh-tokens"),
        # the MCP endpoint
        pytest.param({"slash_redirect": True}, {"transport.redirects"}, ChatGPTOnly, id="slash-redirect"),
        pytest.param({"session_400": True}, {"transport.sessions"}, set(), id="unknown-session-400"),
        pytest.param({"sse_only": True}, set(), {"transport.streamable_http"}, id="sse-only"),
        # the tool surface
        pytest.param({"bad_input_schema": True}, {"tools.schemas"}, set(), id="invalid-input-schema"),
        pytest.param({"draft07_schema": True}, {"tools.schema_dialect"}, set(), id="draft-07-schema"),
        pytest.param({"missing_hints": True}, set(), {"tools.hints"}, id="missing-hints"),
        pytest.param({"wrong_search_shape": True}, {"tools.search"}, set(), id="search-wrong-shape"),
        pytest.param(
            {"bad_security_schemes": True}, {"tools.security_schemes"}, set(), id="bad-security-schemes"
        ),
        pytest.param({"read_only_write_tool": True}, set(), {"tools.annotations"}, id="write-tool-read-only"),
        pytest.param(
            {"mixed": True, "bad_www_authenticate": True},
            {"tools.www_authenticate"},
            set(),
            id="bad-challenge",
        ),
    ],
)
async def test_each_fault_is_named(
    broken_server: Callable[..., str], faults: dict[str, bool], fails: set[str], warns: set[str]
) -> None:
    path = "/sse" if faults.get("sse_only") else "/mcp"
    report = await run_doctor(broken_server(path, **faults))
    assert_findings(report, fails=fails, warns=warns)
    for check_id in fails | warns:
        result = report.get(check_id)
        assert result is not None and result.hint, f"{check_id} has no fix hint"
        assert result.evidence, f"{check_id} has no evidence"
    assert report.exit_code == (1 if fails else 0)


def message(report: Report, check_id: str) -> str:
    result = report.get(check_id)
    assert result is not None
    return result.message


async def test_bad_authorization_responses_say_what_was_wrong(broken_server: Callable[..., str]) -> None:
    """Issue 9's bad input: each fault in the words of the evidence, and nothing sent on."""
    expected = {
        "no_state": "carries no state",
        "wrong_state": "another state",
        "error_redirect": "error=access_denied",
        "http_redirect": "neither HTTPS nor loopback",
        "code_elsewhere": "not its registered redirect URI",
    }
    for fault, words in expected.items():
        report = await run_doctor(broken_server(**{fault: True}))
        assert words in message(report, "oauth.authorize"), explain(report)
        # The code was never exchanged (nor, for a redirect the doctor did not follow, even read).
        assert statuses(report)["oauth.token"] is Status.SKIP, explain(report)
    report = await run_doctor(broken_server(wrong_iss=True))
    assert "is not the issuer" in message(report, "oauth.iss")
    assert any("iss in the response: 'http://127.0.0.1:" in line for line in report.get("oauth.iss").evidence)  # type: ignore[union-attr]
    assert statuses(report)["oauth.token"] is Status.SKIP


async def test_a_whole_flow_with_a_client_id_metadata_document(
    broken_server: Callable[..., str], metadata_document: Callable[..., str]
) -> None:
    document = metadata_document()
    report = await run_doctor(broken_server(), client_metadata_url=document)
    assert_findings(report)
    assert_clean(report, na={"oauth.register", "oauth.redirect_uris"})
    assert "whole flow" in message(report, "oauth.cimd")
    assert "metadata document" in message(report, "oauth.register")


async def test_a_server_that_refuses_its_advertised_metadata_documents(
    broken_server: Callable[..., str], metadata_document: Callable[..., str]
) -> None:
    report = await run_doctor(
        broken_server(cimd_rejects_documents=True), client_metadata_url=metadata_document()
    )
    assert_findings(report, fails={"oauth.cimd"})
    assert "refused the authorization request" in message(report, "oauth.cimd")
    assert message(report, "oauth.authorize") == "blocked by oauth.cimd"


async def test_step_up_on_insufficient_scope(broken_server: Callable[..., str]) -> None:
    """The 401 asks for notes:read; create_note answers 403 insufficient_scope for notes:write; the
    doctor re-authorizes for both and the retried call succeeds."""
    options: dict[str, Any] = {"call_tool": "create_note", "call_arguments": {"title": "t", "body": "b"}}
    report = await run_doctor(broken_server(scoped_tools=True), **options)
    assert_findings(report)
    assert_clean(report, triggered={"oauth.step_up", "tools.call"})
    step_up = report.get("oauth.step_up")
    assert step_up is not None and step_up.status is Status.PASS, explain(report)
    assert any("notes:read" in line and "notes:write" in line for line in step_up.evidence), step_up.evidence
    assert any(line.startswith("retried POST /mcp → 200") for line in step_up.evidence), step_up.evidence


async def test_a_futile_step_up_is_not_repeated(broken_server: Callable[..., str]) -> None:
    options: dict[str, Any] = {"call_tool": "create_note", "call_arguments": {"title": "t", "body": "b"}}
    report = await run_doctor(broken_server(scoped_tools=True, futile_step_up=True), **options)
    assert_findings(report, fails={"oauth.step_up", "tools.call"})
    assert "already granted" in message(report, "oauth.step_up")


async def test_mixed_auth_challenge_is_checked(broken_server: Callable[..., str]) -> None:
    report = await run_doctor(broken_server(mixed=True))
    assert_findings(report)
    assert_clean(report, na={"auth.challenge"}, triggered={"tools.www_authenticate"})
    challenge = report.get("tools.www_authenticate")
    assert challenge is not None and challenge.status is Status.PASS, explain(report)


async def test_client_secret_post_only_goes_on_as_a_spec_client_would(
    broken_server: Callable[..., str],
) -> None:
    """ChatGPT's client_secret_basic is not offered: named, and the flow goes on with client_secret_post
    so everything behind it is still checked."""
    url = broken_server(post_only=True)
    report = await run_doctor(url)
    register = report.get("oauth.register")
    assert register is not None and register.status is Status.PASS
    assert "client_secret_post" in register.message
    assert any("does not offer ChatGPT's client_secret_basic" in line for line in register.evidence)
    differences = report.get("oauth.differences")
    assert differences is not None and "client_secret_basic" in " ".join(differences.evidence)
    assert statuses(report)["oauth.refresh_grant"] is Status.PASS
    assert statuses(report)["tools.fetch"] is Status.PASS
    # Insisting on a method the server does not offer stops the flow, saying why.
    report = await run_doctor(url, client_auth=ClientAuth.BASIC)
    assert "does not support client_secret_basic" in message(report, "oauth.register")


async def test_no_refresh_token_names_the_reauthentication_loop(broken_server: Callable[..., str]) -> None:
    report = await run_doctor(broken_server(no_refresh_tokens=True))
    issued = report.get("oauth.refresh_issued")
    assert issued is not None and "re-authentication loop" in issued.message
    assert statuses(report)["oauth.refresh_grant"] is Status.SKIP


async def test_search_shape_evidence_and_fetch_blocked(broken_server: Callable[..., str]) -> None:
    report = await run_doctor(broken_server(wrong_search_shape=True))
    search = report.get("tools.search")
    assert search is not None and "bare list" in search.message
    fetch = report.get("tools.fetch")
    assert fetch is not None and fetch.status is Status.SKIP and "tools.search" in fetch.message


async def test_invalid_schema_names_the_tool(broken_server: Callable[..., str]) -> None:
    report = await run_doctor(broken_server(bad_input_schema=True))
    schemas = report.get("tools.schemas")
    assert schemas is not None
    assert any(line.startswith("lookup_employee.inputSchema") for line in schemas.evidence), schemas.evidence


async def test_draft07_schema_names_the_place(broken_server: Callable[..., str]) -> None:
    report = await run_doctor(broken_server(draft07_schema=True))
    dialect = report.get("tools.schema_dialect")
    assert dialect is not None
    assert any("lookup_order.inputSchema" in line and "$schema" in line for line in dialect.evidence)
    assert any("properties/order/items: an array" in line for line in dialect.evidence), dialect.evidence


async def test_sse_only_server_at_its_mcp_path_points_to_sse(broken_server: Callable[..., str]) -> None:
    url = broken_server("/mcp", sse_only=True)
    report = await run_doctor(url)
    endpoint = report.get("url.endpoint")
    assert endpoint is not None and endpoint.status is Status.FAIL
    assert endpoint.hint and url.removesuffix("/mcp") + "/sse" in endpoint.hint
    assert all(r.status is Status.SKIP for r in report.checks if not r.id.startswith("url.")), explain(report)
