"""Bot rules: a web application firewall that answers browsers but refuses automated clients.

ChatGPT's discovery and registration requests come from OpenAI's servers, not from a browser,
and a bot rule in front of the server (Cloudflare's bot fight mode, an AWS WAF managed rule…)
refuses them while the same URLs open fine in a browser: the frequent "registration endpoint
returned 403". The doctor's own requests are automated too; when one of them is refused, it is
sent again exactly as it was, but with a browser's user agent, and the two answers compared.
"""

from __future__ import annotations

import httpx

from bridgehead.doctor.probe import BROWSER_USER_AGENT, Probe, Refusal, describe, explain
from bridgehead.doctor.report import Status

REFUSED = frozenset({403, 406, 429, 503})
"""Statuses a bot rule answers with (a challenge page, "not acceptable", rate limit, "unavailable")."""


async def compare(probe: Probe, response: httpx.Response, what: str) -> Refusal | None:
    """When ``response`` looks like a refusal, send its request again as a browser would; the pair."""
    if response.status_code not in REFUSED:
        return None
    request = response.request
    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in ("user-agent", "content-length", "host")
    }
    headers["user-agent"] = BROWSER_USER_AGENT
    headers.setdefault("accept-language", "en-US,en;q=0.9")
    async with httpx.AsyncClient(
        verify=probe.ssl_context, timeout=probe.options.timeout, follow_redirects=False
    ) as browser:
        try:
            answer = await browser.request(
                request.method, request.url, headers=headers, content=request.content
            )
            line, accepted = describe(answer), answer.status_code not in REFUSED
        except httpx.HTTPError as exc:
            line, accepted = f"{request.method} {request.url} → {explain(exc)}", False
    refusal = Refusal(what, describe(response), f"the same request as a browser: {line}", accepted)
    probe.learned.refusals.append(refusal)
    return refusal


def record(probe: Probe) -> None:
    """``auth.automated_clients``: no request was refused that a browser gets answered."""
    blocked = [r for r in probe.learned.refusals if r.browser_accepted]
    if blocked:
        probe.report.record(
            "auth.automated_clients",
            Status.FAIL,
            f"a bot rule refuses automated clients but answers browsers ({', '.join(r.what for r in blocked)})",
            evidence=[line for r in blocked for line in (f"{r.what}: {r.automated}", r.browser)],
            hint="A web application firewall or bot protection in front of the server refuses requests that "
            "do not come from a browser, and ChatGPT's come from OpenAI's servers. Exempt the MCP endpoint, "
            "/.well-known/* and the OAuth endpoints (/register, /token, /authorize) from bot rules and "
            "browser challenges (e.g. Cloudflare: a WAF skip rule or configuration rule for these paths).",
        )
        return
    if probe.report.get("auth.automated_clients") is not None:
        return
    refused = probe.learned.refusals
    probe.report.record(
        "auth.automated_clients",
        Status.PASS,
        "no request was refused"
        if not refused
        else "refused requests are refused for browsers too (not a bot rule)",
        evidence=[line for r in refused for line in (f"{r.what}: {r.automated}", r.browser)],
    )
