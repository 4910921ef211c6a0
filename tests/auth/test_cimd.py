"""Client ID Metadata Documents: a URL as client_id, against real servers on 127.0.0.1.

The documents are served by a real web server (``document_host``). Two Bridgeheads run: one with the
defaults (https only, public addresses only) and a lab one with ``auth.cimd_allow_insecure_loopback``
(so documents can come from 127.0.0.1 over http) and a short fetch timeout. Every refusal must be an
``invalid_client`` at /token and an error page (never a redirect) at /authorize, say why, and store nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from bridgehead.auth.cimd import (
    CACHE_CEILING,
    CACHE_DEFAULT,
    CACHE_FLOOR,
    ClientDocumentError,
    check_url,
    freshness,
    parse_document,
)
from bridgehead.auth.clients import Client, ClientStore
from bridgehead.store import Database
from tests.auth.conftest import PASSWORD, add_user
from tests.auth.document_host import Answer, DocumentHost, document_host
from tests.auth.flow import (
    ASSERTION_TYPE,
    CHATGPT_REDIRECT,
    ClientKey,
    authorization_params,
    authorize,
    document_client,
    exchange,
    pkce_pair,
)
from tests.conftest import RunningServer, make_settings, run_coroutine, serve_in_thread

DOCUMENT_PATH = "/oauth/abc/client.json"


@pytest.fixture(scope="module")
def documents() -> Iterator[DocumentHost]:
    with document_host() as host:
        yield host


def _server(path: Path, **auth: Any) -> Iterator[RunningServer]:
    store = f"sqlite+aiosqlite:///{path / 'auth.db'}"
    add_user(store, "alice", "member")
    settings = make_settings(path, auth={"mode": "oauth", **auth}, store={"url": store})
    with serve_in_thread(settings) as running:
        yield running


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Bridgehead with the defaults: documents only over https, only from public addresses."""
    yield from _server(tmp_path_factory.mktemp("cimd-strict"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Bridgehead that accepts documents from 127.0.0.1 over http, and gives up on them after 0.5 s."""
    yield from _server(
        tmp_path_factory.mktemp("cimd-lab"), cimd_allow_insecure_loopback=True, cimd_fetch_timeout=0.5
    )


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def stored(server: RunningServer, client_id: str) -> Client | None:
    async def get() -> Client | None:
        database = Database(server.settings.store_url())
        try:
            return await ClientStore(database, supported_scopes=[]).get(client_id)
        finally:
            await database.close()

    result: Client | None = run_coroutine(get())
    return result


def authorize_page(
    http: httpx.Client, server: RunningServer, client_id: str, redirect_uri: str = CHATGPT_REDIRECT
) -> httpx.Response:
    _, challenge = pkce_pair()
    client = {"client_id": client_id, "redirect_uris": [redirect_uri]}
    params = authorization_params(client, challenge, state="s", resource=server.mcp_url)
    return http.get(server.base_url + "/authorize", params=params)


def token_request(http: httpx.Client, server: RunningServer, **fields: str) -> httpx.Response:
    """A token request with a made-up code: client authentication is decided before the code is looked at."""
    data = {"grant_type": "authorization_code", "code": "bhc_unknown", "code_verifier": "v" * 43, **fields}
    return http.post(server.base_url + "/token", data=data)


def refused_at_authorize(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 400, (response.status_code, response.text)
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "invalid_client" in response.text and reason in response.text, response.text


def refused_at_token(response: httpx.Response, reason: str) -> str:
    assert response.status_code == 401, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == "invalid_client", body
    assert reason in body["error_description"], body
    description: str = body["error_description"]
    return description


def refused_everywhere(http: httpx.Client, server: RunningServer, client_id: str, reason: str) -> None:
    refused_at_authorize(authorize_page(http, server, client_id), reason)
    refused_at_token(token_request(http, server, client_id=client_id), reason)
    assert stored(server, client_id) is None


def valid_document(url: str, **changes: Any) -> dict[str, Any]:
    return {
        "client_id": url,
        "client_name": "ChatGPT",
        "redirect_uris": [CHATGPT_REDIRECT],
        "token_endpoint_auth_method": "none",
        **changes,
    }


# -- discovery -----------------------------------------------------------------------------------


def test_metadata_advertises_documents_and_private_key_jwt(http: httpx.Client, strict: RunningServer) -> None:
    metadata = http.get(strict.base_url + "/.well-known/oauth-authorization-server").json()
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["registration_endpoint"] == strict.base_url + "/register"  # registration stays
    for endpoint in ("token", "revocation", "introspection"):
        methods = metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        assert {"none", "private_key_jwt", "client_secret_basic", "client_secret_post"} <= set(methods)
        algorithms = metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert "ES256" in algorithms and "RS256" in algorithms
        assert not {"none", "HS256"} & set(algorithms)


# -- bad URLs ------------------------------------------------------------------------------------


def test_http_and_loopback_documents_need_the_switch(
    http: httpx.Client, strict: RunningServer, documents: DocumentHost
) -> None:
    url = documents.serve_json(DOCUMENT_PATH, valid_document(documents.url(DOCUMENT_PATH)))
    refused_everywhere(http, strict, url, "must be an https:// URL")
    port = documents.port
    refused_everywhere(http, strict, f"https://127.0.0.1:{port}{DOCUMENT_PATH}", "loopback address")
    # A name that resolves to a loopback address is refused for the address, not the name.
    refused_everywhere(http, strict, f"https://localhost:{port}{DOCUMENT_PATH}", "loopback address")
    assert documents.hits[DOCUMENT_PATH] == 0


@pytest.mark.parametrize(
    ("client_id", "reason"),
    [
        ("http://example.com/client.json", "must be an https:// URL"),  # the switch opens loopback only
        ("https://10.1.2.3/client.json", "private address"),
        ("https://192.168.0.10/oauth/client.json", "private address"),
        ("https://169.254.169.254/latest/client.json", "link-local address"),
        ("https://[fe80::1]/client.json", "link-local address"),
        ("https://0.0.0.0/client.json", "unspecified address"),
        ("https://example.com/", "must have a path"),
        ("https://example.com", "must have a path"),
        ("https://example.com/a/../client.json", "path segments"),
        ("https://user:pw@example.com/client.json", "user name or password"),
        ("https://example.com/client.json#me", "fragment"),
        ("https://example.com:99999/client.json", "invalid port"),
        ("https://example.com/" + "x" * 600, "longer than 512"),
    ],
)
def test_urls_that_are_never_fetched(
    http: httpx.Client, lab: RunningServer, client_id: str, reason: str
) -> None:
    refused_everywhere(http, lab, client_id, reason)


# -- bad documents -------------------------------------------------------------------------------


def _answers(url: str) -> dict[str, tuple[Answer, str]]:
    import json

    def doc(**changes: Any) -> Answer:
        return Answer(body=json.dumps(valid_document(url, **changes)).encode())

    big = json.dumps(valid_document(url, padding="x" * 6000)).encode()
    return {
        "redirect": (Answer(302, headers={"location": "https://chatgpt.com/oauth/client.json"}), "redirect"),
        "permanent redirect": (Answer(308, headers={"location": url + "x"}), "redirect"),
        "slow": (Answer(body=doc().body, delay=2.0), "did not arrive within 0.5 s"),
        "too large": (Answer(body=big), "larger than 5120 bytes"),
        "too large, no length": (Answer(body=big, content_length=False), "larger than 5120 bytes"),
        "not JSON": (Answer(body=b"<html>hi</html>", headers={"content-type": "text/html"}), "is not JSON"),
        "not an object": (Answer(body=b"[1, 2]"), "not a JSON object"),
        "another client_id": (doc(client_id="https://chatgpt.com/oauth/client.json"), "is not its own URL"),
        "no client_id": (doc(client_id=None), "is not its own URL"),
        "not found": (Answer(404, body=b"nope"), "answered HTTP 404"),
        "server error": (Answer(500, body=b"oops"), "answered HTTP 500"),
        "shared secret": (doc(token_endpoint_auth_method="client_secret_basic"), "no shared secrets"),
        "a secret inside": (doc(client_secret="s3cret"), "must not carry a client_secret"),
        "no redirect_uris": (doc(redirect_uris=[]), "redirect_uris"),
        "bad redirect_uri": (doc(redirect_uris=["http://evil.example/cb"]), "must be https"),
        "no name": (doc(client_name=""), "client_name"),
        "no authorization_code": (doc(grant_types=["client_credentials"]), "authorization_code"),
        "keyless private_key_jwt": (doc(token_endpoint_auth_method="private_key_jwt"), "jwks or jwks_uri"),
        "jwks_uri not https": (
            doc(token_endpoint_auth_method="private_key_jwt", jwks_uri="http://example.com/jwks"),
            "must be an https:// URL",
        ),
    }


CASES = list(_answers("x"))


@pytest.mark.parametrize("case", CASES)
def test_documents_that_cannot_be_used(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost, case: str
) -> None:
    path = f"/bad/{CASES.index(case)}/client.json"
    url = documents.url(path)
    answer, reason = _answers(url)[case]
    documents.serve(path, answer)
    refused_everywhere(http, lab, url, reason)


def test_a_failure_is_not_cached(http: httpx.Client, lab: RunningServer, documents: DocumentHost) -> None:
    path = "/flaky/client.json"
    url = documents.serve(path, Answer(503, body=b"try later"))
    refused_at_authorize(authorize_page(http, lab, url), "HTTP 503")
    documents.serve_json(path, valid_document(url, client_id="https://elsewhere.example/client.json"))
    refused_at_authorize(authorize_page(http, lab, url), "is not its own URL")
    documents.serve_json(path, valid_document(url))
    assert authorize_page(http, lab, url).status_code == 200
    assert documents.hits[path] == 3
    assert stored(lab, url) is not None


# -- caching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "fetches"),
    [("max-age=600", 1), ("public, max-age=0", 1), (None, 1), ("no-store", 3), ("no-cache", 3)],
)
def test_documents_are_cached_as_http_says(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost, cache_control: str | None, fetches: int
) -> None:
    path = f"/cache/{len(documents.answers)}/client.json"
    url = documents.url(path)
    headers = {"cache-control": cache_control} if cache_control else {}
    documents.serve_json(path, valid_document(url), headers)
    for _ in range(3):
        assert authorize_page(http, lab, url).status_code == 200
    assert documents.hits[path] == fetches


def test_freshness_rules() -> None:
    def lifetime(**headers: str) -> float | None:
        return freshness(httpx.Headers({k.replace("_", "-"): v for k, v in headers.items()}), now=1_000_000.0)

    assert lifetime() == CACHE_DEFAULT
    assert lifetime(cache_control="max-age=3600") == 3600
    assert lifetime(cache_control="max-age=5") == CACHE_FLOOR
    assert lifetime(cache_control="max-age=0, must-revalidate") == CACHE_FLOOR
    assert lifetime(cache_control="max-age=99999999") == CACHE_CEILING
    assert lifetime(cache_control="private, max-age=900") == 900
    assert lifetime(cache_control="no-store") is None
    assert lifetime(cache_control="max-age=600, no-store") is None
    assert lifetime(cache_control="no-cache") is None
    assert lifetime(expires="Mon, 12 Jan 1970 14:46:40 GMT") == 3600  # 1_000_000 + 3600 s
    assert lifetime(expires="garbage") == CACHE_FLOOR
    assert lifetime(cache_control="max-age=nonsense") == CACHE_FLOOR


# -- redirect URIs -------------------------------------------------------------------------------


def test_redirect_uri_must_be_one_the_document_lists(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost
) -> None:
    callback = "https://chatgpt.com/connector/oauth/cb_123"
    client = document_client(documents, redirect_uris=(CHATGPT_REDIRECT, callback))
    for uri in (CHATGPT_REDIRECT, callback):
        assert authorize_page(http, lab, client["client_id"], uri).status_code == 200
    for near_miss in (CHATGPT_REDIRECT + "/", "https://chatgpt.com/connector/oauth/cb_124", callback.upper()):
        page = authorize_page(http, lab, client["client_id"], near_miss)
        assert page.status_code == 400 and "location" not in page.headers
        assert "does not exactly match" in page.text


def test_consent_names_the_document_host(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost
) -> None:
    client = document_client(documents, name="Totally Official App")
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="st", resource=lab.mcp_url)
    login = http.get(lab.base_url + "/authorize", params=params)
    assert "Totally Official App (127.0.0.1)" in login.text
    query = authorize(http, lab.base_url + "/authorize", params, "alice", PASSWORD)
    assert query["state"] == "st" and query["iss"] == lab.base_url
    tokens = exchange(http, lab.base_url + "/token", client, query["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    row = stored(lab, client["client_id"])
    assert row is not None and row.kind == "cimd" and row.auth_method == "none"
    assert row.redirect_uris == (CHATGPT_REDIRECT,)


# -- private_key_jwt -------------------------------------------------------------------------------


@pytest.fixture
def signer(documents: DocumentHost) -> dict[str, Any]:
    """A document client authenticating with private_key_jwt, keys at jwks_uri."""
    return document_client(documents, auth_method="private_key_jwt")


def assertion_request(
    http: httpx.Client, server: RunningServer, client: dict[str, Any], assertion: str, **extra: str
) -> httpx.Response:
    fields = {
        "client_id": client["client_id"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return token_request(http, server, **{**fields, **extra})


def authenticated(response: httpx.Response) -> None:
    """Client authentication passed: what fails is the made-up code."""
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant", response.text


def test_assertion_audiences(http: httpx.Client, lab: RunningServer, signer: dict[str, Any]) -> None:
    key: ClientKey = signer["assertion_key"]
    client_id = signer["client_id"]
    for audience in (
        lab.base_url + "/token",
        lab.base_url,
        [lab.base_url + "/token", "https://other.example"],
    ):
        authenticated(assertion_request(http, lab, signer, key.assertion(client_id, audience)))
    # Sent without client_id: the assertion's sub names the client.
    response = token_request(
        http,
        lab,
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=key.assertion(client_id, lab.base_url),
    )
    authenticated(response)


def test_bad_assertions(http: httpx.Client, lab: RunningServer, signer: dict[str, Any]) -> None:
    key: ClientKey = signer["assertion_key"]
    client_id = signer["client_id"]
    audience = lab.base_url + "/token"
    stranger = ClientKey(ClientKey.generate().private_key, key.kid)  # same kid, another key
    now = int(time.time())
    cases = {
        "signature does not verify": stranger.assertion(client_id, audience),
        "aud must name this server": key.assertion(client_id, "https://other.example/token"),
        "iss must be the client_id": key.assertion(client_id, audience, iss="https://evil.example/c.json"),
        "sub must be the client_id": key.assertion(client_id, audience, sub="https://evil.example/c.json"),
        "has expired": key.assertion(client_id, audience, exp=now - 120, iat=now - 180),
        "must expire within 600 seconds": key.assertion(client_id, audience, lifetime=3600),
        "lacks the 'jti' claim": key.assertion(client_id, audience, jti=None),
        "jti must be a unique string": key.assertion(client_id, audience, jti="x"),
        "no key of the client matches": ClientKey(key.private_key, "other-kid").assertion(
            client_id, audience
        ),
        "alg 'HS256' is not accepted": jwt.encode(
            {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + 60, "jti": "j" * 16},
            "a-shared-secret-of-sufficient-length!",
            algorithm="HS256",
        ),
        "alg 'none' is not accepted": jwt.encode(
            {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + 60, "jti": "k" * 16},
            "",
            algorithm="none",
        ),
        "not a JWT": "not.a.jwt",
    }
    for reason, assertion in cases.items():
        refused_at_token(assertion_request(http, lab, signer, assertion), reason)
    fine = key.assertion(client_id, audience)
    refused_at_token(
        assertion_request(http, lab, signer, fine, client_assertion_type="urn:example:other"),
        "client_assertion_type",
    )
    refused_at_token(token_request(http, lab, client_id=client_id), "client_assertion_type")
    mixed = assertion_request(http, lab, signer, fine, client_secret="guess")
    assert mixed.status_code == 400 and mixed.json()["error"] == "invalid_request"
    # RFC 6749 §2.3.1: the client_id is form-encoded before it goes into HTTP Basic.
    basic = http.post(
        lab.base_url + "/token",
        auth=(quote(client_id, safe=""), "guess"),
        data={"grant_type": "authorization_code", "code": "bhc_unknown", "code_verifier": "v" * 43},
    )
    refused_at_token(basic, "cannot use HTTP Basic")
    assert basic.headers["www-authenticate"].startswith("Basic")


def test_an_assertion_is_used_once(http: httpx.Client, lab: RunningServer, signer: dict[str, Any]) -> None:
    assertion = signer["assertion_key"].assertion(signer["client_id"], lab.base_url + "/token")
    authenticated(assertion_request(http, lab, signer, assertion))
    refused_at_token(assertion_request(http, lab, signer, assertion), "already used")


def test_a_none_client_sends_no_assertion(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost
) -> None:
    client = document_client(documents)
    assertion = ClientKey.generate().assertion(client["client_id"], lab.base_url + "/token")
    refused_at_token(assertion_request(http, lab, client, assertion), "not private_key_jwt")
    refused_at_token(
        token_request(http, lab, client_id=client["client_id"], client_secret="x"), "must not send a secret"
    )


def test_inline_keys_and_key_rotation(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost
) -> None:
    inline = document_client(documents, auth_method="private_key_jwt", inline_keys=True)
    assert "jwks" in inline["document"]
    assertion = inline["assertion_key"].assertion(inline["client_id"], lab.base_url + "/token")
    authenticated(assertion_request(http, lab, inline, assertion))
    # Keys at jwks_uri served with no-store are fetched each time: a rotation is honoured at once.
    rotating = document_client(documents, auth_method="private_key_jwt")
    jwks_path = rotating["path"].replace("client.json", "jwks.json")
    documents.serve_json(jwks_path, rotating["assertion_key"].jwks(), {"cache-control": "no-store"})
    old_assertion = rotating["assertion_key"].assertion(rotating["client_id"], lab.base_url + "/token")
    authenticated(assertion_request(http, lab, rotating, old_assertion))
    new_key = ClientKey.generate()
    documents.serve_json(jwks_path, new_key.jwks(), {"cache-control": "no-store"})
    authenticated(
        assertion_request(http, lab, rotating, new_key.assertion(rotating["client_id"], lab.base_url))
    )
    stale = rotating["assertion_key"].assertion(rotating["client_id"], lab.base_url + "/token")
    refused_at_token(assertion_request(http, lab, rotating, stale), "no key of the client matches")


def test_symmetric_keys_in_a_document_are_ignored(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost
) -> None:
    url = documents.url("/oct/client.json")
    oct_key = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "k1"}
    documents.serve_json(
        "/oct/client.json",
        valid_document(url, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [oct_key]}),
    )
    now = int(time.time())
    forged = jwt.encode(
        {"iss": url, "sub": url, "aud": lab.base_url, "exp": now + 60, "jti": "z" * 16},
        "secret-secret-secret-secret-secret",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    refused_at_token(assertion_request(http, lab, {"client_id": url}, forged), "not accepted")
    key = ClientKey.generate()
    assertion = key.assertion(url, lab.base_url)
    refused_at_token(assertion_request(http, lab, {"client_id": url}, assertion), "no usable keys")


# -- revocation ---------------------------------------------------------------------------------


def test_an_administrator_can_revoke_a_document_client(
    http: httpx.Client, lab: RunningServer, documents: DocumentHost
) -> None:
    client = document_client(documents)
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=lab.mcp_url)
    query = authorize(http, lab.base_url + "/authorize", params, "alice", PASSWORD)

    async def revoke() -> bool:
        database = Database(lab.settings.store_url())
        try:
            return await ClientStore(database, supported_scopes=[]).revoke(client["client_id"])
        finally:
            await database.close()

    assert run_coroutine(revoke())
    page = authorize_page(http, lab, client["client_id"])
    assert page.status_code == 400 and "revoked" in page.text
    refused_at_token(exchange(http, lab.base_url + "/token", client, query["code"], verifier), "revoked")
    row = stored(lab, client["client_id"])
    assert row is not None and row.revoked  # a fresh fetch of the document does not undo it


# -- the parts on their own -----------------------------------------------------------------------


def test_check_url() -> None:
    check_url("https://chatgpt.com/oauth/abc/client.json", allow_insecure_loopback=False)
    check_url(
        "https://chatgpt.com/oauth/client.json?v=2", allow_insecure_loopback=False
    )  # SHOULD NOT, allowed
    check_url("http://127.0.0.1:8080/client.json", allow_insecure_loopback=True)
    check_url("http://localhost/client.json", allow_insecure_loopback=True)
    for url in ("http://127.0.0.1:8080/client.json", "ftp://example.com/client.json", "https:///client.json"):
        with pytest.raises(ClientDocumentError):
            check_url(url, allow_insecure_loopback=False)
    with pytest.raises(ClientDocumentError, match="path segments"):
        check_url("https://example.com/oauth/%2e%2e/client.json", allow_insecure_loopback=False)


def test_parse_document_keeps_what_bridgehead_offers() -> None:
    url = "https://chatgpt.com/oauth/abc/client.json"
    document = parse_document(
        url,
        valid_document(url, grant_types=["authorization_code", "refresh_token", "client_credentials"]),
        allow_insecure_loopback=False,
    )
    assert document.grant_types == ("authorization_code", "refresh_token")
    assert document.auth_method == "none"
    defaults = parse_document(
        url,
        {k: v for k, v in valid_document(url).items() if k != "token_endpoint_auth_method"},
        allow_insecure_loopback=False,
    )
    assert defaults.auth_method == "none" and defaults.grant_types == ("authorization_code", "refresh_token")
    with pytest.raises(ClientDocumentError, match="both jwks and jwks_uri"):
        parse_document(
            url,
            valid_document(url, jwks={"keys": []}, jwks_uri="https://chatgpt.com/jwks.json"),
            allow_insecure_loopback=False,
        )
    with pytest.raises(ClientDocumentError, match="not supported"):
        parse_document(
            url, valid_document(url, token_endpoint_auth_signing_alg="HS256"), allow_insecure_loopback=False
        )


async def test_recording_document_clients_and_spent_assertions(database: Database) -> None:
    """On each store: concurrent first sightings record one client, a revocation survives a refetch,
    and an assertion id is spent once."""
    import asyncio

    from bridgehead.auth.assertion import VerifiedAssertion
    from bridgehead.auth.cimd import ClientDocument

    store = ClientStore(database, supported_scopes=["tools:read", "offline_access"])
    url = "https://chatgpt.com/oauth/abc/client.json"
    document = ClientDocument(
        client_id=url,
        client_name="ChatGPT",
        redirect_uris=(CHATGPT_REDIRECT,),
        grant_types=("authorization_code", "refresh_token"),
        auth_method="none",
        scope="tools:read admin:everything",
        jwks=None,
        jwks_uri=None,
        signing_alg=None,
        metadata={"client_id": url},
    )
    recorded = await asyncio.gather(*(store._record(document) for _ in range(5)))
    assert {client.client_id for client in recorded} == {url}
    assert recorded[0].kind == "cimd" and recorded[0].scope == "tools:read"  # unknown scopes dropped
    assert [c.client_id for c in await store.list()] == [url]
    assert await store.revoke(url)
    assert (await store._record(document)).revoked
    spent = VerifiedAssertion(url, "jti-0123456789", int(time.time()) + 60)
    assert await store._spend(spent) is True
    assert await store._spend(spent) is False
    assert await store._spend(VerifiedAssertion("https://other.example/c.json", spent.jti, spent.expires_at))
