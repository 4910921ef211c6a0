"""A headless ChatGPT: the OAuth linking flow a connector goes through, driven over plain HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.auth.document_host import DocumentHost

CHATGPT_REDIRECT = "https://chatgpt.com/connector_platform_oauth_redirect"
CHATGPT_CALLBACK_REDIRECT = "https://chatgpt.com/connector/oauth/{callback_id}"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


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


@dataclass(frozen=True)
class ClientKey:
    """A client's ES256 key pair: the public half goes in its metadata document, the private half signs."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def generate(cls) -> ClientKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), secrets.token_hex(8))

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def assertion(
        self, client_id: str, audience: str | list[str], *, lifetime: int = 60, **changes: Any
    ) -> str:
        """A private_key_jwt client assertion (RFC 7523) for ``audience``; ``changes`` override claims."""
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
            **changes,
        }
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid})


@dataclass
class LinkedClient:
    """What a finished linking flow leaves the client holding."""

    client_id: str
    client_secret: str | None
    auth_method: str
    tokens: dict[str, Any]
    redirect_query: dict[str, str] = field(default_factory=dict)
    assertion_key: ClientKey | None = None


def client_auth(
    client_id: str, secret: str | None, method: str, *, key: ClientKey | None = None, audience: str = ""
) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate a client at the token endpoint as registered."""
    if method == "private_key_jwt":
        assert key is not None
        return {}, {
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": key.assertion(client_id, audience),
        }
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


def register(
    http: httpx.Client,
    registration_endpoint: str,
    *,
    auth_method: str = "client_secret_basic",
    redirect_uris: tuple[str, ...] = (CHATGPT_REDIRECT,),
    **metadata: Any,
) -> dict[str, Any]:
    """Register a client as ChatGPT does (RFC 7591) and return the registration response."""
    registration = http.post(
        registration_endpoint,
        json={
            "client_name": "ChatGPT",
            "redirect_uris": list(redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": auth_method,
            **metadata,
        },
    )
    assert registration.status_code == 201, registration.text
    client: dict[str, Any] = registration.json()
    return client


def document_client(
    host: DocumentHost,
    *,
    auth_method: str = "none",
    redirect_uris: tuple[str, ...] = (CHATGPT_REDIRECT,),
    inline_keys: bool = False,
    name: str = "ChatGPT",
    **metadata: Any,
) -> dict[str, Any]:
    """A client that identifies itself with a Client ID Metadata Document served by ``host``, as ChatGPT's
    are (``…/oauth/{id}/client.json``); returned in the shape of a registration response."""
    path = f"/oauth/{secrets.token_hex(8)}/client.json"
    url = host.url(path)
    document: dict[str, Any] = {
        "client_id": url,
        "client_name": name,
        "redirect_uris": list(redirect_uris),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
        **metadata,
    }
    key = None
    if auth_method == "private_key_jwt":
        key = ClientKey.generate()
        if inline_keys:
            document["jwks"] = key.jwks()
        else:
            document["jwks_uri"] = host.serve_json(path.replace("client.json", "jwks.json"), key.jwks())
    host.serve_json(path, document)
    return {
        "client_id": url,
        "redirect_uris": list(redirect_uris),
        "token_endpoint_auth_method": auth_method,
        "assertion_key": key,
        "document": document,
        "path": path,
    }


def authorization_params(
    client: dict[str, Any],
    challenge: str,
    *,
    state: str | None,
    resource: str | None,
    scope: str | None = None,
    redirect_uri: str | None = None,
) -> dict[str, str]:
    """The query of an authorization request with PKCE (and the resource indicator when given)."""
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": redirect_uri or client["redirect_uris"][0],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    for key, value in (("state", state), ("resource", resource), ("scope", scope)):
        if value is not None:
            params[key] = value
    return params


def sign_in(http: httpx.Client, login_page: httpx.Response, username: str, password: str) -> httpx.Response:
    """Submit the login form of a login page as a browser would; returns the consent page."""
    return http.post(
        login_page.url.join("/login"),
        data={**form_fields(login_page.text), "username": username, "password": password},
    )


def consent(http: httpx.Client, consent_page: httpx.Response, decision: str = "allow") -> httpx.Response:
    """Press Allow (or Deny) on a consent page; returns the redirect to the client."""
    return http.post(
        consent_page.url.join("/consent"), data={**form_fields(consent_page.text), "decision": decision}
    )


def redirect_query(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The parameters of a 302 back to the client, after checking where it goes."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(
    http: httpx.Client,
    authorization_endpoint: str,
    params: dict[str, str],
    username: str,
    password: str,
) -> dict[str, str]:
    """Follow an authorization request through login and consent; returns the redirect's query."""
    login_page = http.get(authorization_endpoint, params=params)
    assert login_page.status_code == 200, login_page.text
    assert login_page.headers["x-frame-options"] == "DENY"
    consent_page = sign_in(http, login_page, username, password)
    assert consent_page.status_code == 200, consent_page.text
    assert "Allow" in consent_page.text
    return redirect_query(consent(http, consent_page), params["redirect_uri"])


