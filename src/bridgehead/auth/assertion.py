"""Client authentication with a signed JWT: ``private_key_jwt`` (RFC 7523 §2.2 and §3, OIDC Core §9).

The client sends ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and a ``client_assertion`` signed with one of its published keys. The assertion must
name the client as ``iss`` and ``sub``, this authorization server (its issuer or its
token endpoint) as ``aud``, expire soon, and carry a ``jti`` that is used once:
the caller records it until ``exp`` and refuses it the second time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 600  # seconds between now and exp; bounds how long a jti must be remembered
LEEWAY = 30
MAX_ASSERTION_BYTES = 8 * 1024

KeyLoader = Callable[[bool], Awaitable[jwt.PyJWKSet]]
"""The client's keys; called with True to ask for a fresh copy (an unknown ``kid``)."""


class InvalidAssertion(Exception):
    """The assertion does not authenticate the client; the message is an ``error_description``."""


@dataclass(frozen=True)
class VerifiedAssertion:
    """What a valid assertion tells: whose it is, its one-time id, and until when that id must be remembered."""

    client_id: str
    jti: str
    expires_at: int


def assertion_subject(assertion: str) -> str | None:
    """The unverified ``sub`` of an assertion, to find the client when the request names none."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


async def verify_assertion(
    assertion: str,
    *,
    client_id: str,
    keys: KeyLoader,
    audiences: Sequence[str],
    algorithms: Sequence[str],
) -> VerifiedAssertion:
    """Check signature, ``iss``, ``sub``, ``aud``, ``exp`` and ``jti``; InvalidAssertion otherwise."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise InvalidAssertion("client_assertion is too large")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise InvalidAssertion("client_assertion is not a JWT") from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise InvalidAssertion(
            f"client_assertion alg {alg!r} is not accepted (use one of {', '.join(algorithms)})"
        )
    kid = header.get("kid")
    candidates = _candidates(await keys(False), kid, alg)
    if not candidates and kid is not None:
        candidates = _candidates(await keys(True), kid, alg)  # the client may have rotated its keys
    if not candidates:
        raise InvalidAssertion(
            f"no key of the client matches the assertion (kid {kid!r}, alg {alg}); publish it in jwks or jwks_uri"
        )
    claims = _decode(assertion, candidates, alg, client_id, audiences)
    if claims.get("sub") != client_id:
        raise InvalidAssertion("client_assertion sub must be the client_id")
    expires_at = int(claims["exp"])
    if expires_at - time.time() > MAX_LIFETIME + LEEWAY:
        raise InvalidAssertion(f"client_assertion must expire within {MAX_LIFETIME} seconds")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 8 <= len(jti) <= 255:
        raise InvalidAssertion("client_assertion jti must be a unique string of 8 to 255 characters")
    return VerifiedAssertion(client_id, jti, expires_at)


KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def _candidates(keys: jwt.PyJWKSet, kid: object, alg: str) -> list[jwt.PyJWK]:
    """The client's keys that may have signed with ``alg``: matching ``kid``, key type and any ``alg`` they name."""
    found = []
    for key in keys.keys:
        data = getattr(key, "_jwk_data", {})
        if kid is not None and key.key_id != kid:
            continue
        if data.get("kty") != KEY_TYPES.get(alg[:2]):
            continue
        # A key that names its algorithm is used for that algorithm only (RFC 7517 §4.4).
        if data.get("alg") not in (None, alg) or data.get("use") not in (None, "sig"):
            continue
        found.append(key)
    return found


def _decode(
    assertion: str, candidates: list[jwt.PyJWK], alg: str, client_id: str, audiences: Sequence[str]
) -> dict[str, Any]:
    last: jwt.PyJWTError | None = None
    for key in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key.key,
                algorithms=[alg],
                audience=list(audiences),
                issuer=client_id,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
                leeway=LEEWAY,
            )
            return claims
        except jwt.InvalidSignatureError as exc:
            last = exc  # try the next key
        except jwt.ExpiredSignatureError as exc:
            raise InvalidAssertion("client_assertion has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidAssertion(
                f"client_assertion aud must name this server: {' or '.join(audiences[:2])}"
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidAssertion("client_assertion iss must be the client_id") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidAssertion(f"client_assertion lacks the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise InvalidAssertion(f"client_assertion is invalid: {exc}") from exc
    raise InvalidAssertion("client_assertion signature does not verify with the client's keys") from last
