"""The doctor against Bridgehead itself, in each auth mode: nothing fails."""

from __future__ import annotations

from collections.abc import Callable

from bridgehead.doctor import Status
from tests.conftest import RunningServer
from tests.doctor.conftest import HeadlessUser, assert_findings, explain, run_doctor, statuses


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
        "tools.list",
        "tools.schemas",
        "tools.descriptions",
        "tools.annotations",
        "tools.search",
        "tools.fetch",
        "tools.response_size",
    ):
        assert found[check_id] is Status.PASS, explain(report)
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
        "oauth.register",
    ):
        assert found[check_id] is Status.PASS, explain(report)
    authorize = report.get("oauth.authorize")
    assert authorize is not None and authorize.status is Status.SKIP
    assert "needs --interactive" in authorize.message
    for check_id in ("oauth.token", "oauth.refresh_issued", "oauth.refresh_grant"):
        assert (
            found[check_id] is Status.SKIP and "--interactive" in (report.get(check_id) or authorize).message
        )
    # Everything behind the token says why it did not run.
    behind_token = [c for c in found if c.startswith(("transport.", "tools."))]
    assert all(found[c] is Status.SKIP for c in behind_token), explain(report)
    assert report.exit_code == 0


async def test_oauth_interactive_runs_every_check(oauth_server: Callable[..., RunningServer]) -> None:
    server = oauth_server("oauth")
    user = HeadlessUser("alice")
    report = await run_doctor(server.mcp_url, interactive=True, browser=user)
    assert_findings(report)
    passed = {c for c, s in statuses(report).items() if s is Status.PASS}
    assert passed == {c for c in statuses(report) if c != "url.https"}, explain(report)
    # The loopback redirect URI was registered, and the browser was sent to the authorization endpoint.
    assert user.opened and user.opened[0].startswith(f"{server.base_url}/authorize?")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in user.opened[0]
    schemes = report.get("tools.security_schemes")
    assert schemes is not None and "oauth2" in " ".join(schemes.evidence)


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
    ):
        assert found[check_id] is Status.PASS, explain(report)
    assert found["oauth.authorize"] is Status.SKIP
