"""Step-up authorization (MCP authorization spec, "Scope challenge handling").

A request answered with 403 and ``error="insufficient_scope"`` is retried after a new
authorization for the scopes asked before plus those the challenge names (SEP-2350), with the
client the flow used, headless or (``--interactive``) through the browser again. Never for
scopes the token already has (that would loop) and at most ``MAX_STEP_UPS`` times a run.
``bearer.BearerAuth`` calls ``step_up``; the runner records ``oauth.step_up`` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridgehead.doctor.client import step_up_scope
from bridgehead.doctor.oauth import (
    NEEDS_INTERACTIVE,
    answer_problem,
    authorize,
    code_form,
    keep_tokens,
    outcome_message,
    token_problem,
    token_request,
)
from bridgehead.doctor.probe import Probe
from bridgehead.doctor.report import Status

MAX_STEP_UPS = 2
"""Re-authorizations for 403 insufficient_scope in one run, beyond which the doctor gives up."""


def arm(probe: Probe) -> None:
    """Let MCP requests step up from now on, with the client the flow used (if it got that far)."""
    if probe.learned.client is not None:
        probe.step_up = lambda scope: step_up(probe, scope)


@dataclass
class StepUpVerdict:
    status: Status
    message: str
    hint: str | None = None


async def step_up(probe: Probe, challenge_scope: str | None) -> str | None:
    """Answer a 403 insufficient_scope: re-authorize for what was asked plus what the challenge names,
    at most MAX_STEP_UPS times and never for scopes already granted; the new token, or None."""
    async with probe.step_up_lock:
        return await _step_up(probe, challenge_scope)


async def _step_up(probe: Probe, challenge_scope: str | None) -> str | None:
    learned = probe.learned
    client = learned.client
    if client is None:
        return None
    if not challenge_scope:
        verdict(
            probe,
            Status.FAIL,
            "403 insufficient_scope without a scope parameter: a client cannot know what to ask for",
            'Name the scopes the request needs: WWW-Authenticate: Bearer error="insufficient_scope", '
            'scope="…", resource_metadata="…" (RFC 6750 §3.1).',
        )
        return None
    granted = set((learned.granted_scope or learned.requested_scope or "").split())
    needed = set(challenge_scope.split())
    if needed <= granted:
        verdict(
            probe,
            Status.FAIL,
            f"403 insufficient_scope for {challenge_scope!r}, which the token was already granted: no "
            "re-authorization can satisfy it (the doctor does not loop)",
            "Answer insufficient_scope only when the token lacks a scope the request needs, and name exactly "
            "those scopes; otherwise clients re-authorize in vain.",
        )
        return None
    if learned.step_ups and needed <= set((learned.requested_scope or "").split()):
        verdict(
            probe,
            Status.WARN,
            f"a step-up asked for {challenge_scope!r}, but the authorization server granted "
            f"{learned.granted_scope!r}: this account or its role cannot have it (the doctor does not ask again)",
            "If the user should be able to do this, let their role be granted the scope; otherwise the tool "
            "should not be offered to them.",
        )
        return None
    if learned.step_ups >= MAX_STEP_UPS:
        learned.step_up.append(f"retry limit reached ({MAX_STEP_UPS} re-authorizations): giving up")
        verdict(
            probe,
            Status.FAIL,
            f"still insufficient_scope after {MAX_STEP_UPS} step-up authorizations",
            "Grant the scopes a step-up authorization asks for, or stop demanding them.",
        )
        return None
    scope = step_up_scope(learned.requested_scope, challenge_scope, learned.server_metadata)
    learned.step_ups += 1
    authorization = await authorize(probe, client, scope)
    params = authorization.params
    if params is None:
        learned.step_up.append(f"re-authorization for {scope!r}: {authorization.outcome.kind}")
        if authorization.outcome.kind == "sign_in":
            verdict(
                probe,
                Status.SKIP,
                authorization.browser or f"{NEEDS_INTERACTIVE} to sign in again for {scope!r}",
            )
        else:
            verdict(
                probe,
                Status.FAIL,
                f"the step-up authorization failed: {outcome_message(authorization.outcome)}",
            )
        return None
    problem = answer_problem(params, authorization.request)
    if problem:
        learned.step_up.append(f"re-authorization for {scope!r}: {problem}")
        verdict(probe, Status.FAIL, f"the step-up authorization failed: {problem}")
        return None
    response, lines, error = await token_request(
        probe, client, code_form(client, params["code"], authorization)
    )
    tokens, problem, hint = token_problem(response, error, client)
    if tokens is None:
        learned.step_up += [f"re-authorization for {scope!r}: code exchange failed", *lines]
        verdict(probe, Status.FAIL, f"the step-up code exchange failed: {problem}", hint)
        return None
    keep_tokens(probe, tokens, scope)
    learned.requested_scope = scope
    learned.step_up.append(f"re-authorized with scope {scope!r}; granted {learned.granted_scope!r}")
    verdict(probe, Status.PASS, f"stepped up to {scope!r} after 403 insufficient_scope")
    return learned.access_token


def verdict(probe: Probe, status: Status, message: str, hint: str | None = None) -> None:
    probe.learned.step_up_verdict = StepUpVerdict(status, message, hint)


def record_step_up(probe: Probe) -> None:
    """``oauth.step_up``, once the run's requests are done."""
    current = probe.report.get("oauth.step_up")
    if current is not None and current.status is Status.NA:
        return
    found = probe.learned.step_up_verdict
    if found is None:
        if current is not None and current.status is Status.SKIP and current.message != "not run":
            return  # the flow said why it did not get that far
        if probe.learned.access_token is None:
            probe.report.record(
                "oauth.step_up", Status.SKIP, "no access token: no request could ask for more"
            )
        else:
            probe.report.record(
                "oauth.step_up", Status.NA, "no request was answered with 403 insufficient_scope"
            )
        return
    assert isinstance(found, StepUpVerdict)
    message = found.message
    if found.status is Status.PASS and any(
        "retried" in line and "→ 403" in line for line in probe.learned.step_up
    ):
        found = StepUpVerdict(Status.FAIL, "the request still got 403 after the step-up", found.hint)
        message = found.message
    probe.report.record(
        "oauth.step_up", found.status, message, evidence=probe.learned.step_up, hint=found.hint
    )
