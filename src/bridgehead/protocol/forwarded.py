"""Trusted reverse-proxy headers and the public base URL.

Behind a TLS-terminating proxy or tunnel (ngrok, Cloudflare Tunnel) the
server sees plain HTTP from the proxy. When the peer is a trusted proxy, its
``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``X-Forwarded-For`` replace the
scheme, Host header and client address, so every URL Bridgehead builds is the
public one. Headers from untrusted peers are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REMEMBERED_PEERS = 4096


def parse_networks(entries: Sequence[str]) -> tuple[bool, list[Network]]:
    """(trust everyone, networks) from config entries such as '127.0.0.1' or '10.0.0.0/8' or '*'."""
    return "*" in entries, [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]


class ForwardedHeadersMiddleware:
    """Apply X-Forwarded-* from trusted proxies to the ASGI scope."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.trust_all, self.networks = parse_networks(trusted)
        # Verdicts by peer address: parsing the address and testing the networks cost more than
        # the rest of this middleware, for the same few proxies on every request.
        self._verdicts: dict[str, bool] = {}

    def _trusted(self, host: str | None) -> bool:
        if self.trust_all:
            return True
        if not host or not self.networks:
            return False
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._in_networks(host)
            if len(self._verdicts) >= MAX_REMEMBERED_PEERS:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    def _in_networks(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(self.rewrite(scope), receive, send)

    def rewrite(self, scope: Scope) -> Scope:
        """The scope as the trusted proxy saw the request (unchanged for untrusted peers).

        Idempotent: the result depends only on the headers, so applying it twice changes nothing.
        """
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if self._trusted(client[0] if client else None):
                return self._apply(scope)
        return scope

    def _apply(self, scope: Scope) -> Scope:
        headers = dict(scope["headers"])
        scope = dict(scope)
        proto = headers.get(b"x-forwarded-proto")
        if proto:
            value = proto.decode("latin-1").split(",")[0].strip().lower()
            if value in ("http", "https"):
                scope["scheme"] = value if scope["type"] == "http" else {"http": "ws", "https": "wss"}[value]
        host = headers.get(b"x-forwarded-host")
        if host:
            value = host.decode("latin-1").split(",")[0].strip()
            if value and all(c.isalnum() or c in ".-:[]" for c in value):
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [
                    (b"host", value.encode("latin-1"))
                ]
        forwarded_for = headers.get(b"x-forwarded-for")
        if forwarded_for:
            # The nearest address that is not itself a trusted proxy is the client.
            hops = [h.strip() for h in forwarded_for.decode("latin-1").split(",") if h.strip()]
            for hop in reversed(hops):
                if not self._trusted(hop) or hop == hops[0]:
                    scope["client"] = (hop, 0)
                    break
        return scope


def base_url_from_scope(scope: Scope, configured: str | None) -> str:
    """The public origin for this request: the configured one, else scheme and Host as seen."""
    if configured:
        return configured
    scheme = scope.get("scheme", "http")
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"
