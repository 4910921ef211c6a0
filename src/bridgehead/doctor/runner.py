"""A doctor run: the stages of ChatGPT's connection flow, in the order ChatGPT meets them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bridgehead.doctor import (
    audience,
    discovery,
    firewall,
    linking,
    oauth,
    paths,
    sessions,
    stepup,
    tools,
    transport,
)
from bridgehead.doctor.probe import DoctorOptions, Probe, explain
from bridgehead.doctor.report import Report

logger = logging.getLogger(__name__)


async def diagnose(url: str, options: DoctorOptions | None = None) -> Report:
    """Connect to the MCP server at ``url`` as ChatGPT does and report every check of the catalog.

    The first contact decides the rest: authorization discovery and the OAuth flow run when the
    server asks for a token (or publishes OAuth metadata); the transports and tools are then
    checked with the token the flow obtained, if any. Findings that span the run (a bot rule,
    a step-up, ChatGPT-only faults) are recorded last.
    """
    options = options or DoctorOptions()
    report = Report(url)
    async with Probe(url, options, report) as probe:
        if not await transport.check_url(probe):
            if probe.learned.refusals:
                firewall.record(probe)
            blocked = report.first_failed("url.endpoint", "url.https") or "url.https"
            report.skip_unrecorded(f"blocked by {blocked}")
            return report
        if await stage(probe, "auth", discovery.check_discovery):
            await stage(probe, "oauth", oauth.check_flow)
            await stage(probe, "oauth", audience.check_audience)
            await stage(probe, "oauth", linking.check_linking)
            stepup.arm(probe)
        await stage(probe, "transport", transport.check_transports)
        await stage(probe, "transport", paths.check_redirects)
        await stage(probe, "transport", sessions.check_sessions)
        await stage(probe, "tools", tools.check_tools)
        firewall.record(probe)
        stepup.record_step_up(probe)
        linking.record_differences(probe)
    report.skip_unrecorded("not run")
    return report


async def stage(probe: Probe, name: str, run: Callable[[Probe], Awaitable[bool | None]]) -> bool:
    """Run one stage; a fault of the doctor itself leaves that stage's open checks skipped, with why."""
    try:
        return bool(await run(probe))
    except Exception as exc:
        logger.exception("doctor stage %s failed", name)
        probe.report.skip_unrecorded(f"the doctor itself failed here ({explain(exc)})", stage=name)
        return False
