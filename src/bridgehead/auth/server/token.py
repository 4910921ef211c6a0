"""The token endpoint: authorization_code (with PKCE), refresh_token (rotating) and client_credentials."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridgehead.auth.clients import Client
from bridgehead.auth.errors import NO_STORE, OAuthError, invalid_grant, invalid_request, invalid_scope
from bridgehead.auth.grants import Grant
from bridgehead.auth.server.forms import read_form
from bridgehead.auth.service import AuthService
from bridgehead.policy.decision import OFFLINE_ACCESS, OIDC_SCOPES


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _check_verifier(verifier: str | None, challenge: str) -> None:
    if not verifier:
        raise invalid_request("code_verifier is required (PKCE)")
    if not 43 <= len(verifier) <= 128 or not all(c.isalnum() or c in "-._~" for c in verifier):
        raise invalid_request("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")
    if not hmac.compare_digest(pkce_s256(verifier), challenge):
        raise invalid_grant("code_verifier does not match the code_challenge")


def routes(service: AuthService) -> list[BaseRoute]:
    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
            client = await service.clients.authenticate(
                form, request.headers.get("authorization"), audiences=service.assertion_audiences(request)
            )
            grant_type = form.get("grant_type")
            if not grant_type:
                raise invalid_request("grant_type is required")
            if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
            if grant_type not in client.grant_types:
                raise OAuthError("unauthorized_client", f"this client is not registered for {grant_type}")
            if grant_type == "authorization_code":
                body = await authorization_code(request, client, form)
            elif grant_type == "refresh_token":
                body = await refresh_token(request, client, form)
            else:
                body = await client_credentials(request, client, form)
        except OAuthError as exc:
            return exc.response()
        return JSONResponse(body, headers=NO_STORE)

    def check_resource(request: Request, form: dict[str, str], bound: str) -> None:
        asked = form.get("resource")
        if asked is not None and service.match_resource(request, asked) != bound:
            raise OAuthError(
                "invalid_target", f"resource must be {bound!r}, the one this grant was issued for"
            )

    def token_resource(request: Request, form: dict[str, str]) -> str:
        """The audience a token request asks for (RFC 8707): its resource, else the MCP endpoint."""
        asked = form.get("resource")
        resource = service.match_resource(request, asked) if asked else service.resource(request)
        if resource is None:
            raise OAuthError("invalid_target", f"unknown resource {asked!r}; use {service.resource(request)}")
        return resource

    async def authorization_code(request: Request, client: Client, form: dict[str, str]) -> dict[str, object]:
        code = form.get("code")
        if not code:
            raise invalid_request("code is required")
        grant = await service.grants.redeem_code(code, client.client_id)
        given = form.get("redirect_uri")
        if grant.redirect_uri:
            if given != grant.redirect_uri:
                raise invalid_grant("redirect_uri does not match the one used in the authorization request")
        elif given is not None and given not in client.redirect_uris:
            raise invalid_grant("redirect_uri is not one this client registered")
        _check_verifier(form.get("code_verifier"), grant.code_challenge)
        if grant.resource:
            check_resource(request, form, grant.resource)
        else:  # the authorization request named no resource: this request decides the audience
            grant = dataclasses.replace(grant, resource=token_resource(request, form))
        user = await service.users.get(grant.user_id)
        if user is None or user.disabled:
            raise invalid_grant("the user who authorized this code is disabled")
        # The role may have changed between consent and this exchange: grant only what it allows now.
        allowed = service.grantable_scopes(user) | set(OIDC_SCOPES)
        grant = dataclasses.replace(grant, scope=" ".join(s for s in grant.scope.split() if s in allowed))
        tokens = await service.mint(request, grant, user, refresh=True, nonce=grant.nonce)
        return tokens.body()

    async def refresh_token(request: Request, client: Client, form: dict[str, str]) -> dict[str, object]:
        presented = form.get("refresh_token")
        if not presented:
            raise invalid_request("refresh_token is required")
        grant = await service.grants.rotate_refresh_token(presented, client.client_id)
        check_resource(request, form, grant.resource)
        user = await service.users.get(grant.user_id)
        if user is None or user.disabled:
            await service.grants.revoke_family(grant.family_id)
            raise invalid_grant("the user of this grant is disabled")
        scope = grant.scope
        if form.get("scope"):
            asked = form["scope"].split()
            extra = [s for s in asked if s not in scope.split()]
            if extra:
                raise invalid_scope(f"a refresh cannot add scope {' '.join(extra)}")
            # offline_access stays, or the client could not refresh again.
            scope = " ".join(
                dict.fromkeys([*asked, *([OFFLINE_ACCESS] if OFFLINE_ACCESS in scope.split() else [])])
            )
        # The role may have changed since consent: never grant beyond what it allows now.
        allowed = service.grantable_scopes(user) | set(OIDC_SCOPES)
        scope = " ".join(s for s in scope.split() if s in allowed)
        narrowed = Grant(grant.family_id, grant.client_id, grant.user_id, scope, grant.resource)
        tokens = await service.mint(request, narrowed, user, refresh=True)
        return tokens.body()

    async def client_credentials(request: Request, client: Client, form: dict[str, str]) -> dict[str, object]:
        if client.auth_method == "none":
            raise OAuthError("unauthorized_client", "client_credentials needs a confidential client")
        resource = token_resource(request, form)
        registered = (
            client.scope or " ".join(s for s in service.auth.default_scopes if s != OFFLINE_ACCESS)
        ).split()
        asked = form.get("scope", "").split() or registered
        extra = [s for s in asked if s not in registered or s == OFFLINE_ACCESS]
        if extra:
            raise invalid_scope(f"this client may not ask for {' '.join(extra)}")
        grant = Grant(
            uuid.uuid4().hex, client.client_id, f"client:{client.client_id}", " ".join(asked), resource
        )
        tokens = await service.mint(request, grant, None, refresh=False)
        body = tokens.body()
        body.pop("refresh_token", None)
        return body

    return [Route("/token", token, methods=["POST"])]
