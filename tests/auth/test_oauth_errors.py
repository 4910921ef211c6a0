"""Bad input against the authorization server and the resource server.

Every OAuth error must be the RFC's JSON error with a useful ``error_description``
(pages for people where the RFC says not to redirect), never a 500 or a stack trace.
Most tests share one oauth-mode server; those that need other settings start their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from bridgehead.auth.opaque import hash_secret
from bridgehead.auth.resource import REVOCATION_CACHE_SECONDS
from bridgehead.store import Database
from bridgehead.store.models import AuthorizationCodeRow, RefreshTokenRow, SigningKeyRow
from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import (
    CHATGPT_REDIRECT,
    authorization_params,
    authorize,
    client_auth,
    consent,
    exchange,
    form_fields,
    pkce_pair,
    redirect_query,
    register,
    sign_in,
)
from tests.conftest import RunningServer, make_settings, run_coroutine, serve_in_thread

OTHER_RESOURCE = "https://other-server.example.com/mcp"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "oauth-error-tests", "version": "1"},
    },
}


@dataclass(frozen=True)
class Endpoints:
    """One running oauth-mode server and what its discovery documents say."""

    server: RunningServer
    metadata: dict[str, Any]
    prm: dict[str, Any]

    @property
    def token(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def authorize(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def register(self) -> str:
        return str(self.metadata["registration_endpoint"])

    @property
    def resource(self) -> str:
        return str(self.prm["resource"])

    @property
    def store_url(self) -> str:
        return self.server.settings.store_url()


def endpoints_of(server: RunningServer) -> Endpoints:
    with httpx.Client(timeout=10) as http:
        metadata = http.get(server.base_url + "/.well-known/oauth-authorization-server").json()
        prm = http.get(server.base_url + "/.well-known/oauth-protected-resource/mcp").json()
    return Endpoints(server, metadata, prm)


@pytest.fixture(scope="module")
def ep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """One oauth-mode server for the tests that only need the defaults, with alice and rita."""
    path = tmp_path_factory.mktemp("oauth-errors")
    store = f"sqlite+aiosqlite:///{path / 'auth.db'}"
    add_user(store, "alice", "member")
    add_user(store, "rita", "reader")
    settings = make_settings(path, auth={"mode": "oauth"}, store={"url": store})
    with serve_in_thread(settings) as running:
        yield endpoints_of(running)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A fresh browser-like client: its own cookie jar, redirects not followed."""
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


# -- helpers ---------------------------------------------------------------------------------


def oauth_error(response: httpx.Response, status: int, error: str) -> str:
    """Check an RFC 6749 §5.2 error response and return its description."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text
    body = response.json()
    assert body["error"] == error, body
    description = body.get("error_description")
    assert isinstance(description, str) and len(description) > 10, body
    assert response.headers.get("cache-control") == "no-store"
    return description


def error_page(response: httpx.Response) -> str:
    """Check a human error page (never a redirect) and return its text."""
    assert response.status_code == 400, (response.status_code, response.text)
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert_unframeable(response)
    assert "Traceback" not in response.text
    return response.text


def assert_unframeable(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def new_code(
    http: httpx.Client,
    ep: Endpoints,
    client: dict[str, Any],
    *,
    username: str = "alice",
    **extra: str,
) -> tuple[str, str]:
    """(code, verifier) for ``client`` after ``username`` signs in and allows."""
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=ep.resource)
    params.update(extra)
    query = authorize(http, ep.authorize, params, username, PASSWORD)
    return query["code"], verifier


def new_tokens(http: httpx.Client, ep: Endpoints, client: dict[str, Any], **extra: str) -> dict[str, Any]:
    code, verifier = new_code(http, ep, client, **extra)
    response = exchange(http, ep.token, client, code, verifier, resource=ep.resource)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def refresh_with(http: httpx.Client, ep: Endpoints, client: dict[str, Any], token: str) -> httpx.Response:
    headers, fields = client_auth(
        client["client_id"], client.get("client_secret"), client["token_endpoint_auth_method"]
    )
    return http.post(
        ep.token, headers=headers, data={**fields, "grant_type": "refresh_token", "refresh_token": token}
    )


def authed_post(http: httpx.Client, url: str, client: dict[str, Any], data: dict[str, str]) -> httpx.Response:
    headers, fields = client_auth(
        client["client_id"], client.get("client_secret"), client["token_endpoint_auth_method"]
    )
    return http.post(url, headers=headers, data={**fields, **data})


def mcp_initialize(ep: Endpoints, token: str) -> httpx.Response:
    with httpx.Client(timeout=10) as http:
        return http.post(
            ep.server.mcp_url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "authorization": f"Bearer {token}"},
        )


def wait_for_401(ep: Endpoints, token: str) -> httpx.Response:
    """Poll /mcp until the token is refused: revocations reach the resource server within the cache time."""
    deadline = time.monotonic() + REVOCATION_CACHE_SECONDS + 2
    while True:
        response = mcp_initialize(ep, token)
        if response.status_code == 401 or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def assert_invalid_token(response: httpx.Response) -> str:
    description = oauth_error(response, 401, "invalid_token")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert 'resource_metadata="' in challenge
    return description


def in_store(store_url: str, work: Callable[[Database], Any]) -> Any:
    """Run ``work`` against the server's store through a real Database of its own."""

    async def run() -> Any:
        database = Database(store_url)
        try:
            return await work(database)
        finally:
            await database.close()

    return run_coroutine(run())


def active_signing_key(store_url: str) -> tuple[str, str]:
    async def read(database: Database) -> tuple[str, str]:
        async with database.connect() as conn:
            row = (await conn.execute(select(SigningKeyRow).where(SigningKeyRow.retired_at.is_(None)))).one()
        return row.kid, row.private_pem

    result: tuple[str, str] = in_store(store_url, read)
    return result


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# -- the authorization code and PKCE -----------------------------------------------------------