def exchange(
    http: httpx.Client,
    token_endpoint: str,
    client: dict[str, Any],
    code: str,
    verifier: str | None,
    *,
    redirect_uri: str | None = None,
    **extra: str,
) -> httpx.Response:
    """The authorization_code grant at the token endpoint, authenticated as the client registered."""
    headers, auth_fields = client_auth(
        client["client_id"],
        client.get("client_secret"),
        client["token_endpoint_auth_method"],
        key=client.get("assertion_key"),
        audience=token_endpoint,
    )
    data = {
        **auth_fields,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri or client["redirect_uris"][0],
        **extra,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return http.post(token_endpoint, headers=headers, data=data)


def link(
    http: httpx.Client,
    mcp_url: str,
    username: str,
    password: str,
    *,
    auth_method: str = "client_secret_basic",
    scope: str | None = None,
    redirect_uri: str = CHATGPT_REDIRECT,
    documents: DocumentHost | None = None,
) -> LinkedClient:
    """Register (or, given ``documents``, publish a Client ID Metadata Document), authorize with PKCE,
    sign in, consent and exchange the code: the whole linking flow."""
    prm, metadata = discover(http, mcp_url)
    if documents is not None:
        assert metadata["client_id_metadata_document_supported"] is True
        assert auth_method in metadata["token_endpoint_auth_methods_supported"]
        client = document_client(documents, auth_method=auth_method, redirect_uris=(redirect_uri,))
    else:
        client = register(
            http, metadata["registration_endpoint"], auth_method=auth_method, redirect_uris=(redirect_uri,)
        )
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = authorization_params(client, challenge, state=state, resource=prm["resource"], scope=scope)
    query = authorize(http, metadata["authorization_endpoint"], params, username, password)
    assert query["state"] == state
    assert query["iss"] == metadata["issuer"]
    exchanged = exchange(
        http, metadata["token_endpoint"], client, query["code"], verifier, resource=prm["resource"]
    )
    assert exchanged.status_code == 200, exchanged.text
    return LinkedClient(
        client["client_id"],
        client.get("client_secret"),
        auth_method,
        exchanged.json(),
        query,
        client.get("assertion_key"),
    )


def refresh(
    http: httpx.Client, token_endpoint: str, client: LinkedClient, refresh_token: str
) -> httpx.Response:
    headers, fields = client_auth(
        client.client_id,
        client.client_secret,
        client.auth_method,
        key=client.assertion_key,
        audience=token_endpoint,
    )
    return http.post(
        token_endpoint,
        headers=headers,
        data={**fields, "grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def obtain_tokens(
    http: httpx.Client,
    base_url: str,
    username: str,
    password: str,
    *,
    scope: str | None = None,
    auth_method: str = "client_secret_basic",
) -> dict[str, Any]:
    """Tokens for ``username`` through the whole code flow, without the 401 discovery step
    (which needs oauth mode: in mixed mode /mcp answers without a token)."""
    metadata = http.get(base_url + "/.well-known/oauth-authorization-server").json()
    prm = http.get(base_url + "/.well-known/oauth-protected-resource/mcp").json()
    client = register(http, metadata["registration_endpoint"], auth_method=auth_method)
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=prm["resource"], scope=scope)
    query = authorize(http, metadata["authorization_endpoint"], params, username, password)
    exchanged = exchange(http, metadata["token_endpoint"], client, query["code"], verifier)
    assert exchanged.status_code == 200, exchanged.text
    tokens: dict[str, Any] = exchanged.json()
    return tokens
