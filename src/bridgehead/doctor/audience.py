"""Audience binding (RFC 8707): tokens minted for this MCP server, and only accepted by it.

The resource indicator the doctor sent on /authorize and /token must come back as the access
token's audience (readable when the token is a JWT), and a token for another resource must be
refused, by the authorization server (``invalid_target``) or by the MCP server, or a token stolen
from any other service of the same provider opens this one. The doctor asks for a token for a
resource nobody serves with its refresh token (spending it: this runs last in the flow) and, if
one is minted, presents it.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from bridgehead.doctor.client import RegisteredClient
from bridgehead.doctor.oauth import resource_indicator, token_problem, token_request
from bridgehead.doctor.probe import Probe, Unreachable, describe
from bridgehead.doctor.report import Status

FOREIGN_RESOURCE = "https://other-resource.invalid/mcp"
"""A resource no server serves: a token minted for it must not open this MCP server."""


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token, unverified (only to read its audience), or None if opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


async def check_audience(probe: Probe) -> None:
    """``oauth.audience``: the token names this resource as its audience, and a token for another
    resource is refused (by the authorization server, or by the MCP server)."""
    learned = probe.learned
    client = learned.client
    if probe.report.get("oauth.audience") is not None or client is None or learned.access_token is None:
        return  # the flow said why it has no token
    resource = resource_indicator(probe)
    evidence: list[str] = []
    failures: list[str] = []
    checked = False
    claims = jwt_claims(learned.access_token or "")
    if claims is not None:
        checked = True
        audience = claims.get("aud")
        audiences = (
            [audience] if isinstance(audience, str) else [a for a in audience or [] if isinstance(a, str)]
        )
        evidence.append(f"access token (a JWT) aud: {audience!r}; resource requested: {resource}")
        if not audiences:
            failures.append("the access token names no audience (aud)")
        elif resource not in audiences:
            failures.append(f"the access token's aud {audience!r} is not the resource {resource!r}")
    else:
        evidence.append("the access token is opaque: its audience cannot be read from outside")
    if learned.refresh_token:
        checked = True
        failure = await foreign_token_refused(probe, client, learned.refresh_token, evidence)
        learned.refresh_token = None  # spent (or rotated) by the probe
        if failure:
            failures.append(failure)
    hint = (
        "Honour the resource parameter at /authorize and /token, mint tokens whose aud is exactly that "
        "resource, refuse resources you do not serve (invalid_target), and have the MCP server accept only "
        "tokens whose audience is itself (RFC 8707; MCP authorization spec, token audience binding)."
    )
    if failures:
        probe.report.record("oauth.audience", Status.FAIL, "; ".join(failures), evidence=evidence, hint=hint)
    elif not checked:
        probe.report.record(
            "oauth.audience",
            Status.SKIP,
            "an opaque access token and no refresh token: the audience cannot be checked from outside",
            evidence=evidence,
        )
    else:
        probe.report.record(
            "oauth.audience", Status.PASS, "tokens are bound to this resource", evidence=evidence
        )


async def foreign_token_refused(
    probe: Probe, client: RegisteredClient, refresh_token: str, evidence: list[str]
) -> str | None:
    """Ask for a token for another resource; it must be refused, or not open this MCP server."""
    response, lines, error = await token_request(
        probe,
        client,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": FOREIGN_RESOURCE},
    )
    evidence.append(f"refresh grant for resource {FOREIGN_RESOURCE}:")
    evidence += lines
    tokens, _, _ = token_problem(response, error, client)
    if tokens is None:
        evidence.append("refused: the authorization server does not mint tokens for other resources")
        return None
    foreign = str(tokens["access_token"])
    claims = jwt_claims(foreign)
    if claims is not None and claims.get("aud") not in (None, FOREIGN_RESOURCE, [FOREIGN_RESOURCE]):
        evidence.append(f"issued, with aud {claims.get('aud')!r} (the resource asked for was ignored)")
    accepted, answers = await token_opens_server(probe, foreign)
    evidence += answers
    if accepted:
        return (
            f"the MCP server accepted a token issued for {FOREIGN_RESOURCE}: it does not check the audience"
        )
    return None


async def token_opens_server(probe: Probe, token: str) -> tuple[bool, list[str]]:
    """Whether ``token`` opens the MCP endpoint where a made-up token does not."""
    answers: list[str] = []
    statuses: list[int] = []
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bridgehead-doctor", "version": "audience-check"},
        },
    }
    for label, bearer in (("the foreign token", token), ("a made-up token", "bridgehead-doctor-made-up")):
        try:
            response = await probe.send(
                "POST",
                probe.url,
                headers={
                    "authorization": f"Bearer {bearer}",
                    "accept": "application/json, text/event-stream",
                },
                json_body=initialize,
            )
        except Unreachable as exc:
            answers.append(f"initialize with {label} → {exc}")
            return False, answers
        answers.append(f"initialize with {label}: {describe(response)}")
        statuses.append(response.status_code)
    foreign, made_up = statuses
    return foreign < 400 and made_up in (401, 403), answers
