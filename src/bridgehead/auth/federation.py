"""Login through the company's OpenID Connect provider: the authorization code flow with PKCE (OIDC Core 1.0).

``POST /login/federated`` takes the login page's form (the CSRF token and the
signed pending authorization request) and sends the browser to the provider
with a fresh ``state``, ``nonce`` and PKCE challenge. Those secrets and the
pending request ride in a short-lived signed cookie scoped to
``/login/federated``, so a callback can only finish the login this browser
started.

``GET /login/federated/callback`` exchanges the code, verifies the ID token
(signature against the provider's JWKS; ``iss``, ``aud``, ``azp``, ``exp``,
``iat`` and ``nonce``), reads the user's claims, maps their groups to a role,
signs them in and shows the same consent page as a password login.

Problems with the browser's request (no flow cookie, a wrong ``state``, the
provider's ``error=``) are 400 pages; problems with the provider (unreachable,
too slow, or an answer that does not verify) are 502 pages; a user whom no
mapping admits gets a 403 page. The client secret is never logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import jwt
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bridgehead.auth.keys import ASYMMETRIC_ALGORITHMS
from bridgehead.auth.server.authorize import PageError, consent_page, unpack_request
from bridgehead.auth.service import AuthService
from bridgehead.auth.users import UserError
from bridgehead.config import ConfigError, ConfigProblem, FederationSettings
from bridgehead.web.pages import PAGE_HEADERS, error_page
from bridgehead.web.session import BrowserSession, SessionCodec, csrf_ok

logger = logging.getLogger(__name__)

LOGIN_PATH = "/login/federated"
CALLBACK_PATH = "/login/federated/callback"
DISCOVERY_PATH = "/.well-known/openid-configuration"
FLOW_COOKIE = "bh_federation"
FLOW_MAX_AGE = 600
METADATA_TTL = 3600.0
JWKS_TTL = 3600.0
# A token naming an unknown key makes us refetch the JWKS (the provider rotated),
# but not more often than this, so forged kids cannot make us hammer the provider.
JWKS_REFETCH_INTERVAL = 30.0
UPSTREAM_TIMEOUT = 10.0
CLOCK_LEEWAY = 60
# Asymmetric algorithms only: "none" and the HMAC family are never accepted for ID tokens.
SIGNING_ALGORITHMS = ASYMMETRIC_ALGORITHMS
MAX_CLAIM_LENGTH = 255


class FederationError(Exception):
    """A federated login that cannot go on: the message is shown on an error page with ``status``."""

    status = 400
    title = "Cannot sign in"


class UpstreamError(FederationError):
    """The identity provider could not be reached, was too slow, or gave an answer that does not verify."""

    status = 502
    title = "Single sign-on failed"


class UnknownSigningKey(UpstreamError):
    """The ID token names a key the provider's JWKS (as last fetched) does not hold."""


class AccessRefused(FederationError):
    """The provider signed the user in, but Bridgehead does not admit them."""

    status = 403
    title = "No access to Bridgehead"


class ProviderMetadata(BaseModel):
    """The parts of the provider's discovery document (OpenID Connect Discovery 1.0 §3) Bridgehead uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    id_token_signing_alg_values_supported: list[str] = ["RS256"]
    token_endpoint_auth_methods_supported: list[str] = ["client_secret_basic"]


class TokenResponse(BaseModel):
    """A successful token response from the provider (OIDC Core §3.1.3.3)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: str
    token_type: str = "Bearer"
    id_token: str


@dataclass(frozen=True)
class Identity:
    """Who the provider says the user is, read from the ID token and userinfo claims."""

    issuer: str
    subject: str
    username: str
    email: str | None
    display_name: str | None
    groups: tuple[str, ...]


@dataclass(frozen=True)
class LoginFlow:
    """One browser's login in progress, kept in the signed flow cookie until the callback."""

    state: str
    nonce: str
    code_verifier: str
    request: str  # the signed pending authorization request


# -- pure logic --------------------------------------------------------------------------------


