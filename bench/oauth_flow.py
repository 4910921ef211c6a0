"""An access token from Bridgehead's own authorization server, obtained the way ChatGPT obtains one.

Dynamic client registration (RFC 7591), an authorization request with PKCE and
a resource indicator, the login and consent pages submitted as a browser
would, and the code exchanged at /token: the token the benchmark sends is a
real ES256 JWT for a real local user, whose role decides what it may call.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

REDIRECT_URI = "http://127.0.0.1/bench-callback"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class OAuthFlowError(RuntimeError):
    """A step of the flow did not answer as expected; the message names it and shows the answer."""


def _expect(response: httpx.Response, status: int, step: str) -> httpx.Response:
    if response.status_code != status:
        raise OAuthFlowError(
            f"{step}: expected HTTP {status}, got {response.status_code}: {response.text[:500]}"
        )
    return response


def _hidden_fields(html: str) -> dict[str, str]:
    return {unescape(name): unescape(value) for name, value in _HIDDEN.findall(html)}


def access_token(base_url: str, username: str, password: str, scope: str) -> str:
    """Register a client, sign ``username`` in, consent, and exchange the code for an access token."""
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as http:
        metadata = _expect(
            http.get("/.well-known/oauth-authorization-server"), 200, "authorization server metadata"
        ).json()
        resource = _expect(
            http.get("/.well-known/oauth-protected-resource/mcp"), 200, "protected resource metadata"
        ).json()["resource"]
        client: dict[str, Any] = _expect(
            http.post(
                metadata["registration_endpoint"],
                json={
                    "client_name": "bridgehead-bench",
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
            ),
            201,
            "client registration",
        ).json()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        login_page = _expect(
            http.get(
                metadata["authorization_endpoint"],
                params={
                    "response_type": "code",
                    "client_id": client["client_id"],
                    "redirect_uri": REDIRECT_URI,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": state,
                    "resource": resource,
                    "scope": scope,
                },
            ),
            200,
            "authorization request (login page)",
        )
        consent_page = _expect(
            http.post(
                "/login",
                data={**_hidden_fields(login_page.text), "username": username, "password": password},
            ),
            200,
            "login",
        )
        redirect = _expect(
            http.post("/consent", data={**_hidden_fields(consent_page.text), "decision": "allow"}),
            302,
            "consent",
        )
        location = redirect.headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != state or "code" not in query:
            raise OAuthFlowError(f"consent redirected to {location!r}, not back to the client with a code")
        tokens = _expect(
            http.post(
                metadata["token_endpoint"],
                auth=(client["client_id"], client["client_secret"]),
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"],
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                    "resource": resource,
                },
            ),
            200,
            "code exchange",
        ).json()
    token = tokens.get("access_token")
    if not isinstance(token, str) or tokens.get("token_type", "").lower() != "bearer":
        raise OAuthFlowError(f"the token endpoint answered without a bearer access token: {tokens}")
    return token
