"""Policy decisions, and the memo that answers repeated ones."""

from __future__ import annotations

from typing import Any

from bridgehead.config import AuthSettings
from bridgehead.connectors.base import Tool, ToolHints, ToolOutput
from bridgehead.policy import Caller, PolicyEngine


async def _handler(arguments: dict[str, Any], ctx: Any) -> ToolOutput:
    return ToolOutput(text="ok")


def tool(name: str, *, read_only: bool) -> Tool:
    return Tool(name, name, "d", {"type": "object"}, ToolHints(read_only=read_only), _handler)


def engine() -> PolicyEngine:
    return PolicyEngine(
        AuthSettings.model_validate(
            {
                "mode": "oauth",
                "default_role": "guest",
                "roles": {"staff": {"tools": ["search", "create_*"]}, "guest": {"tools": ["search"]}},
            }
        )
    )


def caller(role: str, *scopes: str) -> Caller:
    return Caller(authenticated=True, user_id="u", role=role, client_id="c", scopes=frozenset(scopes))


def test_repeated_decisions_are_the_same_and_depend_on_role_and_scopes() -> None:
    policy = engine()
    write = tool("create_ticket", read_only=False)
    first = policy.decide(caller("staff", "tools:read", "tools:write"), write)
    assert first.allowed
    assert policy.decide(caller("staff", "tools:read", "tools:write"), write) is first
    lacking = policy.decide(caller("staff", "tools:read"), write)
    assert not lacking.allowed and lacking.missing_scopes == ("tools:write",)
    assert not policy.decide(caller("guest", "tools:read", "tools:write"), write).allowed
    assert not policy.decide(Caller.anonymous(), write).allowed


def test_a_replaced_tool_is_decided_afresh() -> None:
    """After a reload a tool of the same name may have other hints (and so need other scope)."""
    policy = engine()
    who = caller("staff", "tools:read")
    assert policy.decide(who, tool("create_ticket", read_only=True)).allowed
    assert not policy.decide(who, tool("create_ticket", read_only=False)).allowed
