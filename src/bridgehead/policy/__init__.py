"""Policy: roles, scopes, per-tool security schemes, and the decision "may this caller do this"."""

from bridgehead.policy.decision import Caller, Decision, PolicyEngine

__all__ = ["Caller", "Decision", "PolicyEngine"]
