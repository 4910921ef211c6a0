"""Discovery: Protected Resource Metadata (RFC 9728), Authorization Server Metadata (RFC 8414),
OpenID Connect discovery and the JWKS.

Every URL is built from the public base URL. Each document is served at the
root well-known path and at the path-suffixed and path-inserted variants the
MCP authorization spec lists, with and without a trailing slash, all answered
directly (never redirected: ChatGPT does not replay a request after a redirect).

A Protected Resource Metadata document names the resource its URL was built from
(RFC 9728 §3.3): ``/.well-known/oauth-protected-resource/mcp/`` is the metadata of
``https://host/mcp/``. The root document names the MCP endpoint, ``https://host/mcp``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bridgehead.auth.cimd import SIGNING_ALGORITHMS
from bridgehead.auth.service import MCP_PATH, PRM_PATH, AuthService

CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"}
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def protected_resource_metadata(
    service: AuthService, request: Request, resource: str | None = None
) -> dict[str, Any]:
    """The metadata of ``resource`` (default: the MCP endpoint)."""
    return {
        "resource": resource or service.resource(request),
        "authorization_servers": [service.issuer(request)],
        "scopes_supported": service.supported_scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": service.settings.mcp.server_name,
        "resource_documentation": service.base_url(request) + "/",
    }


def authorization_server_metadata(service: AuthService, request: Request) -> dict[str, Any]:
    base = service.base_url(request)
    grant_types = ["authorization_code", "refresh_token", "client_credentials"]
    client_auth = CLIENT_AUTH_METHODS
    return {
        "issuer": service.issuer(request),
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "registration_endpoint": base + "/register",
        "revocation_endpoint": base + "/revoke",
        "introspection_endpoint": base + "/introspect",
        "userinfo_endpoint": base + "/userinfo",
        "jwks_uri": base + "/jwks.json",
        "scopes_supported": service.supported_scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": client_auth,
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        # A client may use the URL of its metadata document as client_id (no registration needed).
        "client_id_metadata_document_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "preferred_username", "name", "email"],
        "service_documentation": base + "/",
    }


def routes(service: AuthService) -> list[BaseRoute]:
    def prm_for(path: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        """The endpoint of one Protected Resource Metadata document: ``path`` "" names the MCP endpoint."""

        async def prm(request: Request) -> JSONResponse:
            resource = service.base_url(request) + path if path else None
            return JSONResponse(protected_resource_metadata(service, request, resource), headers=CORS)

        return prm

    async def asm(request: Request) -> JSONResponse:
        return JSONResponse(authorization_server_metadata(service, request), headers=CORS)

    async def jwks(request: Request) -> JSONResponse:
        await service.keys.refresh_if_stale()
        return JSONResponse(service.keys.jwks(), headers=CORS)

    suffix = MCP_PATH
    asm_paths = [
        "/.well-known/oauth-authorization-server",
        f"/.well-known/oauth-authorization-server{suffix}",
        "/.well-known/openid-configuration",
        f"/.well-known/openid-configuration{suffix}",
        f"{suffix}/.well-known/openid-configuration",
    ]
    result: list[BaseRoute] = [
        Route(PRM_PATH, prm_for(""), methods=["GET"]),
        Route(PRM_PATH + "/", prm_for(""), methods=["GET"]),
    ]
    # One document per form of the connector URL (/mcp, /mcp/, /sse, /sse/), each naming exactly that URL.
    result += [Route(PRM_PATH + path, prm_for(path), methods=["GET"]) for path in service.resource_paths()]
    for path in asm_paths:
        result += [Route(path, asm, methods=["GET"]), Route(path + "/", asm, methods=["GET"])]
    result.append(Route("/jwks.json", jwks, methods=["GET"]))
    return result