def test_wrong_pkce_verifier(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    code, _ = new_code(http, ep, client)
    other_verifier, _ = pkce_pair()
    description = oauth_error(exchange(http, ep.token, client, code, other_verifier), 400, "invalid_grant")
    assert "code_verifier" in description


def test_missing_and_malformed_verifier(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    code, _ = new_code(http, ep, client)
    description = oauth_error(exchange(http, ep.token, client, code, None), 400, "invalid_request")
    assert "code_verifier" in description
    code, _ = new_code(http, ep, client)
    description = oauth_error(exchange(http, ep.token, client, code, "short"), 400, "invalid_request")
    assert "43-128" in description


def test_replayed_code_is_refused_and_revokes_what_it_issued(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    code, verifier = new_code(http, ep, client)
    first = exchange(http, ep.token, client, code, verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert mcp_initialize(ep, tokens["access_token"]).status_code == 200

    description = oauth_error(exchange(http, ep.token, client, code, verifier), 400, "invalid_grant")
    assert "already used" in description

    oauth_error(refresh_with(http, ep, client, tokens["refresh_token"]), 400, "invalid_grant")
    # The resource server caches "not revoked" for a few seconds; within that bound the token dies.
    started = time.monotonic()
    assert_invalid_token(wait_for_401(ep, tokens["access_token"]))
    assert time.monotonic() - started <= REVOCATION_CACHE_SECONDS + 1.5


def test_code_presented_by_another_client(http: httpx.Client, ep: Endpoints) -> None:
    owner = register(http, ep.register)
    thief = register(http, ep.register, auth_method="client_secret_post")
    code, verifier = new_code(http, ep, owner)
    description = oauth_error(exchange(http, ep.token, thief, code, verifier), 400, "invalid_grant")
    assert "another client" in description
    # The attempt does not burn the code for the client it was issued to.
    assert exchange(http, ep.token, owner, code, verifier).status_code == 200


def test_unknown_and_expired_codes(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    verifier, _ = pkce_pair()
    oauth_error(exchange(http, ep.token, client, "bhc_not-a-code", verifier), 400, "invalid_grant")

    code, verifier = new_code(http, ep, client)

    async def expire(database: Database) -> None:
        async with database.connect() as conn:
            await conn.execute(
                update(AuthorizationCodeRow)
                .where(AuthorizationCodeRow.code_hash == hash_secret(code))
                .values(expires_at=int(time.time()) - 1)
            )

    in_store(ep.store_url, expire)
    description = oauth_error(exchange(http, ep.token, client, code, verifier), 400, "invalid_grant")
    assert "expired" in description


# -- redirect URIs and open redirects ---------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.com/callback",
        CHATGPT_REDIRECT + "/extra",
        CHATGPT_REDIRECT + "?next=https://evil.example.com",
        CHATGPT_REDIRECT + "/",
        CHATGPT_REDIRECT.replace("https://", "http://"),
        CHATGPT_REDIRECT.replace("chatgpt.com", "CHATGPT.com"),
        CHATGPT_REDIRECT + "#fragment",
        "https://chatgpt.com.evil.example.com/connector_platform_oauth_redirect",
        "javascript:alert(document.domain)",
    ],
)
def test_authorize_with_an_unregistered_redirect_uri_shows_a_page(
    http: httpx.Client, ep: Endpoints, redirect_uri: str
) -> None:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    params = authorization_params(
        client, challenge, state="s", resource=ep.resource, redirect_uri=redirect_uri
    )
    assert "does not exactly match" in error_page(http.get(ep.authorize, params=params))


def test_authorize_errors_before_the_client_is_known_show_a_page(http: httpx.Client, ep: Endpoints) -> None:
    _, challenge = pkce_pair()
    base = {"response_type": "code", "redirect_uri": CHATGPT_REDIRECT, "code_challenge": challenge}
    assert "client_id" in error_page(http.get(ep.authorize, params=base))
    unknown = error_page(http.get(ep.authorize, params={**base, "client_id": "bh_unknown"}))
    assert "not registered" in unknown
    error_page(http.get(ep.authorize, params={**base, "client_id": "x" * 5000}))


def test_authorize_with_several_registered_uris_needs_redirect_uri(http: httpx.Client, ep: Endpoints) -> None:
    second = "https://chatgpt.com/aip/callback"
    client = register(http, ep.register, redirect_uris=(CHATGPT_REDIRECT, second))
    _, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=ep.resource)
    del params["redirect_uri"]
    assert "redirect_uri" in error_page(http.get(ep.authorize, params=params))


def test_redirect_uri_mismatch_at_the_token_endpoint(http: httpx.Client, ep: Endpoints) -> None:
    second = "https://chatgpt.com/aip/callback"
    client = register(http, ep.register, redirect_uris=(CHATGPT_REDIRECT, second))
    code, verifier = new_code(http, ep, client)
    description = oauth_error(
        exchange(http, ep.token, client, code, verifier, redirect_uri=second), 400, "invalid_grant"
    )
    assert "redirect_uri" in description


def test_redirect_uri_optional_at_token_when_omitted_at_authorize(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=ep.resource)
    del params["redirect_uri"]
    login_page = http.get(ep.authorize, params=params)
    consent_page = sign_in(http, login_page, "alice", PASSWORD)
    code = redirect_query(consent(http, consent_page), CHATGPT_REDIRECT)["code"]
    headers, fields = client_auth(client["client_id"], client["client_secret"], "client_secret_basic")
    data = {**fields, "grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    assert http.post(ep.token, headers=headers, data=data).status_code == 200


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "http://evil.example.com/callback",
        "http://localhost@evil.example.com/callback",
        "http://127.0.0.1.evil.example.com/callback",
        "https:///no-host",
        "https://user@/no-host",
        "https://chatgpt.com/callback#fragment",
        "http://[::1/callback",
        "/relative/callback",
        "",
    ],
)
def test_registration_refuses_dangerous_redirect_uris(
    http: httpx.Client, ep: Endpoints, redirect_uri: str
) -> None:
    response = http.post(ep.register, json={"redirect_uris": [redirect_uri], "client_name": "x"})
    oauth_error(response, 400, "invalid_redirect_uri")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53682/callback",
        "http://localhost:8976/cb",
        "http://[::1]:9000/cb",
        "com.example.app:/oauth",
    ],
)
def test_registration_accepts_native_redirect_uris(
    http: httpx.Client, ep: Endpoints, redirect_uri: str
) -> None:
    client = register(http, ep.register, auth_method="none", redirect_uris=(redirect_uri,))
    assert client["redirect_uris"] == [redirect_uri]
    assert "client_secret" not in client


