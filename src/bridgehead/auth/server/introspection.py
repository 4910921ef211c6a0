"""Token introspection (RFC 7662) and the OpenID Connect userinfo endpoint."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridgehead.auth.errors import NO_STORE, OAuthError, invalid_request
from bridgehead.auth.keys import InvalidToken
from bridgehead.auth.server.forms import read_form
from bridgehead.auth.service import AuthService


def routes(service: AuthService) -> list[BaseRoute]:
    from bridgehead.auth.resource import TokenVerifier

    verifier = TokenVerifier(service)

    async def introspect(request: Request) -> Response:
        try:
            form = await read_form(request)
            client = await service.clients.authenticate(
                form, request.headers.get("authorization"), audiences=service.assertion_audiences(request)
            )
            token = form.get("token")
            if not token:
                raise invalid_request("token is required")
        except OAuthError as exc:
            return exc.response()
        inactive = JSONResponse({"active": False}, headers=NO_STORE)
        row = await service.grants.find_refresh_token(token)
        if row is not None:
            if row.client_id != client.client_id or row.used_at or row.revoked_at:
                return inactive
            if await service.grants.family_revoked(row.family_id):
                return inactive
            body: dict[str, Any] = {
                "active": True,
                "token_type": "refresh_token",
                "client_id": row.client_id,
                "scope": row.scope,
                "sub": row.user_id,
                "exp": row.expires_at,
                "iat": row.created_at,
                "aud": row.resource,
                "iss": service.issuer(request),
            }
            return JSONResponse(body, headers=NO_STORE)
        try:
            claims = await verifier.verify(token, request)
        except InvalidToken:
            return inactive
        # A client may only introspect its own tokens (RFC 7662 §4: no token scanning).
        if claims.get("client_id") != client.client_id:
            return inactive
        body = {
            "active": True,
            "token_type": "Bearer",
            **{
                k: claims[k]
                for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
                if k in claims
            },
        }
        if "username" in claims:
            body["username"] = claims["username"]
        return JSONResponse(body, headers=NO_STORE)

    async def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if kind.lower() != "bearer" or not token:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "bearer token required"}, 401, challenge
            )
        try:
            claims = await verifier.verify(token.strip(), request)
        except InvalidToken as exc:
            return JSONResponse({"error": "invalid_token", "error_description": str(exc)}, 401, challenge)
        user = await service.users.get(str(claims["sub"]))
        if user is None:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "unknown user"}, 401, challenge
            )
        scopes = str(claims.get("scope", "")).split()
        info: dict[str, Any] = {"sub": user.id}
        if "profile" in scopes or "openid" in scopes:
            info["preferred_username"] = user.username
            if user.display_name:
                info["name"] = user.display_name
        if "email" in scopes and user.email:
            info["email"] = user.email
        return JSONResponse(info, headers=NO_STORE)

    return [
        Route("/introspect", introspect, methods=["POST"]),
        Route("/userinfo", userinfo, methods=["GET", "POST"]),
    ]
