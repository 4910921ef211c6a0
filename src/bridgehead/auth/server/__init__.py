"""Bridgehead's OAuth 2.1 authorization server, one module per standard."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bridgehead.auth import federation
from bridgehead.auth.server import authorize, introspection, metadata, registration, revocation, token
from bridgehead.auth.service import AuthService
from bridgehead.web.session import SessionCodec


def auth_routes(service: AuthService, sessions: SessionCodec) -> list[BaseRoute]:
    """Every route of the authorization server, with federated login when ``auth.federation`` is set."""
    routes = [
        *metadata.routes(service),
        *registration.routes(service),
        *authorize.routes(service, sessions),
        *token.routes(service),
        *revocation.routes(service),
        *introspection.routes(service),
    ]
    if service.auth.federation is not None:
        routes += federation.federation_routes(service, sessions)
    return routes
