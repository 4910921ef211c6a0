"""Protocol paths answer directly: no 307/308 (or any 3xx) on the MCP endpoint, the legacy SSE
endpoint, or the well-known metadata.

ChatGPT does not replay a POST after a redirect, and a server (or a framework's trailing-slash
rule) that answers ``/mcp/`` or ``/sse`` with a redirect breaks the connector for whoever pasted
that form of the URL. The doctor asks each form, with and without the trailing slash, without
credentials (a redirect usually comes before any authorization), and adds the 3xx the metadata
discovery met.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from bridgehead.doctor.probe import Probe, Unreachable, describe
from bridgehead.doctor.report import Status
from bridgehead.doctor.transport import ACCEPT_BOTH, INITIALIZE, sibling


def twin(url: str) -> str:
    """The same URL with the trailing slash added or removed."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") if parts.path.endswith("/") and parts.path != "/" else parts.path + "/"
    return parts._replace(path=path).geturl()


async def check_redirects(probe: Probe) -> None:
    """``transport.redirects``."""
    redirects = list(dict.fromkeys(probe.learned.redirects))
    evidence: list[str] = []
    for url in dict.fromkeys([probe.url, twin(probe.url)]):
        try:
            response = await probe.send("POST", url, headers={"accept": ACCEPT_BOTH}, json_body=INITIALIZE)
        except Unreachable as exc:
            evidence.append(f"POST {url} → {exc}")
            continue
        evidence.append(describe(response))
        if response.is_redirect:
            redirects.append(f"{describe(response)} → {urljoin(url, response.headers['location'])}")
    sse = sibling(probe.url, "sse")
    for url in dict.fromkeys([sse, twin(sse)]):
        if url in (probe.url, twin(probe.url)):
            continue
        line, location = await sse_status(probe, url)
        evidence.append(line)
        if location is not None:
            redirects.append(f"{line} → {location}")
    if redirects:
        strict = [r for r in redirects if " 307 " in r or " 308 " in r]
        if strict:
            probe.learned.differ(
                "chatgpt",
                "protocol paths answer with 307/308: clients that follow redirects (fetch-based SDKs) cope, "
                "ChatGPT does not replay the POST (transport.redirects)",
            )
        probe.report.record(
            "transport.redirects",
            Status.FAIL,
            f"{len(redirects)} protocol path(s) answer with a redirect: ChatGPT does not follow it with the "
            "request's POST",
            evidence=[*redirects, "all answers:", *evidence],
            hint="Answer /mcp, /mcp/, /sse, /sse/ and every /.well-known/… URL directly, without 307/308 (or any "
            "3xx): route both slash forms to the same handler (in Starlette, a Route for each instead of a Mount, "
            "or redirect_slashes off), and make the proxy in front pass them through unchanged.",
        )
        return
    probe.report.record(
        "transport.redirects",
        Status.PASS,
        "the MCP and SSE paths (both slash forms) and the metadata answer directly",
        evidence=evidence,
    )


async def sse_status(probe: Probe, url: str) -> tuple[str, str | None]:
    """The status line of a GET for an SSE stream at ``url`` (closed right away), and the redirect
    target when it is a redirect."""
    try:
        with anyio.fail_after(probe.options.timeout):
            async with probe.http.stream("GET", url, headers={"accept": "text/event-stream"}) as response:
                location = urljoin(url, response.headers["location"]) if response.is_redirect else None
                return describe(response), location
    except TimeoutError:
        return f"GET {url} → timed out", None
    except httpx.HTTPError as exc:
        return f"GET {url} → {type(exc).__name__}", None
