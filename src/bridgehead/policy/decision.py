"""The decision "may this caller see or call this tool", from roles, scopes and the auth mode."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from bridgehead.config import AuthSettings
from bridgehead.connectors.base import Tool

READ_SCOPE = "tools:read"
WRITE_SCOPE = "tools:write"
OIDC_SCOPES = ("openid", "profile", "email")
OFFLINE_ACCESS = "offline_access"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an authenticated user (through a client) or an anonymous caller."""

    authenticated: bool
    user_id: str | None = None
    username: str | None = None
    role: str | None = None
    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def anonymous(cls) -> Caller:
        return _ANONYMOUS


_ANONYMOUS = Caller(authenticated=False)  # frozen, so one instance serves every anonymous call


@dataclass(frozen=True)
class Decision:
    """The outcome for one call. ``missing_scopes`` set means a token with more scope would do."""

    allowed: bool
    reason: str
    needs_login: bool = False
    missing_scopes: tuple[str, ...] = ()


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


MAX_REMEMBERED_DECISIONS = 4096


class PolicyEngine:
    """Applies the configured auth mode, roles and tool scopes."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        # Decisions by (who, which tool): the same few roles call the same tools all day, and a
        # tools/call asks twice (the step-up check, then the handler).
        self._decisions: dict[tuple[object, ...], tuple[Tool, Decision]] = {}

    @property
    def mode(self) -> str:
        return self.settings.mode

    def required_scopes(self, tool: Tool) -> list[str]:
        for pattern, scopes in self.settings.tool_scopes.items():
            if fnmatch.fnmatchcase(tool.name, pattern):
                return list(scopes)
        return [READ_SCOPE if tool.hints.read_only else WRITE_SCOPE]

    def allows_anonymous(self, tool: Tool) -> bool:
        """Whether a tool may be called without a token (mixed mode only)."""
        if self.mode == "none":
            return True
        if self.mode == "oauth":
            return False
        if self.settings.noauth_tools is not None:
            return _matches(tool.name, self.settings.noauth_tools)
        return tool.hints.read_only

    def security_schemes(self, tool: Tool) -> list[dict[str, object]]:
        """The tool's securitySchemes as ChatGPT reads them."""
        oauth: dict[str, object] = {"type": "oauth2", "scopes": self.required_scopes(tool)}
        if self.mode == "none":
            return [{"type": "noauth"}]
        if self.allows_anonymous(tool):
            return [{"type": "noauth"}, oauth]
        return [oauth]

    def supported_scopes(self, tools: Sequence[Tool]) -> list[str]:
        """Every scope a client can be granted: tool scopes and offline_access that some role may hold,
        and the OIDC scopes (identity is never withheld). Nothing is advertised that no user could get."""
        scopes = {READ_SCOPE, WRITE_SCOPE, *self.settings.default_scopes}
        for tool in tools:
            scopes.update(self.required_scopes(tool))
        for values in self.settings.tool_scopes.values():
            scopes.update(values)
        scopes.add(OFFLINE_ACCESS)
        roles = self.settings.roles.values()
        if all(role.scopes is not None for role in roles):
            scopes &= {scope for role in roles for scope in role.scopes or ()}
        scopes.update(OIDC_SCOPES)
        return sorted(scopes)

    def role_scopes(self, role: str, supported: Sequence[str]) -> set[str]:
        configured = self.settings.roles[role].scopes if role in self.settings.roles else []
        return set(supported) if configured is None else set(configured) & set(supported)

    def role_allows(self, role: str | None, tool: Tool) -> bool:
        if role is None or role not in self.settings.roles:
            return False
        return _matches(tool.name, self.settings.roles[role].tools)

    def visible(self, caller: Caller, tool: Tool) -> bool:
        """Whether tools/list shows this tool to this caller."""
        if self.mode == "none" or not caller.authenticated:
            # Anonymous listing (none and mixed modes) shows the whole surface: the
            # security schemes tell the client what each call will need.
            return True
        return self.role_allows(caller.role, tool)

    def decide(self, caller: Caller, tool: Tool) -> Decision:
        """May ``caller`` call ``tool`` now?"""
        key = (caller.authenticated, caller.role, caller.scopes, tool.name, id(tool))
        hit = self._decisions.get(key)
        if hit is not None and hit[0] is tool:
            return hit[1]
        decision = self._decide(caller, tool)
        if len(self._decisions) >= MAX_REMEMBERED_DECISIONS:
            self._decisions.clear()
        self._decisions[key] = (tool, decision)  # the tool is kept so its id cannot be reused
        return decision

    def _decide(self, caller: Caller, tool: Tool) -> Decision:
        if self.mode == "none":
            return Decision(True, "auth mode none")
        if not caller.authenticated:
            if self.allows_anonymous(tool):
                return Decision(True, "tool allows anonymous calls")
            return Decision(False, "this tool requires signing in", needs_login=True)
        if not self.role_allows(caller.role, tool):
            return Decision(False, f"role {caller.role!r} may not call {tool.name!r}")
        missing = tuple(s for s in self.required_scopes(tool) if s not in caller.scopes)
        if missing:
            role = self.settings.roles.get(caller.role or "")
            if role is not None and role.scopes is not None and not set(missing) <= set(role.scopes):
                # Asking the user to authorize again could never help: say no plainly.
                return Decision(False, f"role {caller.role!r} can never be granted scope {' '.join(missing)}")
            return Decision(False, f"the token lacks scope {' '.join(missing)}", missing_scopes=missing)
        return Decision(True, f"role {caller.role!r} with scope {' '.join(self.required_scopes(tool))}")
