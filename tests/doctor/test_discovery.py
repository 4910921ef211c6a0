"""Parsing WWW-Authenticate challenges."""

from __future__ import annotations

from bridgehead.doctor.discovery import bearer_challenge


def test_bearer_challenge_with_quoted_and_token_parameters() -> None:
    header = 'Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp", scope="x y", error=invalid_token'
    assert bearer_challenge(header) == {
        "resource_metadata": "https://a.example/.well-known/oauth-protected-resource/mcp",
        "scope": "x y",
        "error": "invalid_token",
    }


def test_bearer_among_several_challenges() -> None:
    header = 'Basic realm="api", Bearer realm="mcp", resource_metadata="https://a/m"'
    assert bearer_challenge(header) == {"realm": "mcp", "resource_metadata": "https://a/m"}


def test_escaped_quotes_and_case() -> None:
    assert bearer_challenge(r'bearer error_description="say \"hi\""') == {"error_description": 'say "hi"'}


def test_no_bearer_challenge() -> None:
    assert bearer_challenge('Basic realm="x"') is None
    assert bearer_challenge("Bearer") == {}
    assert bearer_challenge("BearerToken x=1") is None
