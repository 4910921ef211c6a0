"""Single sign-on through a real OpenID Connect provider (oidc-provider-mock, run as its own process).

A headless browser links ChatGPT the way a person would: the login page's "Continue with…" button,
the provider's login form, Bridgehead's consent page, then MCP calls with the token. The failure
cases tamper with what passes through the browser, or point Bridgehead at a provider that is down.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bridgehead.app import create_app
from bridgehead.auth import federation
from bridgehead.auth.federation import (
    UnknownSigningKey,
    UpstreamError,
    identity_from_claims,
    map_role,
    validate_id_token,
)
from bridgehead.config import ConfigError, FederationSettings
from tests.auth.flow import CHATGPT_REDIRECT, client_auth, discover, form_fields, pkce_pair
from tests.conftest import RunningServer, free_port, make_settings, run_coroutine

CLIENT_ID = "bridgehead"
CLIENT_SECRET = "upstream-secret-7f3a9c"
ROLES = {
    "admin": {"description": "Everything."},
    "member": {"description": "Every tool."},
    "reader": {
        "description": "Search only.",
        "tools": ["search"],
        "scopes": ["tools:read", "offline_access"],
    },
}
ROLE_MAPPING = {"bridgehead-admins": "admin", "engineering": "member", "sales": "reader"}


# -- the provider, a real process --------------------------------------------------------------


@dataclass
class Provider:
    """An oidc-provider-mock server on 127.0.0.1; users are created through its HTTP API."""

    url: str

    def add_user(self, sub: str, **claims: Any) -> None:
        response = httpx.put(f"{self.url}/users/{sub}", json=claims, timeout=10)
        assert response.status_code == 204, response.text


@contextmanager
def run_provider(log: Path, *options: str) -> Iterator[Provider]:
    """Start ``python -m oidc_provider_mock`` on a free loopback port; stop it when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "oidc_provider_mock",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"}
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the OIDC provider did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield Provider(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with run_provider(tmp_path_factory.mktemp("idp") / "provider.log") as running:
        yield running


@pytest.fixture
def sso_server(server_factory: Callable[..., RunningServer]) -> Callable[..., RunningServer]:
    """Start Bridgehead in oauth mode federated to ``issuer``, with any federation keys overridden."""

    def start(issuer: str, **overrides: Any) -> RunningServer:
        settings = {
            "issuer": issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "display_name": "Northwind SSO",
            "role_mapping": ROLE_MAPPING,
            "allow_insecure_http": True,
            **overrides,
        }
        return server_factory(auth={"mode": "oauth", "roles": ROLES, "federation": settings})

    return start


# -- the headless browser ----------------------------------------------------------------------


@dataclass
class Linking:
    """A linking flow in progress: what ChatGPT holds between /authorize and the token request."""

    server: RunningServer
    client: dict[str, Any]
    verifier: str
    state: str
    resource: str
    metadata: dict[str, Any]
    login_page: httpx.Response


def begin(http: httpx.Client, server: RunningServer) -> Linking:
    """Discover, register and open /authorize, as ChatGPT does; ends on Bridgehead's login page."""
    prm, metadata = discover(http, server.mcp_url)
    registered = http.post(
        metadata["registration_endpoint"],
        json={
            "client_name": "ChatGPT",
            "redirect_uris": [CHATGPT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    verifier, challenge = pkce_pair()
    state = "chatgpt-state-1"
    login_page = http.get(
        metadata["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": CHATGPT_REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
            "resource": prm["resource"],
        },
    )
    assert login_page.status_code == 200, login_page.text
    assert "Continue with Northwind SSO" in login_page.text
    return Linking(server, client, verifier, state, prm["resource"], metadata, login_page)


def continue_with_sso(http: httpx.Client, linking: Linking) -> httpx.Response:
    """Press "Continue with Northwind SSO": Bridgehead answers with a redirect to the provider."""
    return http.post(linking.server.base_url + "/login/federated", data=form_fields(linking.login_page.text))


def with_query(url: str, **changes: str) -> str:
    """``url`` with some query parameters replaced, as a tampering browser would send it."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign_in_at_provider(http: httpx.Client, authorize_url: str, sub: str) -> httpx.Response:
    """The provider's login form: open it and authorize as ``sub``; answers with the redirect back."""
    page = http.get(authorize_url)
    assert page.status_code == 200, page.text
    assert 'name="sub"' in page.text
    redirect = http.post(authorize_url, data={"sub": sub})
    assert redirect.status_code == 302, redirect.text
    return redirect


def through_provider(http: httpx.Client, linking: Linking, sub: str, **tamper: str) -> httpx.Response:
    """From Bridgehead's login page through the provider to the callback's answer."""
    to_provider = continue_with_sso(http, linking)
    assert to_provider.status_code == 303, to_provider.text
    authorize_url = with_query(to_provider.headers["location"], **tamper)
    back = sign_in_at_provider(http, authorize_url, sub)
    assert back.headers["location"].startswith(linking.server.base_url + "/login/federated/callback?")
    return http.get(back.headers["location"])


def finish(http: httpx.Client, linking: Linking, consent_page: httpx.Response) -> dict[str, Any]:
    """Allow on the consent page and exchange the code, as ChatGPT does; the token response."""
    assert consent_page.status_code == 200, consent_page.text
    redirect = http.post(
        linking.server.base_url + "/consent", data={**form_fields(consent_page.text), "decision": "allow"}
    )
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["location"]
    assert location.startswith(CHATGPT_REDIRECT + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == linking.state
    assert query["iss"] == linking.metadata["issuer"]  # RFC 9207, after a federated sign-in too
    headers, fields = client_auth(
        linking.client["client_id"], linking.client["client_secret"], "client_secret_basic"
    )
    exchanged = http.post(
        linking.metadata["token_endpoint"],
        headers=headers,
        data={
            **fields,
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": CHATGPT_REDIRECT,
            "code_verifier": linking.verifier,
            "resource": linking.resource,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    tokens: dict[str, Any] = exchanged.json()
    return tokens


async def listed_tools(server: RunningServer, access_token: str) -> set[str]:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=10) as authed,
        Client(streamable_http_client(server.mcp_url, http_client=authed)) as client,
    ):
        return {tool.name for tool in (await client.list_tools()).tools}


def assert_error_page(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert "Traceback" not in response.text
    for fragment in fragments:
        assert fragment in response.text, response.text


# -- end to end ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "role", "tools"),
    [
        (["engineering"], "member", {"search", "fetch"}),
        (["sales"], "reader", {"search"}),
        # role_mapping lists bridgehead-admins first, so it wins over engineering.
        (["engineering", "bridgehead-admins"], "admin", {"search", "fetch"}),
    ],
)
def test_chatgpt_links_through_the_company_provider(
    provider: Provider,
    sso_server: Callable[..., RunningServer],
    caplog: pytest.LogCaptureFixture,
    groups: list[str],
    role: str,
    tools: set[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sub = f"sub-{role}"
    provider.add_user(
        sub,
        preferred_username=f"erin.{role}",
        email=f"erin.{role}@northwind.example",
        name="Erin Example",
        groups=groups,
    )
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        to_provider = continue_with_sso(http, linking)
        assert to_provider.status_code == 303, to_provider.text
        location = to_provider.headers["location"]
        assert location.startswith(provider.url + "/oauth2/authorize?")
        sent = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert sent["client_id"] == CLIENT_ID
        assert sent["redirect_uri"] == server.base_url + "/login/federated/callback"
        assert sent["response_type"] == "code"
        assert set(sent["scope"].split()) == {"openid", "email", "profile"}
        assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
        assert sent["state"] and sent["nonce"] and sent["state"] != sent["nonce"]
        back = sign_in_at_provider(http, location, sub)
        consent_page = http.get(back.headers["location"])
        assert consent_page.status_code == 200, consent_page.text
        assert f"Signed in as <strong>erin.{role}</strong>" in consent_page.text
        assert "bh_federation=" in consent_page.headers["set-cookie"]  # the one-time flow cookie is cleared
        tokens = finish(http, linking, consent_page)

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["username"] == f"erin.{role}"
    assert claims["role"] == role
    assert run_coroutine(listed_tools(server, tokens["access_token"])) == tools
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert f"erin.{role} signed in through Northwind SSO as role {role}" in caplog.text
    assert CLIENT_SECRET not in caplog.text and basic not in caplog.text


def test_signed_in_user_reconnects_without_the_provider(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    provider.add_user("sub-again", preferred_username="gus", groups=["engineering"])
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        finish(http, linking, through_provider(http, linking, "sub-again"))
        # The Bridgehead session now knows the user: a second /authorize goes straight to consent.
        again = http.get(linking.login_page.url)
        assert again.status_code == 200
        assert "Signed in as <strong>gus</strong>" in again.text


def test_user_in_no_mapped_group_is_refused(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    provider.add_user("sub-outsider", preferred_username="oscar", groups=["marketing"])
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        refused = through_provider(http, linking, "sub-outsider")
        assert_error_page(refused, 403, "none of your groups gives access to Bridgehead", "oscar")
        # Not signed in: connecting again shows the login page, not consent.
        assert "Continue with Northwind SSO" in http.get(linking.login_page.url).text


def test_default_role_admits_users_no_mapping_matches(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    provider.add_user("sub-default", preferred_username="dora", groups=["marketing"])
    server = sso_server(provider.url, default_role="reader")
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        tokens = finish(http, linking, through_provider(http, linking, "sub-default"))
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["role"] == "reader"
    assert run_coroutine(listed_tools(server, tokens["access_token"])) == {"search"}


def test_groups_and_username_from_configured_claims(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    # Keycloak-style: realm roles nested in realm_access, the username in a custom claim.
    provider.add_user(
        "sub-kc",
        employee_id="E1234",
        email="kc@northwind.example",
        realm_access={"roles": ["sales", "offline"]},
    )
    server = sso_server(provider.url, username_claim="employee_id", groups_claim="realm_access.roles")
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        consent_page = through_provider(http, linking, "sub-kc")
        assert "Signed in as <strong>E1234</strong>" in consent_page.text
        tokens = finish(http, linking, consent_page)
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["role"] == "reader"


def test_federated_user_denies_at_consent(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    provider.add_user("sub-deny", preferred_username="dana", groups=["engineering"])
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        consent_page = through_provider(http, linking, "sub-deny")
        denied = http.post(
            server.base_url + "/consent", data={**form_fields(consent_page.text), "decision": "deny"}
        )
    assert denied.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(denied.headers["location"]).query).items()}
    assert query["error"] == "access_denied" and query["state"] == linking.state
    assert query["iss"] == linking.metadata["issuer"]


def test_provider_denies_access(provider: Provider, sso_server: Callable[..., RunningServer]) -> None:
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        to_provider = continue_with_sso(http, linking)
        denied = http.post(to_provider.headers["location"], data={"action": "deny"})
        assert denied.status_code == 302
        callback = denied.headers["location"]
        assert "error=access_denied" in callback
        assert_error_page(http.get(callback), 400, "Northwind SSO did not sign you in", "access was denied")


def test_error_description_shown_only_for_this_browsers_login(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        state = parse_qs(urlsplit(continue_with_sso(http, linking).headers["location"]).query)["state"][0]
        callback = server.base_url + "/login/federated/callback"
        ours = http.get(
            callback, params={"error": "access_denied", "error_description": "MFA failed", "state": state}
        )
        assert_error_page(ours, 400, "MFA failed")
        forged = http.get(callback, params={"error": "access_denied", "error_description": "Call 555-0100"})
        assert_error_page(forged, 400, "access was denied")
        assert "555-0100" not in forged.text


def test_wrong_nonce_is_refused(provider: Provider, sso_server: Callable[..., RunningServer]) -> None:
    provider.add_user("sub-nonce", preferred_username="nina", groups=["engineering"])
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        # The browser swaps the nonce on its way to the provider: the ID token then carries another one.
        refused = through_provider(http, linking, "sub-nonce", nonce="replayed-nonce")
        assert_error_page(refused, 502, "nonce mismatch")


def test_code_issued_to_another_client_is_refused(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    provider.add_user("sub-aud", preferred_username="abe", groups=["engineering"])
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        refused = through_provider(http, linking, "sub-aud", client_id="some-other-app")
        assert_error_page(refused, 502, "Northwind SSO refused the request", "code exchange")


def test_expired_id_token_is_refused(tmp_path: Path, sso_server: Callable[..., RunningServer]) -> None:
    # A provider whose tokens expire ten minutes before they are issued, as with a badly skewed clock.
    with run_provider(tmp_path / "skewed.log", "--token-max-age=-600") as skewed:
        skewed.add_user("sub-exp", preferred_username="ed", groups=["engineering"])
        server = sso_server(skewed.url)
        with httpx.Client(timeout=10, follow_redirects=False) as http:
            linking = begin(http, server)
            assert_error_page(through_provider(http, linking, "sub-exp"), 502, "ID token has expired")


def test_bad_state_is_refused(provider: Provider, sso_server: Callable[..., RunningServer]) -> None:
    provider.add_user("sub-state", preferred_username="stan", groups=["engineering"])
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        to_provider = continue_with_sso(http, linking)
        back = sign_in_at_provider(http, to_provider.headers["location"], "sub-state")
        tampered = with_query(back.headers["location"], state="attacker-state")
        assert_error_page(http.get(tampered), 400, "state mismatch")
        # The flow cookie is spent: even the genuine answer cannot finish the login now.
        assert_error_page(http.get(back.headers["location"]), 400, "did not keep Bridgehead")

    with httpx.Client(timeout=10, follow_redirects=False) as stranger:
        # A callback in a browser that never started a login (login CSRF) is refused too.
        assert_error_page(stranger.get(back.headers["location"]), 400, "did not keep Bridgehead")


def test_login_form_needs_its_csrf_token(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    server = sso_server(provider.url)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        fields = form_fields(linking.login_page.text)
        for csrf in ("forged", "é"):
            refused = http.post(server.base_url + "/login/federated", data={**fields, "csrf": csrf})
            assert_error_page(refused, 400, "not sent by Bridgehead")
        missing = http.post(server.base_url + "/login/federated", data={"csrf": fields["csrf"]})
        assert_error_page(missing, 400, "missing its request")


def test_provider_down_is_a_502_page(sso_server: Callable[..., RunningServer]) -> None:
    server = sso_server(f"http://127.0.0.1:{free_port()}")
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        assert_error_page(continue_with_sso(http, linking), 502, "cannot reach Northwind SSO", "discovery")


def test_provider_too_slow_is_a_502_page(
    sso_server: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(federation, "UPSTREAM_TIMEOUT", 0.5)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        server = sso_server(f"http://127.0.0.1:{silent.getsockname()[1]}")
        with httpx.Client(timeout=10, follow_redirects=False) as http:
            linking = begin(http, server)
            assert_error_page(continue_with_sso(http, linking), 502, "did not answer in time")


def test_wrong_issuer_path_is_a_502_page(
    provider: Provider, sso_server: Callable[..., RunningServer]
) -> None:
    server = sso_server(provider.url + "/realms/missing")
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        linking = begin(http, server)
        assert_error_page(continue_with_sso(http, linking), 502, "discovery: HTTP 404")


def test_http_issuer_is_refused_unless_allowed(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        auth={"mode": "oauth", "federation": {"issuer": "http://idp.example", "client_id": CLIENT_ID}},
    )
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert "auth.federation.issuer" in str(refused.value)
    assert "https://" in str(refused.value)


def test_no_federation_no_route(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(auth={"mode": "oauth"})
    with httpx.Client(timeout=10) as http:
        assert http.post(server.base_url + "/login/federated").status_code == 404
        assert http.get(server.base_url + "/login/federated/callback").status_code == 404


# -- ID token rules, one at a time ---------------------------------------------------------------

ISSUER = "https://idp.example"
NONCE = "n-0S6_WzA2Mj"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNER = rsa_key()
IMPOSTOR = rsa_key()
KEYS = jwt.PyJWKSet.from_dict(
    {"keys": [{**RSAAlgorithm.to_jwk(SIGNER.public_key(), as_dict=True), "kid": "k1", "use": "sig"}]}
)


def id_token(key: Any = SIGNER, headers: dict[str, Any] | None = None, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "u1", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": NONCE}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1", **(headers or {})})


def check(token: str) -> dict[str, Any]:
    return validate_id_token(
        token, KEYS, issuer=ISSUER, client_id=CLIENT_ID, nonce=NONCE, algorithms=["RS256"]
    )


def test_valid_id_token() -> None:
    assert check(id_token(aud=[CLIENT_ID], azp=CLIENT_ID, name="U"))["name"] == "U"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (lambda: id_token(aud="another-app"), "another client (aud)"),
        (lambda: id_token(aud=[CLIENT_ID, "another-app"]), "authorized party (azp)"),
        (lambda: id_token(azp="another-app"), "authorized party (azp)"),
        (lambda: id_token(iss="https://evil.example"), "(iss)"),
        (lambda: id_token(exp=int(time.time()) - 600), "expired"),
        (lambda: id_token(iat=None), "'iat' claim"),
        (lambda: id_token(nonce="other"), "nonce mismatch"),
        (lambda: id_token(nonce=None), "nonce mismatch"),
        (lambda: id_token(key=IMPOSTOR), "signature does not verify"),
        (
            lambda: jwt.encode({"iss": ISSUER}, "a-shared-secret-of-32-bytes-or-more", algorithm="HS256"),
            "unaccepted algorithm (HS256)",
        ),
        (lambda: "not-a-jwt", "not a valid JWT"),
    ],
)
def test_invalid_id_token(token: Callable[[], str], problem: str) -> None:
    with pytest.raises(UpstreamError) as refused:
        check(token())
    assert problem in str(refused.value)


def test_unknown_signing_key() -> None:
    with pytest.raises(UnknownSigningKey):
        check(id_token(headers={"kid": "rotated"}))


# -- claims and roles ------------------------------------------------------------------------------


def settings(**overrides: Any) -> FederationSettings:
    return FederationSettings(issuer=ISSUER, client_id=CLIENT_ID, role_mapping=ROLE_MAPPING, **overrides)


def test_first_mapping_wins_then_default_role() -> None:
    assert map_role(settings(), ["sales", "engineering"]) == "member"  # engineering is listed before sales
    assert map_role(settings(), ["bridgehead-admins", "sales"]) == "admin"
    assert map_role(settings(), ["marketing"]) is None
    assert map_role(settings(default_role="reader"), []) == "reader"


def test_identity_falls_back_for_missing_claims() -> None:
    plain = identity_from_claims(settings(), ISSUER, {"sub": "u1", "email": "u@x.example", "groups": "sales"})
    assert (plain.username, plain.groups, plain.display_name) == ("u@x.example", ("sales",), None)
    bare = identity_from_claims(settings(), ISSUER, {"sub": "u2", "groups": [1, "engineering"]})
    assert (bare.username, bare.email, bare.groups) == ("u2", None, ("engineering",))
    # A claim whose name has dots (Auth0-style namespaced claims) is read as is before any nesting.
    namespaced = identity_from_claims(
        settings(groups_claim="https://northwind.example/groups"),
        ISSUER,
        {"sub": "u3", "https://northwind.example/groups": ["engineering"]},
    )
    assert namespaced.groups == ("engineering",)