def check_settings(federation: FederationSettings) -> None:
    """Refuse an issuer Bridgehead must not trust: not a URL, or plain http without allow_insecure_http."""
    parts = urlsplit(federation.issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problem = "must be an absolute https:// URL such as https://login.example.com"
        raise ConfigError([ConfigProblem("auth.federation.issuer", problem)])
    if parts.scheme == "http" and not federation.allow_insecure_http:
        problem = "must use https:// (set auth.federation.allow_insecure_http = true only for tests and labs)"
        raise ConfigError([ConfigProblem("auth.federation.issuer", problem)])
    if "openid" not in federation.scopes:
        raise ConfigError([ConfigProblem("auth.federation.scopes", "must include 'openid'")])


def validate_id_token(
    id_token: str,
    keys: jwt.PyJWKSet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: Sequence[str],
    leeway: int = CLOCK_LEEWAY,
) -> dict[str, Any]:
    """The ID token's claims once its signature and OIDC Core §3.1.3.7 rules hold; UpstreamError otherwise."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise UpstreamError("The identity provider sent an ID token that is not a valid JWT.") from exc
    algorithm = header.get("alg")
    if algorithm not in algorithms:
        raise UpstreamError(
            f"The identity provider signed the ID token with an unaccepted algorithm ({algorithm})."
        )
    key = signing_key(keys, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=[str(algorithm)],
            audience=client_id,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise UpstreamError("The identity provider's ID token has expired. Check the server clocks.") from exc
    except jwt.InvalidAudienceError as exc:
        raise UpstreamError("The identity provider's ID token was issued to another client (aud).") from exc
    except jwt.InvalidIssuerError as exc:
        raise UpstreamError(
            "The ID token was issued by someone other than the configured provider (iss)."
        ) from exc
    except jwt.InvalidSignatureError as exc:
        raise UpstreamError("The ID token's signature does not verify against the provider's keys.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise UpstreamError(f"The identity provider's ID token lacks the {exc.claim!r} claim.") from exc
    except jwt.PyJWTError as exc:
        raise UpstreamError(f"The identity provider's ID token is not valid: {exc}.") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise UpstreamError("The identity provider's ID token names another authorized party (azp).")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not secrets.compare_digest(token_nonce.encode(), nonce.encode()):
        raise UpstreamError(
            "The ID token does not belong to the sign-in this browser started (nonce mismatch). Try again."
        )
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise UpstreamError("The identity provider's ID token has no usable subject (sub).")
    return claims


def signing_key(keys: jwt.PyJWKSet, kid: object) -> jwt.PyJWK:
    """The key a token names; with no ``kid``, the only signing key there is."""
    usable = [k for k in keys.keys if k.public_key_use in (None, "sig")]
    if isinstance(kid, str):
        for key in usable:
            if key.key_id == kid:
                return key
        raise UnknownSigningKey("The ID token names a signing key the identity provider does not publish.")
    if len(usable) == 1:
        return usable[0]
    raise UpstreamError("The ID token names no signing key and the identity provider publishes several.")


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_CLAIM_LENGTH]
    return None


def identity_from_claims(federation: FederationSettings, issuer: str, claims: Mapping[str, Any]) -> Identity:
    """The user's identity; the username falls back from the configured claim to email, then to the subject."""
    subject = str(claims["sub"])
    email = _text(claims.get("email"))
    username = _text(claim(claims, federation.username_claim)) or email or subject[:MAX_CLAIM_LENGTH]
    raw_groups = claim(claims, federation.groups_claim)
    if isinstance(raw_groups, str):
        groups: tuple[str, ...] = (raw_groups,)
    elif isinstance(raw_groups, list):
        groups = tuple(g for g in raw_groups if isinstance(g, str))
    else:
        groups = ()
    return Identity(issuer, subject, username, email, _text(claims.get("name")), groups)


def map_role(federation: FederationSettings, groups: Sequence[str]) -> str | None:
    """The role of the first ``role_mapping`` entry whose group the user is in, else ``default_role``."""
    member_of = set(groups)
    for group, role in federation.role_mapping.items():
        if group in member_of:
            return role
    return federation.default_role


def refusal_message(provider_name: str, error: str, description: str | None) -> str:
    """What to tell the user when the provider answered ``error=`` instead of a code."""
    if error == "access_denied":
        message = f"{provider_name} did not sign you in: access was denied or the sign-in was cancelled."
    elif error in (
        "login_required",
        "interaction_required",
        "consent_required",
        "account_selection_required",
    ):
        message = f"{provider_name} needs you to sign in interactively ({error})."
    else:
        shown = error if re.fullmatch(r"[a-z_]{1,64}", error) else "unknown error"
        message = f"{provider_name} could not sign you in ({shown})."
    if description:
        message += f" It said: “{description[:300]}”"
    return message


# -- the upstream provider ---------------------------------------------------------------------


class OpenIDProvider:
    """The company's provider as Bridgehead's OIDC client sees it; discovery and keys are cached."""

    def __init__(self, settings: FederationSettings) -> None:
        self.settings = settings
        self.name = settings.display_name
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: jwt.PyJWKSet | None = None
        self._keys_at = 0.0

    @property
    def discovery_url(self) -> str:
        return self.settings.issuer.rstrip("/") + DISCOVERY_PATH

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, follow_redirects=False)

    async def _request(
        self, http: httpx.AsyncClient, method: str, url: str, what: str, **kwargs: Any
    ) -> dict[str, Any]:
        """A JSON object from the provider; UpstreamError for anything else, naming ``what`` failed."""
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            logger.warning("federation: %s: %s timed out", self.name, what)
            raise UpstreamError(f"{self.name} did not answer in time ({what}). Try again later.") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            logger.warning("federation: %s: %s failed: %s", self.name, what, type(exc).__name__)
            raise UpstreamError(f"Bridgehead cannot reach {self.name} ({what}). Try again later.") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            detail = f"{error}" if isinstance(error, str) else f"HTTP {response.status_code}"
            logger.warning("federation: %s: %s answered %s", self.name, what, detail)
            raise UpstreamError(f"{self.name} refused the request ({what}: {detail[:64]}).")
        if not isinstance(body, dict):
            raise UpstreamError(f"{self.name} did not answer with JSON ({what}).")
        return body

    async def metadata(self) -> ProviderMetadata:
        """The discovery document, checked against the configured issuer and cached for an hour."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
            return self._metadata
        async with self._client() as http:
            body = await self._request(http, "GET", self.discovery_url, "discovery")
        try:
            metadata = ProviderMetadata.model_validate(body)
        except ValidationError as exc:
            raise UpstreamError(f"{self.name}'s discovery document is incomplete.") from exc
        if metadata.issuer.rstrip("/") != self.settings.issuer.rstrip("/"):
            raise UpstreamError(
                f"{self.name}'s discovery document names issuer {metadata.issuer!r}, "
                f"not the configured {self.settings.issuer!r}."
            )
        endpoints = [metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri]
        if metadata.userinfo_endpoint:
            endpoints.append(metadata.userinfo_endpoint)
        allowed = ("https", "http") if self.settings.allow_insecure_http else ("https",)
        if any(urlsplit(url).scheme not in allowed for url in endpoints):
            raise UpstreamError(f"{self.name}'s discovery document lists endpoints that are not https://.")
        self._metadata, self._metadata_at = metadata, time.monotonic()
        return metadata

    async def signing_keys(self, metadata: ProviderMetadata, *, refetch: bool = False) -> jwt.PyJWKSet:
        """The provider's JWKS, cached; ``refetch`` asks again unless it was asked moments ago."""
        age = time.monotonic() - self._keys_at
        fresh = age < (JWKS_REFETCH_INTERVAL if refetch else JWKS_TTL)
        if self._keys is not None and fresh:
            return self._keys
        async with self._client() as http:
            body = await self._request(http, "GET", metadata.jwks_uri, "signing keys")
        try:
            keys = jwt.PyJWKSet.from_dict(body)
        except jwt.PyJWTError as exc:
            raise UpstreamError(f"{self.name} publishes no signing key Bridgehead can use.") from exc
        self._keys, self._keys_at = keys, time.monotonic()
        return keys

    def algorithms(self, metadata: ProviderMetadata) -> list[str]:
        accepted = [a for a in metadata.id_token_signing_alg_values_supported if a in SIGNING_ALGORITHMS]
        if not accepted:
            raise UpstreamError(
                f"{self.name} signs ID tokens only with algorithms Bridgehead does not accept."
            )
        return accepted

    def authorization_url(self, metadata: ProviderMetadata, redirect_uri: str, flow: LoginFlow) -> str:
        """Where to send the browser: the authorization endpoint with state, nonce and an S256 challenge."""
        challenge = str(create_s256_code_challenge(flow.code_verifier))
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.settings.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=" ".join(self.settings.scopes),
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        return str(url)

    def _client_authentication(self, metadata: ProviderMetadata) -> dict[str, Any]:
        """How the token request authenticates: Basic unless the provider only takes the secret in the body."""
        client_id = self.settings.client_id
        if self.settings.client_secret is None:
            return {"data": {"client_id": client_id}}
        secret = self.settings.client_secret.get_secret_value()
        methods = metadata.token_endpoint_auth_methods_supported
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            return {"data": {"client_id": client_id, "client_secret": secret}}
        # RFC 6749 §2.3.1: both halves are form-urlencoded before the Basic encoding.
        return {"data": {}, "auth": httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))}

    async def _verified_claims(self, metadata: ProviderMetadata, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, refetching the JWKS once when it names a key we have not seen."""
        algorithms = self.algorithms(metadata)

        def validate(keys: jwt.PyJWKSet) -> dict[str, Any]:
            return validate_id_token(
                id_token,
                keys,
                issuer=metadata.issuer,
                client_id=self.settings.client_id,
                nonce=nonce,
                algorithms=algorithms,
            )

        keys = await self.signing_keys(metadata)
        try:
            return validate(keys)
        except UnknownSigningKey:
            refetched = await self.signing_keys(metadata, refetch=True)
            if refetched is keys:
                raise
            return validate(refetched)

    async def authenticate(
        self, metadata: ProviderMetadata, *, code: str, redirect_uri: str, flow: LoginFlow
    ) -> Identity:
        """Exchange the code, verify the ID token and read the user's claims (userinfo fills the gaps)."""
        request = self._client_authentication(metadata)
        request["data"].update(
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=flow.code_verifier,
        )
        async with self._client() as http:
            body = await self._request(http, "POST", metadata.token_endpoint, "code exchange", **request)
            try:
                tokens = TokenResponse.model_validate(body)
            except ValidationError as exc:
                raise UpstreamError(f"{self.name}'s token response has no ID token.") from exc
            claims = await self._verified_claims(metadata, tokens.id_token, flow.nonce)
            wanted = (self.settings.username_claim, self.settings.groups_claim, "email", "name")
            if metadata.userinfo_endpoint and any(claim(claims, name) is None for name in wanted):
                bearer = {"Authorization": f"Bearer {tokens.access_token}"}
                userinfo = await self._request(
                    http, "GET", metadata.userinfo_endpoint, "userinfo", headers=bearer
                )
                if userinfo.get("sub") != claims["sub"]:
                    raise UpstreamError(f"{self.name}'s userinfo is about another user (sub mismatch).")
                claims = {**userinfo, **claims}  # the signed ID token wins where both say something
        return identity_from_claims(self.settings, metadata.issuer, claims)


# -- routes ------------------------------------------------------------------------------------


def federation_routes(service: AuthService, sessions: SessionCodec) -> list[BaseRoute]:
    """``/login/federated`` and its callback for ``auth.federation``; ConfigError for an untrusted issuer."""
    federation = service.auth.federation
    if federation is None:
        return []
    check_settings(federation)
    provider = OpenIDProvider(federation)

    def flow_signer() -> URLSafeTimedSerializer:
        return sessions.signer("bridgehead.federation")

    def callback_url(request: Request) -> str:
        return service.base_url(request) + CALLBACK_PATH

    def read_flow(request: Request) -> LoginFlow | None:
        raw = request.cookies.get(FLOW_COOKIE)
        if not raw:
            return None
        try:
            return LoginFlow(**flow_signer().loads(raw, max_age=FLOW_MAX_AGE))
        except (BadSignature, SignatureExpired, TypeError):
            return None

    def finish(response: Response, request: Request, session: BrowserSession) -> Response:
        sessions.save(session, request, response)
        return response

    def page(exc: FederationError | PageError) -> Response:
        if isinstance(exc, FederationError):
            return error_page(exc.title, str(exc), exc.status)
        return error_page("Cannot sign in", str(exc))

    async def start(request: Request) -> Response:
        session = sessions.load(request)
        form = await request.form()
        token = form.get("request")
        try:
            unpack_request(sessions, token)
            if not csrf_ok(session, form.get("csrf")):
                raise FederationError(
                    "Your session expired or this form was not sent by Bridgehead. Try again."
                )
            metadata = await provider.metadata()
        except (FederationError, PageError) as exc:
            return finish(page(exc), request, session)
        flow = LoginFlow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            request=str(token),
        )
        url = provider.authorization_url(metadata, callback_url(request), flow)
        response = RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)
        response.set_cookie(
            FLOW_COOKIE,
            flow_signer().dumps(asdict(flow)),
            max_age=FLOW_MAX_AGE,
            httponly=True,
            samesite="lax",  # the provider's redirect back is a top-level GET, which Lax cookies follow
            secure=request.url.scheme == "https",
            path=LOGIN_PATH,
        )
        return finish(response, request, session)

    async def callback(request: Request) -> Response:
        session = sessions.load(request)
        params = request.query_params
        flow = read_flow(request)
        state = params.get("state")
        state_ok = (
            flow is not None
            and state is not None
            and secrets.compare_digest(state.encode(), flow.state.encode())
        )
        try:
            error = params.get("error")
            if error is not None:
                # The provider's own words are shown only when the answer is provably for this browser.
                description = params.get("error_description") if state_ok else None
                logger.info("federation: %s answered error=%r", provider.name, error[:64])
                raise FederationError(refusal_message(provider.name, error, description))
            if flow is None:
                raise FederationError(
                    "This sign-in took too long, or your browser did not keep Bridgehead's cookie. "
                    "Start connecting again from your app."
                )
            if not state_ok:
                raise FederationError(
                    f"The answer from {provider.name} does not belong to the sign-in this browser started "
                    "(state mismatch). Start connecting again from your app."
                )
            pending = unpack_request(sessions, flow.request)
            code = params.get("code")
            if not code:
                raise FederationError(f"{provider.name} sent you back without a sign-in code. Try again.")
            metadata = await provider.metadata()
            issuer = params.get("iss")
            if issuer is not None and issuer != metadata.issuer:  # RFC 9207: a mix-up attack
                raise FederationError(
                    f"The answer came from another provider ({issuer[:100]}), not {provider.name}."
                )
            identity = await provider.authenticate(
                metadata, code=code, redirect_uri=callback_url(request), flow=flow
            )
            role = map_role(federation, identity.groups)
            if role is None:
                logger.warning(
                    "federation: refused %s: no role mapping matches groups %s",
                    identity.username,
                    identity.groups,
                )
                raise AccessRefused(
                    f"You signed in to {provider.name} as {identity.username}, but none of your groups gives "
                    "access to Bridgehead. Ask an administrator to add you to a group that does."
                )
            try:
                user = await service.users.upsert_federated(
                    identity.issuer,
                    identity.subject,
                    identity.username,
                    role,
                    identity.email,
                    identity.display_name,
                )
            except UserError as exc:
                raise AccessRefused(str(exc)) from exc
            if user.disabled:
                raise AccessRefused("Your Bridgehead account is disabled. Ask an administrator.")
            logger.info("federation: %s signed in through %s as role %s", user.username, provider.name, role)
            sessions.sign_in(session, user.id)
            response = await consent_page(service, sessions, session, pending, user)
        except (FederationError, PageError) as exc:
            response = page(exc)
        response.delete_cookie(
            FLOW_COOKIE, path=LOGIN_PATH, httponly=True, samesite="lax", secure=request.url.scheme == "https"
        )
        return finish(response, request, session)

    return [
        Route(LOGIN_PATH, start, methods=["POST"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
