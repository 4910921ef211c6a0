"""Dynamic Client Registration (RFC 7591) at /register."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridgehead.auth.clients import MAX_METADATA_BYTES, registration_error
from bridgehead.auth.errors import NO_STORE, OAuthError
from bridgehead.auth.service import AuthService


def routes(service: AuthService) -> list[BaseRoute]:
    async def register(request: Request) -> Response:
        try:
            if (
                not request.headers.get("content-type", "").split(";")[0].strip().lower()
                == "application/json"
            ):
                raise registration_error("send the client metadata as application/json")
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_METADATA_BYTES:
                raise registration_error(f"client metadata larger than {MAX_METADATA_BYTES} bytes")
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_METADATA_BYTES:
                    raise registration_error(f"client metadata larger than {MAX_METADATA_BYTES} bytes")
            registered = await service.clients.register(body)
        except OAuthError as exc:
            return exc.response()
        return JSONResponse(registered, status_code=201, headers=NO_STORE)

    return [Route("/register", register, methods=["POST"])]
