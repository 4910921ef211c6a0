"""A headless ChatGPT: the OAuth linking flow a connector goes through, driven over plain HTTP."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

CHATGPT_REDIRECT = "https://chatgpt.com/connector_platform_oauth_redirect"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the first form on a page."""
    return {
        unescape(m.group(1)): unescape(m.group(2))
        for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


@dataclass
class LinkedClient:
    """What a finished linking flow leaves the client holding."""

    client_id: str
    client_secret: str | None
    auth_method: str
    tokens: dict[str, Any]
    redirect_query: dict[str, str] = field(default_factory=dict)


def client_auth(client_id: str, secret: str | None, method: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate a client at the token endpoint as registered."""
    if method == "client_secret_basic":
        assert secret
        raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return {"authorization": f"Basic {raw}"}, {}
    if method == "client_secret_post":
        return {}, {"client_id": client_id, "client_secret": secret or ""}
    return {}, {"client_id": client_id}


def discover(http: httpx.Client, mcp_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """401 → PRM → AS metadata, as ChatGPT does it."""
    denied = http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    assert denied.status_code == 401, denied.text
    challenge = denied.headers["www-authenticate"]
    match = re.search(r'resource_metadata="([^"]+)"', challenge)
    assert match, challenge
    prm = http.get(match.group(1)).json()
    issuer = prm["authorization_servers"][0]
    metadata = http.get(issuer.rstrip("/") + "/.well-known/oauth-authorization-server").json()
    return prm, metadata


def link(
    http: httpx.Client,
    mcp_url: str,
    username: str,
    password: str,
    *,
    auth_method: str = "client_secret_basic",
    scope: str | None = None,
    redirect_uri: str = CHATGPT_REDIRECT,
) -> LinkedClient:
    """Register, authorize with PKCE, sign in, consent and exchange the code: the whole linking flow."""
    prm, metadata = discover(http, mcp_url)
    registration = http.post(
        metadata["registration_endpoint"],
        json={
            "client_name": "ChatGPT",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": auth_method,
        },
    )
    assert registration.status_code == 201, registration.text
    client = registration.json()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "resource": prm["resource"],
    }
    if scope is not None:
        params["scope"] = scope
    login_page = http.get(metadata["authorization_endpoint"], params=params)
    assert login_page.status_code == 200, login_page.text
    assert login_page.headers["x-frame-options"] == "DENY"
    fields = form_fields(login_page.text)
    consent_page = http.post(
        login_page.url.join("/login"), data={**fields, "username": username, "password": password}
    )
    assert consent_page.status_code == 200, consent_page.text
    assert "Allow" in consent_page.text
    redirect = http.post(
        consent_page.url.join("/consent"), data={**form_fields(consent_page.text), "decision": "allow"}
    )
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["location"]
    assert location.startswith(redirect_uri + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == state
    assert query["iss"] == metadata["issuer"]
    headers, auth_fields = client_auth(client["client_id"], client.get("client_secret"), auth_method)
    exchanged = http.post(
        metadata["token_endpoint"],
        headers=headers,
        data={
            **auth_fields,
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "resource": prm["resource"],
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    return LinkedClient(
        client["client_id"], client.get("client_secret"), auth_method, exchanged.json(), query
    )


def refresh(
    http: httpx.Client, token_endpoint: str, client: LinkedClient, refresh_token: str
) -> httpx.Response:
    headers, fields = client_auth(client.client_id, client.client_secret, client.auth_method)
    return http.post(
        token_endpoint,
        headers=headers,
        data={**fields, "grant_type": "refresh_token", "refresh_token": refresh_token},
    )
