"""The doctor against deliberately broken servers: each fault is found and named, nothing else is."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridgehead.doctor import ClientAuth, Status
from tests.doctor.conftest import assert_findings, explain, run_doctor, statuses


async def test_a_healthy_server_passes_every_check(broken_server: Callable[..., str]) -> None:
    """The control: the test server without faults, through the whole (auto-approved) OAuth flow."""
    report = await run_doctor(broken_server())
    assert_findings(report)
    found = statuses(report)
    assert {c for c, s in found.items() if s is not Status.PASS} == {"url.https"}, explain(report)


@pytest.mark.parametrize(
    ("faults", "fails", "warns"),
    [
        pytest.param(
            {"no_prm": True}, {"auth.protected_resource"}, set(), id="no-protected-resource-metadata"
        ),
        pytest.param({"no_offline_access": True}, {"auth.offline_access"}, set(), id="no-offline-access"),
        pytest.param({"post_only": True}, {"auth.token_auth_methods"}, set(), id="client-secret-post-only"),
        pytest.param({"no_refresh_tokens": True}, {"oauth.refresh_issued"}, set(), id="no-refresh-tokens"),
        pytest.param({"bad_input_schema": True}, {"tools.schemas"}, set(), id="invalid-input-schema"),
        pytest.param({"wrong_search_shape": True}, {"tools.search"}, set(), id="search-wrong-shape"),
        pytest.param({"sse_only": True}, set(), {"transport.streamable_http"}, id="sse-only"),
        pytest.param(
            {"bad_security_schemes": True}, {"tools.security_schemes"}, set(), id="bad-security-schemes"
        ),
        pytest.param({"read_only_write_tool": True}, set(), {"tools.annotations"}, id="write-tool-read-only"),
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
    assert report.exit_code == (1 if fails else 0)


async def test_client_secret_post_only_blocks_the_flow_until_asked_for(
    broken_server: Callable[..., str],
) -> None:
    url = broken_server(post_only=True)
    report = await run_doctor(url)
    register = report.get("oauth.register")
    assert register is not None and register.status is Status.SKIP
    assert "client_secret_basic" in register.message and "--client-auth post" in register.message
    # With --client-auth post the rest of the flow, and everything behind it, is checked.
    report = await run_doctor(url, client_auth=ClientAuth.POST)
    assert_findings(report, fails={"auth.token_auth_methods"})
    assert statuses(report)["oauth.refresh_grant"] is Status.PASS
    assert statuses(report)["tools.fetch"] is Status.PASS


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


async def test_sse_only_server_at_its_mcp_path_points_to_sse(broken_server: Callable[..., str]) -> None:
    url = broken_server("/mcp", sse_only=True)
    report = await run_doctor(url)
    endpoint = report.get("url.endpoint")
    assert endpoint is not None and endpoint.status is Status.FAIL
    assert endpoint.hint and url.removesuffix("/mcp") + "/sse" in endpoint.hint
    assert with_only_skips_after_url(report)


def with_only_skips_after_url(report: object) -> bool:
    from bridgehead.doctor import Report

    assert isinstance(report, Report)
    return all(r.status is Status.SKIP for r in report.checks if not r.id.startswith("url."))
