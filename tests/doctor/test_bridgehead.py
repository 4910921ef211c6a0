"""The doctor against Bridgehead itself, in each auth mode and both profiles: nothing fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridgehead.doctor import Profile, Status
from tests.conftest import RunningServer
from tests.doctor.conftest import HeadlessUser, assert_clean, assert_findings, explain, run_doctor, statuses


async def test_no_auth(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory()
    report = await run_doctor(server.mcp_url)
    assert_findings(report)
    found = statuses(report)
    for check_id in (
        "url.endpoint",
        "transport.streamable_http",
        "transport.discover",
        "transport.sse",
        "transport.redirects",
        "transport.sessions",
        "tools.list",
        "tools.schemas",
        "tools.schema_dialect",
        "tools.descriptions",
        "tools.annotations",
        "tools.hints",
        "tools.search",
        "tools.fetch",
        "tools.response_size",
    ):
        assert found[check_id] is Status.PASS, explain(report)
    assert found["tools.www_authenticate"] is Status.NA and found["tools.call"] is Status.NA
    assert found["url.https"] is Status.WARN  # plain HTTP on loopback
    assert all(found[c] is Status.NA for c in found if c.startswith(("auth.", "oauth."))), explain(report)
    assert report.exit_code == 0


async def test_oauth_without_interactive_stops_at_the_sign_in_page(
    oauth_server: Callable[..., RunningServer],
) -> None:
    server = oauth_server("oauth")
    report = await run_doctor(server.mcp_url)
    assert_findings(report)
    found = statuses(report)
    for check_id in (
        "url.endpoint",
        "auth.challenge",
        "auth.protected_resource",
        "auth.server_metadata",
        "auth.metadata_urls",
        "auth.offline_access",
        "auth.token_auth_methods",
        "auth.pkce",
        "auth.registration",
        "auth.automated_clients",
        "oauth.register",
        "oauth.cimd",
        "oauth.redirect_uris",
        "oauth.empty_scope",
        "transport.redirects",
    ):
        assert found[check_id] is Status.PASS, explain(report)
    authorize = report.get("oauth.authorize")
    assert authorize is not None and authorize.status is Status.SKIP
    assert "needs --interactive" in authorize.message
    for check_id in (
        "oauth.iss",
        "oauth.token",
        "oauth.refresh_issued",
        "oauth.refresh_grant",
        "oauth.audience",
    ):
        assert (
            found[check_id] is Status.SKIP and "--interactive" in (report.get(check_id) or authorize).message
        )
    # Everything behind the token says why it did not run.
    behind_token = [c for c in found if c.startswith(("transport.", "tools.")) and c != "transport.redirects"]
    assert all(found[c] is Status.SKIP for c in behind_token), explain(report)
    assert report.exit_code == 0


@pytest.mark.parametrize("profile", [Profile.CHATGPT, Profile.SPEC])
async def test_oauth_interactive_runs_every_check(
    oauth_server: Callable[..., RunningServer], profile: Profile
) -> None:
    server = oauth_server("oauth")
    user = HeadlessUser("alice")
    report = await run_doctor(server.mcp_url, interactive=True, browser=user, profile=profile)
    assert_findings(report)
    spec_only = {"oauth.redirect_uris", "oauth.empty_scope"} if profile is Profile.SPEC else set()
    assert_clean(report, na=spec_only)
    # The loopback redirect URI was registered, and the browser was sent to the authorization endpoint.
    assert user.opened and user.opened[0].startswith(f"{server.base_url}/authorize?")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in user.opened[0]
    schemes = report.get("tools.security_schemes")
    assert schemes is not None and "oauth2" in " ".join(schemes.evidence)
    audience = report.get("oauth.audience")
    assert audience is not None and any("a JWT" in line for line in audience.evidence), explain(report)


async def test_oauth_with_a_client_id_metadata_document(
    oauth_server: Callable[..., RunningServer], metadata_document: Callable[..., str]
) -> None:
    """ChatGPT's way of identifying itself, against Bridgehead (loopback documents allowed for the test)."""
    server = oauth_server("oauth", auth={"cimd_allow_insecure_loopback": True})
    document = metadata_document()
    report = await run_doctor(server.mcp_url, client_metadata_url=document)
    assert_findings(report)
    found = statuses(report)
    assert found["oauth.register"] is Status.NA and found["oauth.redirect_uris"] is Status.NA
    assert found["oauth.cimd"] is Status.PASS, explain(report)
    assert found["oauth.empty_scope"] is Status.PASS, explain(report)
    authorize = report.get("oauth.authorize")
    assert authorize is not None and authorize.status is Status.SKIP  # Bridgehead's sign-in page
    assert authorize.message.startswith("needs --interactive"), explain(report)
    cimd = report.get("oauth.cimd")
    assert cimd is not None and "was accepted" in cimd.message
    # The document's URL was the client_id of the flow's authorization request.
    assert any(document in line for line in cimd.evidence), cimd.evidence


async def test_mixed_auth(oauth_server: Callable[..., RunningServer]) -> None:
    server = oauth_server("mixed")
    report = await run_doctor(server.mcp_url)
    assert_findings(report)
    found = statuses(report)
    assert found["auth.challenge"] is Status.NA  # initialize is open in mixed mode
    for check_id in (
        "auth.protected_resource",
        "auth.server_metadata",
        "auth.offline_access",
        "transport.streamable_http",
        "tools.list",
        "tools.security_schemes",
        "tools.search",
        "tools.fetch",
        "transport.redirects",
        "transport.sessions",
        "oauth.cimd",
        "oauth.redirect_uris",
        "oauth.empty_scope",
    ):
        assert found[check_id] is Status.PASS, explain(report)
    assert found["oauth.authorize"] is Status.SKIP