# -- client authentication ----------------------------------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


BOGUS_CODE = {"grant_type": "authorization_code", "code": "bhc_bogus", "redirect_uri": CHATGPT_REDIRECT}


def test_unknown_client_at_the_token_endpoint(http: httpx.Client, ep: Endpoints) -> None:
    response = http.post(ep.token, data={**BOGUS_CODE, "client_id": "bh_nobody"})
    assert "unknown client" in oauth_error(response, 401, "invalid_client")
    response = http.post(ep.token, headers=basic("bh_nobody", "secret"), data=BOGUS_CODE)
    oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    oauth_error(http.post(ep.token, data=BOGUS_CODE), 401, "invalid_client")


def test_client_authentication_must_match_the_registered_method(http: httpx.Client, ep: Endpoints) -> None:
    basic_client = register(http, ep.register, auth_method="client_secret_basic")
    post_client = register(http, ep.register, auth_method="client_secret_post")
    public_client = register(http, ep.register, auth_method="none")

    def token(headers: dict[str, str] | None = None, **fields: str) -> httpx.Response:
        return http.post(ep.token, headers=headers, data={**BOGUS_CODE, **fields})

    # Each client, authenticated as registered, gets past authentication to the (bogus) code.
    oauth_error(token(basic(basic_client["client_id"], basic_client["client_secret"])), 400, "invalid_grant")
    post_fields = {"client_id": post_client["client_id"], "client_secret": post_client["client_secret"]}
    oauth_error(token(**post_fields), 400, "invalid_grant")
    oauth_error(token(client_id=public_client["client_id"]), 400, "invalid_grant")

    # A basic client sending its secret in the body.
    response = token(client_id=basic_client["client_id"], client_secret=basic_client["client_secret"])
    assert "client_secret_basic" in oauth_error(response, 401, "invalid_client")
    # A post client sending HTTP Basic.
    response = token(basic(post_client["client_id"], post_client["client_secret"]))
    assert "client_secret_post" in oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    # A public client sending a secret, in the body or with HTTP Basic.
    response = token(client_id=public_client["client_id"], client_secret="made-up")
    assert "must not send a secret" in oauth_error(response, 401, "invalid_client")
    response = token(basic(public_client["client_id"], "made-up"))
    oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    # Wrong secrets.
    response = token(basic(basic_client["client_id"], "bhs_wrong"))
    oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    oauth_error(token(client_id=post_client["client_id"], client_secret="bhs_wrong"), 401, "invalid_client")
    oauth_error(token(client_id=post_client["client_id"]), 401, "invalid_client")
    # Two methods at once, a body client_id that contradicts Basic, and garbage Basic credentials.
    both = token(
        basic(basic_client["client_id"], basic_client["client_secret"]),
        client_secret=basic_client["client_secret"],
    )
    oauth_error(both, 400, "invalid_request")
    contradiction = token(
        basic(basic_client["client_id"], basic_client["client_secret"]), client_id=post_client["client_id"]
    )
    oauth_error(contradiction, 401, "invalid_client")
    for header in ("Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic"):
        response = token({"authorization": header})
        oauth_error(response, 401, "invalid_client")


# -- refresh tokens ------------------------------------------------------------------------------


