"""Token revocation (RFC 7009): refresh tokens revoke their whole grant; access tokens by jti."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridgehead.auth.errors import NO_STORE, OAuthError, invalid_request
from bridgehead.auth.keys import InvalidToken
from bridgehead.auth.server.forms import read_form
from bridgehead.auth.service import AuthService


def routes(service: AuthService) -> list[BaseRoute]:
    async def revoke(request: Request) -> Response:
        try:
            form = await read_form(request)
            client = await service.clients.authenticate(
                form, request.headers.get("authorization"), audiences=service.assertion_audiences(request)
            )
            token = form.get("token")
            if not token:
                raise invalid_request("token is required")
            hint = form.get("token_type_hint")
            if hint not in (None, "access_token", "refresh_token"):
                raise OAuthError("unsupported_token_type", f"token_type_hint {hint!r} is not supported")
            row = await service.grants.find_refresh_token(token)
            if row is not None:
                if row.client_id == client.client_id:
                    await service.grants.revoke_family(row.family_id)
            else:
                try:
                    claims = await service.keys.verify(
                        token, issuer=service.issuer(request), audiences=service.accepted_resources(request)
                    )
                except InvalidToken:
                    claims = None
                if claims is not None and claims.get("client_id") == client.client_id:
                    await service.grants.revoke_access_token(str(claims["jti"]), int(claims["exp"]))
        except OAuthError as exc:
            return exc.response()
        # RFC 7009 §2.2: unknown or foreign tokens also get 200, so nothing leaks.
        return Response(status_code=200, headers=NO_STORE)

    return [Route("/revoke", revoke, methods=["POST"])]
