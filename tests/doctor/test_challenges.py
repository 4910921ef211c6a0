"""ChatGPT's mixed-auth challenge in a tool result: ``_meta["mcp/www_authenticate"]``."""

from __future__ import annotations

from bridgehead.doctor.challenges import tool_challenge_problems

GOOD = 'Bearer resource_metadata="https://a/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="Sign in"'


def test_a_complete_challenge() -> None:
    assert tool_challenge_problems([GOOD]) == ([], [])
    assert tool_challenge_problems(GOOD) == ([], [])  # a single string is read as a list of one


def test_what_makes_a_challenge_malformed() -> None:
    problems, _ = tool_challenge_problems(['Bearer resource_metadata="https://a/m"'])
    assert problems and "lacks error and error_description" in problems[0]
    problems, _ = tool_challenge_problems(['Basic realm="x"'])
    assert problems and "not a Bearer challenge" in problems[0]
    assert tool_challenge_problems([])[0] and tool_challenge_problems({"a": 1})[0]
    assert tool_challenge_problems([42])[0] == ["[0] is a int, not a string"]


def test_no_resource_metadata_is_only_a_warning() -> None:
    problems, warnings = tool_challenge_problems(
        ['Bearer error="invalid_token", error_description="Sign in"']
    )
    assert problems == [] and warnings and "resource_metadata" in warnings[0]