def test_expired_refresh_token(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    tokens = new_tokens(http, ep, client)

    async def expire(database: Database) -> None:
        async with database.connect() as conn:
            await conn.execute(
                update(RefreshTokenRow)
                .where(RefreshTokenRow.token_hash == hash_secret(tokens["refresh_token"]))
                .values(expires_at=int(time.time()) - 1)
            )

    in_store(ep.store_url, expire)
    description = oauth_error(refresh_with(http, ep, client, tokens["refresh_token"]), 400, "invalid_grant")
    assert "expired" in description


def test_revoked_refresh_token(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    tokens = new_tokens(http, ep, client)
    revoked = authed_post(
        http, ep.metadata["revocation_endpoint"], client, {"token": tokens["refresh_token"]}
    )
    assert revoked.status_code == 200, revoked.text
    description = oauth_error(refresh_with(http, ep, client, tokens["refresh_token"]), 400, "invalid_grant")
    assert "revoked" in description
    # Revoking a refresh token revokes its grant, access tokens included.
    assert_invalid_token(mcp_initialize(ep, tokens["access_token"]))


def test_replayed_refresh_token_revokes_the_grant(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register, auth_method="none")
    tokens = new_tokens(http, ep, client)
    renewed = refresh_with(http, ep, client, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    description = oauth_error(refresh_with(http, ep, client, tokens["refresh_token"]), 400, "invalid_grant")
    assert "already used" in description
    oauth_error(refresh_with(http, ep, client, fresh["refresh_token"]), 400, "invalid_grant")
    assert_invalid_token(mcp_initialize(ep, fresh["access_token"]))


def test_refresh_token_of_another_client(http: httpx.Client, ep: Endpoints) -> None:
    owner = register(http, ep.register)
    other = register(http, ep.register)
    tokens = new_tokens(http, ep, owner)
    description = oauth_error(refresh_with(http, ep, other, tokens["refresh_token"]), 400, "invalid_grant")
    assert "another client" in description
    assert refresh_with(http, ep, owner, tokens["refresh_token"]).status_code == 200


def test_refresh_cannot_widen_scope(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    tokens = new_tokens(http, ep, client, scope="tools:read offline_access")
    headers, _ = client_auth(client["client_id"], client["client_secret"], "client_secret_basic")
    response = http.post(
        ep.token,
        headers=headers,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "tools:write",
        },
    )
    assert "tools:write" in oauth_error(response, 400, "invalid_scope")


# -- audiences and resource indicators ----------------------------------------------------------


def test_authorize_for_another_resource_is_refused(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="xyz", resource=OTHER_RESOURCE)
    query = redirect_query(http.get(ep.authorize, params=params), CHATGPT_REDIRECT)
    assert query["error"] == "invalid_target"
    assert query["state"] == "xyz" and query["iss"] == ep.metadata["issuer"]
    assert ep.resource in query["error_description"]


def test_token_request_for_another_resource_is_refused(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    code, verifier = new_code(http, ep, client)
    response = exchange(http, ep.token, client, code, verifier, resource=OTHER_RESOURCE)
    assert "resource" in oauth_error(response, 400, "invalid_target")


def forge(ep: Endpoints, claims: dict[str, Any], *, kid: str | None = None, key: Any = None) -> str:
    """A token signed with the server's own key (or ``key``): only the claims are wrong."""
    own_kid, pem = active_signing_key(ep.store_url)
    return jwt.encode(
        claims,
        key if key is not None else pem,
        algorithm="ES256",
        headers={"kid": kid or own_kid, "typ": "at+jwt"},
    )


def test_token_for_another_audience_is_refused_on_mcp(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    real = new_tokens(http, ep, client)["access_token"]
    assert mcp_initialize(ep, real).status_code == 200
    claims = unsigned_claims(real)
    # Sanity: the forging helper makes tokens the server accepts when nothing is changed.
    assert mcp_initialize(ep, forge(ep, {**claims, "jti": secrets.token_hex(8)})).status_code == 200
    foreign = forge(ep, {**claims, "aud": OTHER_RESOURCE, "jti": secrets.token_hex(8)})
    assert "another resource" in assert_invalid_token(mcp_initialize(ep, foreign))


def test_malformed_and_forged_jwts_get_401(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    real = new_tokens(http, ep, client)["access_token"]
    claims = unsigned_claims(real)
    kid, pem = active_signing_key(ep.store_url)
    header_b64, payload_b64, signature_b64 = real.split(".")

    public_pem = (
        serialization.load_pem_private_key(pem.encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    hs_header = b64url(json.dumps({"alg": "HS256", "kid": kid, "typ": "at+jwt"}).encode())
    hs_signing_input = f"{hs_header}.{payload_b64}"
    hs256_with_public_key = (
        hs_signing_input
        + "."
        + b64url(hmac.new(public_pem, hs_signing_input.encode(), hashlib.sha256).digest())
    )
    none_header = b64url(json.dumps({"alg": "none", "kid": kid, "typ": "at+jwt"}).encode())
    tampered_claims = {**claims, "scope": claims["scope"] + " admin", "role": "admin"}
    tampered = f"{header_b64}.{b64url(json.dumps(tampered_claims).encode())}.{signature_b64}"
    stranger_key = ec.generate_private_key(ec.SECP256R1())

    cases = {
        "garbage": "not-a-jwt",
        "three garbage parts": "a.b.c",
        "alg none": f"{none_header}.{payload_b64}.",
        "HS256 signed with the public key": hs256_with_public_key,
        "unknown kid": forge(ep, claims, kid="0123456789abcdef", key=stranger_key),
        "known kid, another key": forge(ep, claims, key=stranger_key),
        "tampered payload": tampered,
        "truncated signature": real[:-10],
        "expired": forge(ep, {**claims, "exp": int(time.time()) - 3600, "jti": "e1"}),
        "another issuer": forge(ep, {**claims, "iss": "https://evil.example.com", "jti": "i1"}),
        "no jti": forge(ep, {k: v for k, v in claims.items() if k != "jti"}),
        "an ID token": forge(ep, {k: v for k, v in claims.items() if k not in ("client_id", "scope")}),
        "huge": "a" * 20_000,
    }
    for name, token in cases.items():
        response = mcp_initialize(ep, token)
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert_invalid_token(response)
    assert mcp_initialize(ep, real).status_code == 200


def test_missing_or_non_bearer_credentials(ep: Endpoints) -> None:
    with httpx.Client(timeout=10) as http:
        for headers in ({}, {"authorization": "Basic YWxpY2U6cGFzc3dvcmQ="}, {"authorization": "Bearer"}):
            response = http.post(ep.server.mcp_url, json=INITIALIZE, headers={**MCP_HEADERS, **headers})
            assert response.status_code == 401, response.text
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith("Bearer ")
            assert (
                f'resource_metadata="{ep.server.base_url}/.well-known/oauth-protected-resource/mcp"'
                in challenge
            )
            assert 'scope="' in challenge
            # RFC 6750 §3.1: a request without a token gets no error information in the challenge.
            assert "error" not in challenge


# -- registration documents --------------------------------------------------------------------


VALID = {"redirect_uris": ["https://client.example.com/cb"], "client_name": "Tester"}


@pytest.mark.parametrize(
    ("body", "error", "mentions"),
    [
        (b"not json", "invalid_client_metadata", "JSON"),
        (b"\xff\xfe\x00", "invalid_client_metadata", "JSON"),
        (b"[]", "invalid_client_metadata", "object"),
        (b'"a string"', "invalid_client_metadata", "object"),
        (b"42", "invalid_client_metadata", "object"),
        (b"null", "invalid_client_metadata", "object"),
        (b"[" * 5000 + b"]" * 5000, "invalid_client_metadata", ""),
        (json.dumps({**VALID, "redirect_uris": "https://client.example.com/cb"}), "invalid_redirect_uri", "redirect_uris"),
        (json.dumps({**VALID, "redirect_uris": []}), "invalid_redirect_uri", "redirect_uris"),
        (json.dumps({**VALID, "redirect_uris": [42]}), "invalid_redirect_uri", "string"),
        (json.dumps({**VALID, "redirect_uris": [{"uri": "x"}]}), "invalid_redirect_uri", "string"),
        (json.dumps({k: v for k, v in VALID.items() if k != "redirect_uris"}), "invalid_redirect_uri", "redirect_uris"),
        (json.dumps({**VALID, "redirect_uris": ["https://a.example/" + str(i) for i in range(30)]}), "invalid_redirect_uri", "at most"),
        (json.dumps({**VALID, "grant_types": "authorization_code"}), "invalid_client_metadata", "grant_types"),
        (json.dumps({**VALID, "grant_types": {"authorization_code": True}}), "invalid_client_metadata", "grant_types"),
        (json.dumps({**VALID, "grant_types": ["password"]}), "invalid_client_metadata", "password"),
        (json.dumps({**VALID, "grant_types": ["implicit"]}), "invalid_client_metadata", "implicit"),
        (json.dumps({**VALID, "response_types": ["token"]}), "invalid_client_metadata", "code"),
        (json.dumps({**VALID, "response_types": "code"}), "invalid_client_metadata", "code"),
        (json.dumps({**VALID, "token_endpoint_auth_method": "private_key_jwt"}), "invalid_client_metadata", "private_key_jwt"),
        (json.dumps({**VALID, "token_endpoint_auth_method": ["none"]}), "invalid_client_metadata", "token_endpoint_auth_method"),
        (json.dumps({**VALID, "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}), "invalid_client_metadata", "confidential"),
        (json.dumps({**VALID, "scope": ["tools:read"]}), "invalid_client_metadata", "scope"),
        (json.dumps({**VALID, "scope": "tools:read admin:everything"}), "invalid_client_metadata", "admin:everything"),
        (json.dumps({**VALID, "client_name": 42}), "invalid_client_metadata", "client_name"),
        (json.dumps({**VALID, "client_name": "x" * 300}), "invalid_client_metadata", "client_name"),
        (json.dumps({**VALID, "logo_uri": "javascript:alert(1)"}), "invalid_client_metadata", "logo_uri"),
        (json.dumps({**VALID, "client_uri": "http://[::1"}), "invalid_client_metadata", "client_uri"),
        (json.dumps({**VALID, "redirect_uris": ["http://client.example.com/cb"]}), "invalid_redirect_uri", "loopback"),
        (json.dumps({**VALID, "redirect_uris": ["https://client.example.com/" + "a" * 2100]}), "invalid_redirect_uri", "2000"),
    ],
)  # fmt: skip
def test_malformed_registration_documents(
    http: httpx.Client, ep: Endpoints, body: bytes | str, error: str, mentions: str
) -> None:
    response = http.post(ep.register, content=body, headers={"content-type": "application/json"})
    assert mentions in oauth_error(response, 400, error)


def test_oversized_registration_documents(http: httpx.Client, ep: Endpoints) -> None:
    big = json.dumps({**VALID, "software_statement_padding": "x" * (16 * 1024)}).encode()
    response = http.post(ep.register, content=big, headers={"content-type": "application/json"})
    assert "larger than" in oauth_error(response, 400, "invalid_client_metadata")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for start in range(0, len(big), 1024):
            yield big[start : start + 1024]

    response = http.post(ep.register, content=chunks(), headers={"content-type": "application/json"})
    assert "larger than" in oauth_error(response, 400, "invalid_client_metadata")


def test_registration_needs_json(http: httpx.Client, ep: Endpoints) -> None:
    response = http.post(ep.register, data={"redirect_uris": "https://client.example.com/cb"})
    assert "application/json" in oauth_error(response, 400, "invalid_client_metadata")


def test_registration_never_echoes_a_chosen_client_id_or_secret(http: httpx.Client, ep: Endpoints) -> None:
    response = http.post(
        ep.register, json={**VALID, "client_id": "bh_mine", "client_secret": "chosen-secret"}
    )
    assert response.status_code == 201, response.text
    client = response.json()
    assert client["client_id"] != "bh_mine" and client["client_secret"] != "chosen-secret"


# -- the token endpoint's request format ----------------------------------------------------------


def test_unsupported_and_unregistered_grant_types(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    headers = basic(client["client_id"], client["client_secret"])
    for grant_type in ("password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "a" * 5000):
        response = http.post(ep.token, headers=headers, data={"grant_type": grant_type})
        oauth_error(response, 400, "unsupported_grant_type")
    response = http.post(ep.token, headers=headers, data={"grant_type": "client_credentials"})
    assert "client_credentials" in oauth_error(response, 400, "unauthorized_client")
    empty = http.post(ep.token, headers={**headers, "content-type": "application/x-www-form-urlencoded"})
    assert "grant_type" in oauth_error(empty, 400, "invalid_request")


def test_token_endpoint_takes_form_encoding_only(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register, auth_method="client_secret_post")
    body = {
        "grant_type": "authorization_code",
        "code": "x",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    response = http.post(ep.token, json=body)
    assert "x-www-form-urlencoded" in oauth_error(response, 400, "invalid_request")
    response = http.post(ep.token, files={"grant_type": (None, "authorization_code")})
    oauth_error(response, 400, "invalid_request")
    oauth_error(http.post(ep.token), 400, "invalid_request")


def test_repeated_parameters(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    headers = {**basic(client["client_id"], client["client_secret"])}
    form = "grant_type=authorization_code&code=a&code=b&redirect_uri=x"
    response = http.post(
        ep.token, content=form, headers={**headers, "content-type": "application/x-www-form-urlencoded"}
    )
    assert "code" in oauth_error(response, 400, "invalid_request")
    for url in (ep.metadata["revocation_endpoint"], ep.metadata["introspection_endpoint"]):
        response = http.post(
            url,
            content="token=a&token=b",
            headers={**headers, "content-type": "application/x-www-form-urlencoded"},
        )
        oauth_error(response, 400, "invalid_request")
    _, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=ep.resource)
    query = httpx.QueryParams(params).add("scope", "tools:read").add("scope", "tools:write")
    assert "must not repeat" in error_page(http.get(ep.authorize, params=query))


def test_odd_form_bodies_are_oauth_errors(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    headers = {
        **basic(client["client_id"], client["client_secret"]),
        "content-type": "application/x-www-form-urlencoded",
    }
    many_fields = "&".join(f"field{i}=1" for i in range(200))
    oauth_error(http.post(ep.token, content=many_fields, headers=headers), 400, "invalid_request")
    oauth_error(http.post(ep.token, content=b"a=" + b"b" * 70_000, headers=headers), 400, "invalid_request")

    def chunks() -> Iterator[bytes]:
        yield b"grant_type=authorization_code&code="
        for _ in range(100):
            yield b"c" * 1024

    oauth_error(http.post(ep.token, content=chunks(), headers=headers), 400, "invalid_request")
    response = http.post(ep.token, content=b"grant_type=%FF%FE&code=\xff", headers=headers)
    assert response.status_code == 400 and response.json()["error"] in (
        "invalid_request",
        "unsupported_grant_type",
    )


# -- revocation (RFC 7009) and introspection (RFC 7662) -------------------------------------------


def test_revocation(http: httpx.Client, ep: Endpoints) -> None:
    url = ep.metadata["revocation_endpoint"]
    owner = register(http, ep.register)
    other = register(http, ep.register, auth_method="client_secret_post")
    tokens = new_tokens(http, ep, owner)

    for token in ("bhr_unknown", "not-even-a-token", tokens["access_token"][:-4] + "AAAA"):
        response = authed_post(http, url, owner, {"token": token})
        assert response.status_code == 200 and response.content == b""
    assert "token is required" in oauth_error(
        authed_post(http, url, owner, {"x": "y"}), 400, "invalid_request"
    )
    oauth_error(http.post(url, data={"token": tokens["access_token"]}), 401, "invalid_client")
    bad_hint = authed_post(http, url, owner, {"token": "x", "token_type_hint": "id_token"})
    oauth_error(bad_hint, 400, "unsupported_token_type")

    # Another client's tokens: 200, and nothing happens to them (asked through introspection,
    # whose verifier caches separately from /mcp's, so the check below sees the revocation at once).
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert authed_post(http, url, other, {"token": token}).status_code == 200
        introspected = authed_post(http, ep.metadata["introspection_endpoint"], owner, {"token": token})
        assert introspected.json()["active"] is True

    # The owner revokes its access token: /mcp refuses it.
    response = authed_post(
        http, url, owner, {"token": tokens["access_token"], "token_type_hint": "access_token"}
    )
    assert response.status_code == 200
    assert_invalid_token(mcp_initialize(ep, tokens["access_token"]))
    # The refresh token of the grant still works: only that access token was revoked.
    assert refresh_with(http, ep, owner, tokens["refresh_token"]).status_code == 200
    # Revoking twice is fine.
    assert authed_post(http, url, owner, {"token": tokens["access_token"]}).status_code == 200


def test_introspection(http: httpx.Client, ep: Endpoints) -> None:
    url = ep.metadata["introspection_endpoint"]
    owner = register(http, ep.register)
    other = register(http, ep.register)
    tokens = new_tokens(http, ep, owner)

    def introspect(client: dict[str, Any], token: str) -> dict[str, Any]:
        response = authed_post(http, url, client, {"token": token})
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body: dict[str, Any] = response.json()
        return body

    access = introspect(owner, tokens["access_token"])
    assert access["active"] is True
    assert access["client_id"] == owner["client_id"] and access["aud"] == ep.resource
    assert access["iss"] == ep.metadata["issuer"] and access["username"] == "alice"
    refresh = introspect(owner, tokens["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"

    # Foreign, unknown and malformed tokens: inactive, and nothing else is said.
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(other, token) == {"active": False}
    for token in ("bhr_unknown", "garbage", "a.b.c", "x" * 10_000):
        assert introspect(owner, token) == {"active": False}
    oauth_error(http.post(url, data={"token": tokens["access_token"]}), 401, "invalid_client")
    assert "token is required" in oauth_error(
        authed_post(http, url, owner, {"x": "y"}), 400, "invalid_request"
    )

    # Revoked: both tokens of the grant turn inactive.
    revoked = new_tokens(http, ep, owner)
    response = authed_post(
        http, ep.metadata["revocation_endpoint"], owner, {"token": revoked["refresh_token"]}
    )
    assert response.status_code == 200
    assert introspect(owner, revoked["refresh_token"]) == {"active": False}
    assert introspect(owner, revoked["access_token"]) == {"active": False}
    # A rotated refresh token is no longer active either.
    assert refresh_with(http, ep, owner, tokens["refresh_token"]).status_code == 200
    assert introspect(owner, tokens["refresh_token"]) == {"active": False}


# -- scopes, state and iss ------------------------------------------------------------------------


@pytest.mark.parametrize("scope", [None, "", "   "])
def test_no_or_empty_scope_gets_the_default_scopes(
    http: httpx.Client, ep: Endpoints, scope: str | None
) -> None:
    client = register(http, ep.register)
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=ep.resource, scope=scope)
    login_page = http.get(ep.authorize, params=params)
    assert login_page.status_code == 200, login_page.text
    consent_page = sign_in(http, login_page, "alice", PASSWORD)
    defaults = ep.server.settings.auth.default_scopes
    for default in defaults:
        assert f"<code>{default}</code>" in consent_page.text
    query = redirect_query(consent(http, consent_page), CHATGPT_REDIRECT)
    assert "error" not in query
    tokens = exchange(http, ep.token, client, query["code"], verifier).json()
    assert tokens["scope"].split() == defaults


def test_unknown_scope_goes_back_as_invalid_scope(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    params = authorization_params(
        client, challenge, state="st", resource=ep.resource, scope="tools:read root"
    )
    query = redirect_query(http.get(ep.authorize, params=params), CHATGPT_REDIRECT)
    assert query["error"] == "invalid_scope" and "root" in query["error_description"]
    assert query["state"] == "st" and query["iss"] == ep.metadata["issuer"]


STATES = ["plain", "with spaces & ampersands = equals / slashes ? marks #hash", "ünïcödé-✓", "x" * 2000]


@pytest.mark.parametrize("state", STATES)
def test_state_and_iss_round_trip_on_success(http: httpx.Client, ep: Endpoints, state: str) -> None:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    params = authorization_params(client, challenge, state=state, resource=ep.resource)
    query = authorize(http, ep.authorize, params, "alice", PASSWORD)
    assert query["state"] == state
    assert query["iss"] == ep.metadata["issuer"]
    assert query["code"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"resource": OTHER_RESOURCE}, "invalid_target"),
        ({"scope": "nonsense"}, "invalid_scope"),
        ({"nonce": "n" * 300}, "invalid_request"),
    ],
)
def test_state_and_iss_round_trip_on_error_redirects(
    http: httpx.Client, ep: Endpoints, change: dict[str, str | None], error: str
) -> None:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    params: dict[str, str | None] = {
        **authorization_params(client, challenge, state=STATES[1], resource=ep.resource),
        **change,
    }
    response = http.get(ep.authorize, params={k: v for k, v in params.items() if v is not None})
    assert_unframeable(response)
    query = redirect_query(response, CHATGPT_REDIRECT)
    assert query["error"] == error
    assert len(query["error_description"]) > 10
    assert query["state"] == STATES[1]
    assert query["iss"] == ep.metadata["issuer"]
    assert "code" not in query


def test_denied_consent_goes_back_with_state_and_iss(http: httpx.Client, ep: Endpoints) -> None:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="deny-me", resource=ep.resource)
    consent_page = sign_in(http, http.get(ep.authorize, params=params), "alice", PASSWORD)
    query = redirect_query(consent(http, consent_page, "deny"), CHATGPT_REDIRECT)
    assert query == {
        "error": "access_denied",
        "error_description": query["error_description"],
        "state": "deny-me",
        "iss": ep.metadata["issuer"],
    }


def test_redirect_uri_with_its_own_query_keeps_it(http: httpx.Client, ep: Endpoints) -> None:
    redirect_uri = "https://client.example.com/cb?tenant=acme"
    client = register(http, ep.register, redirect_uris=(redirect_uri,))
    _, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="q", resource=ep.resource)
    response = consent(http, sign_in(http, http.get(ep.authorize, params=params), "alice", PASSWORD))
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "&"), location
    assert urlsplit(location).netloc == "client.example.com"


# -- the login and consent pages -----------------------------------------------------------------


def login_page_for(http: httpx.Client, ep: Endpoints) -> httpx.Response:
    client = register(http, ep.register)
    _, challenge = pkce_pair()
    page = http.get(
        ep.authorize, params=authorization_params(client, challenge, state="s", resource=ep.resource)
    )
    assert page.status_code == 200, page.text
    return page


def test_login_without_or_with_a_wrong_csrf_token_is_refused(http: httpx.Client, ep: Endpoints) -> None:
    page = login_page_for(http, ep)
    fields = form_fields(page.text)
    for csrf in (None, "", "wrong-token", fields["csrf"] + "x"):
        data = {**fields, "username": "alice", "password": PASSWORD}
        if csrf is None:
            del data["csrf"]
        else:
            data["csrf"] = csrf
        response = http.post(page.url.join("/login"), data=data)
        assert response.status_code == 400, response.text
        assert_unframeable(response)
        assert "Allow" not in response.text and "session expired" in response.text
    # A login form posted from another browser (without this session's cookie) is refused too.
    with httpx.Client(timeout=10) as stranger:
        response = stranger.post(
            page.url.join("/login"), data={**fields, "username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 400 and "Allow" not in response.text
    # And the genuine form still works.
    assert "Allow" in sign_in(http, page, "alice", PASSWORD).text


def test_consent_without_or_with_a_wrong_csrf_token_is_refused(http: httpx.Client, ep: Endpoints) -> None:
    consent_page = sign_in(http, login_page_for(http, ep), "alice", PASSWORD)
    fields = form_fields(consent_page.text)
    url = consent_page.url.join("/consent")
    for csrf in (None, "", "wrong-token"):
        data = {**fields, "decision": "allow"}
        if csrf is None:
            del data["csrf"]
        else:
            data["csrf"] = csrf
        error_page(http.post(url, data=data))
    with httpx.Client(timeout=10, follow_redirects=False) as stranger:
        error_page(stranger.post(url, data={**fields, "decision": "allow"}))
    tampered = {**fields, "request": fields["request"][:-3] + "abc", "decision": "allow"}
    error_page(http.post(url, data=tampered))
    assert consent(http, consent_page).status_code == 302


def test_pages_cannot_be_framed(http: httpx.Client, ep: Endpoints) -> None:
    login_page = login_page_for(http, ep)
    assert_unframeable(login_page)
    wrong_password = http.post(
        login_page.url.join("/login"),
        data={**form_fields(login_page.text), "username": "alice", "password": "nope"},
    )
    assert wrong_password.status_code == 401
    assert_unframeable(wrong_password)
    consent_page = sign_in(http, login_page, "alice", PASSWORD)
    assert_unframeable(consent_page)
    assert_unframeable(consent(http, consent_page))
    assert_unframeable(http.get(ep.authorize, params={"client_id": "unknown"}))
    assert_unframeable(http.post(login_page.url.join("/consent"), data={}))
    assert_unframeable(http.post(login_page.url.join("/login"), data={}))


def test_pages_refuse_odd_bodies_without_a_500(http: httpx.Client, ep: Endpoints) -> None:
    base = ep.server.base_url
    for path in ("/login", "/consent"):
        for kwargs in (
            {"json": {"request": "x"}},
            {"content": b"\xff\xfe", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            {"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}},
            {"data": {"request": "not-a-signed-request", "csrf": "x"}},
        ):
            response = http.post(base + path, **kwargs)
            assert 400 <= response.status_code < 500, (path, kwargs, response.status_code)
            assert "Traceback" not in response.text


# -- login rate limiting -----------------------------------------------------------------------


@pytest.fixture
def limited(oauth_server: Callable[..., RunningServer]) -> Endpoints:
    """A server allowing 3 failed logins, behind a trusted proxy so tests can vary the client address."""
    server = oauth_server("oauth", auth={"login_attempts": 3}, server={"trusted_proxies": ["127.0.0.1"]})
    return endpoints_of(server)


def attempt(
    http: httpx.Client, page: httpx.Response, address: str, username: str, password: str
) -> httpx.Response:
    data = {**form_fields(page.text), "username": username, "password": password}
    return http.post(page.url.join("/login"), data=data, headers={"x-forwarded-for": address})


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["retry-after"]) <= 900
    assert "Too many sign-in attempts" in response.text
    assert_unframeable(response)


def test_login_rate_limit_per_account(http: httpx.Client, limited: Endpoints) -> None:
    page = login_page_for(http, limited)
    for i in range(3):
        assert attempt(http, page, f"10.0.0.{i + 1}", "alice", "wrong password").status_code == 401
    # The account is locked for everyone, with the right password too …
    assert_rate_limited(attempt(http, page, "10.0.0.9", "alice", PASSWORD))
    # … but the address that tried is not, and other accounts are not.
    assert "Allow" in attempt(http, page, "10.0.0.9", "rita", PASSWORD).text


def test_login_rate_limit_per_address(http: httpx.Client, limited: Endpoints) -> None:
    page = login_page_for(http, limited)
    for name in ("mallory", "trudy", "eve"):
        assert attempt(http, page, "10.0.1.1", name, "guess").status_code == 401
    assert_rate_limited(attempt(http, page, "10.0.1.1", "alice", PASSWORD))
    assert "Allow" in attempt(http, page, "10.0.1.2", "alice", PASSWORD).text


# -- discovery ---------------------------------------------------------------------------------

PRM_PATHS = ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]
ASM_PATHS = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
]


def check_discovery(server: RunningServer, base: str) -> None:
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        for path in PRM_PATHS + ASM_PATHS:
            for variant in (path, path + "/"):
                response = http.get(server.base_url + variant)
                assert response.status_code == 200, (variant, response.status_code)
                assert response.headers["content-type"] == "application/json"
                document = response.json()
                if path in PRM_PATHS:
                    # RFC 9728 §3.3: the document of …/oauth-protected-resource/mcp/ names …/mcp/.
                    named = variant.removeprefix("/.well-known/oauth-protected-resource") or "/mcp"
                    assert document["resource"] == base + (named if named.startswith("/mcp") else "/mcp")
                    assert document["authorization_servers"] == [base]
                else:
                    assert document["issuer"] == base
                    assert document["code_challenge_methods_supported"] == ["S256"]
                    assert document["authorization_response_iss_parameter_supported"] is True
                urls = [v for v in document.values() if isinstance(v, str) and "://" in v]
                urls += [u for v in document.values() if isinstance(v, list) for u in v if "://" in str(u)]
                assert urls and all(u.startswith(base + "/") or u == base for u in urls), urls
        jwks = http.get(server.base_url + "/jwks.json").json()
        assert jwks["keys"] and all("d" not in key and key["alg"] == "ES256" for key in jwks["keys"])
        denied = http.post(server.mcp_url, json=INITIALIZE, headers=MCP_HEADERS)
        assert denied.status_code == 401
        assert (
            f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
            in denied.headers["www-authenticate"]
        )


def test_well_known_documents_answer_directly(ep: Endpoints) -> None:
    check_discovery(ep.server, ep.server.base_url)


def test_well_known_documents_use_the_public_base_url(
    oauth_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    public = "https://bridgehead.example.com"
    server = oauth_server("oauth", server={"public_base_url": public + "/"})
    check_discovery(server, public)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        # The endpoints are reached directly here; the public origin is what every response names.
        client = register(http, server.base_url + "/register")
        _, challenge = pkce_pair()
        params = authorization_params(client, challenge, state="s", resource=public + "/mcp")
        params["response_type"] = "token"
        query = redirect_query(http.get(server.base_url + "/authorize", params=params), CHATGPT_REDIRECT)
        assert query["iss"] == public and query["state"] == "s"
