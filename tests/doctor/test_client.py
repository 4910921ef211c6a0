"""Client authentication and PKCE as the doctor sends them."""

from __future__ import annotations

import base64

from bridgehead.doctor.oauth import RegisteredClient, client_credentials, pkce_challenge


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_client_secret_basic_form_encodes_before_base64() -> None:
    client = RegisteredClient("id:1", "s e/c+ret", "client_secret_basic", "https://x/cb")
    headers, fields = client_credentials(client)
    assert fields == {}
    decoded = base64.b64decode(headers["authorization"].removeprefix("Basic ")).decode()
    assert decoded == "id%3A1:s%20e%2Fc%2Bret"


def test_client_secret_post_and_public_clients() -> None:
    post = RegisteredClient("id", "secret", "client_secret_post", "https://x/cb")
    assert client_credentials(post) == ({}, {"client_id": "id", "client_secret": "secret"})
    public = RegisteredClient("id", None, "none", "https://x/cb")
    assert client_credentials(public) == ({}, {"client_id": "id"})
