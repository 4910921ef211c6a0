"""Discovery: Protected Resource Metadata (RFC 9728), Authorization Server Metadata (RFC 8414),
OpenID Connect discovery and the JWKS.

Every URL is built from the public base URL. Each document is served at the
root well-known path and at the path-suffixed and path-inserted variants the
MCP authorization spec lists, all answered directly (never redirected).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bridgehead.auth.service import MCP_PATH, AuthService

CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"}


def protected_resource_metadata(service: AuthService, request: Request) -> dict[str, Any]:
    return {
        "resource": service.resource(request),
        "authorization_servers": [service.issuer(request)],
        "scopes_supported": service.supported_scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": service.settings.mcp.server_name,
        "resource_documentation": service.base_url(request) + "/",
    }


def authorization_server_metadata(service: AuthService, request: Request) -> dict[str, Any]:
    base = service.base_url(request)
    grant_types = ["authorization_code", "refresh_token", "client_credentials"]
    client_auth = ["client_secret_basic", "client_secret_post", "none"]
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
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": client_auth,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "preferred_username", "name", "email"],
        "service_documentation": base + "/",
    }


def routes(service: AuthService) -> list[BaseRoute]:
    async def prm(request: Request) -> JSONResponse:
        return JSONResponse(protected_resource_metadata(service, request), headers=CORS)

    async def asm(request: Request) -> JSONResponse:
        return JSONResponse(authorization_server_metadata(service, request), headers=CORS)

    async def jwks(request: Request) -> JSONResponse:
        await service.keys.refresh_if_stale()
        return JSONResponse(service.keys.jwks(), headers=CORS)

    suffix = MCP_PATH
    prm_paths = ["/.well-known/oauth-protected-resource", f"/.well-known/oauth-protected-resource{suffix}"]
    asm_paths = [
        "/.well-known/oauth-authorization-server",
        f"/.well-known/oauth-authorization-server{suffix}",
        "/.well-known/openid-configuration",
        f"/.well-known/openid-configuration{suffix}",
        f"{suffix}/.well-known/openid-configuration",
    ]
    result: list[BaseRoute] = []
    for path in prm_paths:
        result += [Route(path, prm, methods=["GET"]), Route(path + "/", prm, methods=["GET"])]
    for path in asm_paths:
        result += [Route(path, asm, methods=["GET"]), Route(path + "/", asm, methods=["GET"])]
    result.append(Route("/jwks.json", jwks, methods=["GET"]))
    return result
