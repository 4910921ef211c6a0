"""The second stage of ChatGPT's connection flow: discovering where and how to sign in.

As the MCP authorization spec lays it out: the 401 and its ``WWW-Authenticate`` challenge,
Protected Resource Metadata (RFC 9728) from the challenge's ``resource_metadata`` or the
well-known URLs, then the authorization server's metadata (RFC 8414, OpenID Connect discovery)
at every URL variant, and what ChatGPT needs from it: ``offline_access``, ``client_secret_basic``,
PKCE S256 and a way to register.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
)
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed
from pydantic import ValidationError

from bridgehead.doctor import firewall
from bridgehead.doctor.challenges import bearer_challenge
from bridgehead.doctor.probe import AuthMode, Probe, Unreachable, describe, json_object
from bridgehead.doctor.report import Status, excerpt
from bridgehead.doctor.transport import origin, validation_lines

AUTH_CHECKS = (
    "auth.challenge",
    "auth.protected_resource",
    "auth.server_metadata",
    "auth.metadata_urls",
    "auth.offline_access",
    "auth.token_auth_methods",
    "auth.pkce",
    "auth.registration",
    "auth.automated_clients",
)
OAUTH_CHECKS = (
    "oauth.register",
    "oauth.authorize",
    "oauth.iss",
    "oauth.token",
    "oauth.refresh_issued",
    "oauth.refresh_grant",
    "oauth.audience",
    "oauth.cimd",
    "oauth.redirect_uris",
    "oauth.empty_scope",
    "oauth.step_up",
    "oauth.differences",
)
FALLBACK_PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "registration_endpoint": "/register",
}
"""The 2025-03-26 default endpoints at the server's origin, for servers with no metadata at all."""
__all__ = ["AUTH_CHECKS", "OAUTH_CHECKS", "bearer_challenge", "check_discovery"]
ENDPOINT_KEYS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
)


async def check_discovery(probe: Probe) -> bool:
    """Every ``auth.*`` check; True when OAuth applies to this server (and the flow should run)."""
    report = probe.report
    learned = probe.learned
    if probe.options.auth is AuthMode.NONE:
        for check_id in (*AUTH_CHECKS, *OAUTH_CHECKS):
            report.record(check_id, Status.NA, "not checked: --auth none")
        return False
    first = learned.first_contact
    header = first.headers.get("www-authenticate") if first is not None and first.status_code == 401 else None
    challenge = bearer_challenge(header) if header else None
    learned.challenge = challenge
    found = await find_resource_metadata(probe, (challenge or {}).get("resource_metadata"))
    if not (probe.options.auth is AuthMode.OAUTH or learned.auth_required or found.metadata is not None):
        report.record(
            "auth.challenge",
            Status.NA,
            "no authorization: the server answers without credentials and publishes no Protected "
            "Resource Metadata",
            evidence=[*([describe(first)] if first else []), *found.evidence],
        )
        report.skip_unrecorded("no authorization on this server", stage="auth")
        for check_id in (*AUTH_CHECKS, *OAUTH_CHECKS):
            if report.get(check_id) is None or report.status(check_id) is Status.SKIP:
                report.record(check_id, Status.NA, "no authorization on this server")
        return False
    record_challenge(probe, header, challenge, mixed=found.metadata is not None)
    record_resource_metadata(probe, found)
    await check_server_metadata(probe)
    record_metadata_urls(probe)
    metadata = learned.server_metadata
    if metadata is None:
        for check_id in AUTH_CHECKS:
            if report.get(check_id) is None and check_id != "auth.automated_clients":
                report.record(check_id, Status.SKIP, "blocked by auth.server_metadata")
        return True
    record_offline_access(probe, metadata)
    record_token_auth_methods(probe, metadata)
    record_pkce(probe, metadata)
    record_registration(probe, metadata)
    return True


# -- the challenge -------------------------------------------------------------------------------


def record_challenge(
    probe: Probe, header: str | None, challenge: dict[str, str] | None, *, mixed: bool
) -> None:
    """``auth.challenge``: a 401 that tells the client where the Protected Resource Metadata is."""
    report = probe.report
    first = probe.learned.first_contact
    if first is None or first.status_code != 401:
        message = (
            "initialize is open without a token (mixed auth: tools carry their own security schemes)"
            if mixed
            else "the server answered initialize without asking for credentials"
        )
        report.record("auth.challenge", Status.NA, message, evidence=[describe(first)] if first else [])
        return
    evidence = [describe(first), f"WWW-Authenticate: {header or '(missing)'}"]
    if header is None:
        report.record(
            "auth.challenge",
            Status.FAIL,
            "401 without a WWW-Authenticate header",
            evidence=evidence,
            hint='Answer 401 with `WWW-Authenticate: Bearer resource_metadata="https://…/.well-known/'
            'oauth-protected-resource/mcp"` so ChatGPT can find where to sign in.',
        )
    elif challenge is None:
        report.record(
            "auth.challenge",
            Status.FAIL,
            "the 401 carries no Bearer challenge",
            evidence=evidence,
            hint="MCP authorization uses OAuth bearer tokens: the challenge scheme must be Bearer.",
        )
    elif "resource_metadata" not in challenge:
        report.record(
            "auth.challenge",
            Status.WARN,
            "Bearer challenge without resource_metadata: clients must guess the metadata URL",
            evidence=evidence,
            hint='Add resource_metadata="<URL of your Protected Resource Metadata>" to the challenge (RFC 9728 §5.1).',
        )
    else:
        report.record(
            "auth.challenge",
            Status.PASS,
            "401 with a Bearer challenge naming the resource metadata",
            evidence=evidence,
        )


# -- Protected Resource Metadata (RFC 9728) ------------------------------------------------------


class FoundDocument:
    """The outcome of fetching one metadata document from a list of candidate URLs."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] | None = None
        self.url: str | None = None
        self.evidence: list[str] = []
        self.invalid: list[str] = []
        self.tried: list[str] = []


async def find_resource_metadata(probe: Probe, header_url: str | None) -> FoundDocument:
    """Try the challenge's resource_metadata URL, then the path-suffixed and root well-known URLs."""
    found = FoundDocument()
    # In the spec's order, stopping at the first valid document, as a conformant client does.
    for url in dict.fromkeys(build_protected_resource_metadata_discovery_urls(header_url, probe.url)):
        document = await fetch_document(probe, url, found)
        if document is None:
            continue
        try:
            ProtectedResourceMetadata.model_validate(document)
        except ValidationError as exc:
            found.invalid += [f"{url}: {line}" for line in validation_lines(exc, 3)]
            continue
        found.metadata, found.url = document, url
        break
    probe.learned.resource_metadata = found.metadata
    return found


async def fetch_document(probe: Probe, url: str, found: FoundDocument) -> dict[str, Any] | None:
    """GET one metadata URL (over HTTPS if the server was reached so); its JSON object or None."""
    target = probe.reachable_url(url)
    found.tried.append(url)
    try:
        response = await probe.send("GET", target, headers={"accept": "application/json"})
    except Unreachable as exc:
        found.evidence.append(f"GET {target} → {exc}")
        return None
    found.evidence.append(describe(response))
    if response.is_redirect:
        probe.learned.redirects.append(f"{describe(response)} → {response.headers.get('location')}")
    await firewall.compare(probe, response, f"GET {urlsplit(target).path}")
    if response.status_code != 200:
        return None
    document = json_object(response)
    if document is None:
        found.invalid.append(f"{url}: not a JSON object")
    return document


def record_resource_metadata(probe: Probe, found: FoundDocument) -> None:
    """``auth.protected_resource``: found, valid, and naming this server as the resource."""
    report = probe.report
    evidence = [*found.evidence, *found.invalid]
    metadata = found.metadata
    if metadata is None:
        report.record(
            "auth.protected_resource",
            Status.FAIL,
            "no valid Protected Resource Metadata at " + ", ".join(found.tried),
            evidence=evidence,
            hint="Serve RFC 9728 metadata (resource, authorization_servers) at "
            "/.well-known/oauth-protected-resource/<path of the MCP endpoint> and name that URL in the 401's "
            "resource_metadata; ChatGPT starts the OAuth flow from it.",
        )
        return
    evidence.append(excerpt(metadata))
    resource = str(metadata.get("resource", ""))
    # A scheme-only difference (http:// metadata behind an HTTPS proxy) is auth.metadata_urls' finding.
    comparable = resource.replace("http://", "https://", 1) if probe.https else resource
    if not check_resource_allowed(probe.url, comparable):
        # A client must not go on: its token would be minted for someone else's resource.
        probe.learned.blocked_by = "auth.protected_resource"
        report.record(
            "auth.protected_resource",
            Status.FAIL,
            f"resource {resource!r} does not name this server ({probe.url}); the doctor, like any "
            "conformant client, stops before authorizing",
            evidence=evidence,
            hint="The resource must be the connector URL (or a prefix of it), exactly as clients reach it "
            "(RFC 9728 §3.3); ChatGPT rejects metadata for another resource.",
        )
        return
    header_url = (probe.learned.challenge or {}).get("resource_metadata")
    if header_url and found.url != header_url:
        report.record(
            "auth.protected_resource",
            Status.WARN,
            f"found at {found.url}, but not at the challenge's resource_metadata URL",
            evidence=evidence,
            hint=f"Serve the metadata at {header_url}, or name {found.url} in the WWW-Authenticate challenge.",
        )
        return
    servers = metadata.get("authorization_servers") or []
    report.record(
        "auth.protected_resource",
        Status.PASS,
        f"found at {found.url}; authorization server {servers[0]}",
        evidence=evidence,
    )


# -- Authorization Server Metadata (RFC 8414) and OpenID discovery ------------------------------


async def check_server_metadata(probe: Probe) -> None:
    """``auth.server_metadata``: the discovery URL variants in the spec's order, the first valid one used.

    Without Protected Resource Metadata the doctor looks at the MCP server's own origin, as
    2025-03-26 clients do, and with no metadata there either it goes on with that version's
    default endpoints (/authorize, /token, /register) so the rest of the flow can be checked.
    """
    report = probe.report
    learned = probe.learned
    resource_metadata = learned.resource_metadata
    issuer: str | None = None
    if resource_metadata is not None:
        issuer = str((resource_metadata.get("authorization_servers") or [""])[0])
        urls = build_oauth_authorization_server_metadata_discovery_urls(issuer, probe.url)
    else:
        base = origin(probe.url)
        urls = [f"{base}/.well-known/oauth-authorization-server", f"{base}/.well-known/openid-configuration"]
    found = FoundDocument()
    for url in dict.fromkeys(urls):
        document = await fetch_document(probe, url, found)
        if document is None:
            continue
        try:
            OAuthMetadata.model_validate(document)
        except ValidationError as exc:
            found.invalid += [f"{url}: {line}" for line in validation_lines(exc, 3)]
            continue
        found.metadata, found.url = document, url
        break
    evidence = [*found.evidence, *found.invalid]
    metadata = found.metadata
    if metadata is None:
        hint = (
            "Serve RFC 8414 metadata at /.well-known/oauth-authorization-server (and OpenID discovery at "
            "/.well-known/openid-configuration) for the issuer named in authorization_servers, with the "
            "issuer's path inserted after .well-known when it has one."
        )
        if resource_metadata is None and not found.invalid:
            base = origin(probe.url)
            learned.endpoints = {key: base + path for key, path in FALLBACK_PATHS.items()}
            report.record(
                "auth.server_metadata",
                Status.FAIL,
                "no authorization server metadata; the doctor goes on with the 2025-03-26 default endpoints "
                f"({', '.join(FALLBACK_PATHS.values())} at {base})",
                evidence=evidence,
                hint=hint,
            )
            return
        learned.blocked_by = "auth.server_metadata"
        report.record(
            "auth.server_metadata",
            Status.FAIL,
            "no valid authorization server metadata at any discovery URL",
            evidence=evidence,
            hint=hint,
        )
        return
    evidence.append(excerpt(metadata, 600))
    expected = issuer if issuer is not None else origin(probe.url)
    actual = str(metadata.get("issuer", ""))
    issuer_hint = (
        "The metadata's issuer must be exactly the URL its discovery document was derived from "
        "(RFC 8414 §3.3); clients discard metadata whose issuer does not match."
    )
    if actual.rstrip("/") != expected.rstrip("/") and issuer is not None:
        learned.blocked_by = "auth.server_metadata"
        report.record(
            "auth.server_metadata",
            Status.FAIL,
            f"issuer {actual!r} differs from the authorization server {expected!r}",
            evidence=evidence,
            hint=issuer_hint,
        )
        return
    learned.server_metadata, learned.issuer = metadata, actual
    learned.endpoints = {key: str(metadata[key]) for key in FALLBACK_PATHS if metadata.get(key)}
    problems = []
    if "code" not in (metadata.get("response_types_supported") or []):
        problems.append("response_types_supported lacks 'code'")
    grants = metadata.get("grant_types_supported")
    if grants is not None and "authorization_code" not in grants:
        problems.append("grant_types_supported lacks 'authorization_code'")
    if problems:
        learned.blocked_by = "auth.server_metadata"
        report.record(
            "auth.server_metadata",
            Status.FAIL,
            "; ".join(problems),
            evidence=evidence,
            hint="ChatGPT signs users in with the authorization code grant (response_type=code).",
        )
        return
    where = (
        f"found at {found.url}"
        if resource_metadata is not None
        else f"found at the MCP server's origin ({found.url}), without Protected Resource Metadata"
    )
    if actual.rstrip("/") != expected.rstrip("/"):
        # 2025-03-26 discovery (no RFC 9728): the document sits at the origin, so its issuer should be it.
        report.record(
            "auth.server_metadata",
            Status.WARN,
            f"{where}, but its issuer {actual!r} is not that origin",
            evidence=evidence,
            hint=issuer_hint,
        )
        return
    if grants is not None and "refresh_token" not in grants:
        report.record(
            "auth.server_metadata",
            Status.WARN,
            f"{where}; grant_types_supported lacks 'refresh_token'",
            evidence=evidence,
            hint="Support (and advertise) the refresh_token grant, or ChatGPT users must sign in again "
            "whenever an access token expires.",
        )
        return
    report.record("auth.server_metadata", Status.PASS, where, evidence=evidence)


def record_metadata_urls(probe: Probe) -> None:
    """``auth.metadata_urls``: advertised URLs use HTTPS when the server is reached over HTTPS, and the
    resource names the host the server is reached at."""
    report = probe.report
    learned = probe.learned
    named: list[tuple[str, str]] = []
    if learned.challenge and learned.challenge.get("resource_metadata"):
        named.append(("WWW-Authenticate resource_metadata", learned.challenge["resource_metadata"]))
    prm = learned.resource_metadata or {}
    if prm.get("resource"):
        named.append(("resource", str(prm["resource"])))
    named += [
        (f"authorization_servers[{i}]", str(u)) for i, u in enumerate(prm.get("authorization_servers") or [])
    ]
    asm = learned.server_metadata or {}
    named += [(key, str(asm[key])) for key in ENDPOINT_KEYS if isinstance(asm.get(key), str)]
    if not named:
        report.record("auth.metadata_urls", Status.SKIP, "blocked by auth.server_metadata")
        return
    target = urlsplit(probe.url)
    if probe.https:
        plain = [(label, url) for label, url in named if urlsplit(url).scheme == "http"]
        if plain:
            report.record(
                "auth.metadata_urls",
                Status.FAIL,
                f"{len(plain)} advertised URL(s) use http:// while the server is reached over https",
                evidence=[f"{label}: {url}" for label, url in plain]
                + ["(the doctor went on over https for the remaining checks)"],
                hint="The server builds its URLs from the plain-HTTP hop behind a TLS-terminating proxy or "
                "tunnel: make it trust the proxy's X-Forwarded-Proto/Host, or configure its public HTTPS base "
                "URL (Bridgehead: server.trusted_proxies or server.public_base_url). ChatGPT will not send "
                "credentials to http:// endpoints.",
            )
            return
    resource = urlsplit(str(prm.get("resource", ""))) if prm.get("resource") else None
    if resource is not None and (resource.hostname, resource.port) != (target.hostname, target.port):
        report.record(
            "auth.metadata_urls",
            Status.WARN,
            f"the metadata names host {resource.netloc}, but the server was reached at {target.netloc}",
            evidence=[f"{label}: {url}" for label, url in named],
            hint="Run the doctor against the public URL ChatGPT will use; if that is the URL you gave, the "
            "server's public base URL is configured wrong.",
        )
        return
    scheme = "https" if probe.https else target.scheme
    report.record(
        "auth.metadata_urls",
        Status.PASS,
        f"all {len(named)} advertised URLs use {scheme} and match how the server is reached",
        evidence=[f"{label}: {url}" for label, url in named],
    )


def record_offline_access(probe: Probe, metadata: dict[str, Any]) -> None:
    """``auth.offline_access``: advertised, so ChatGPT asks for it and gets refresh tokens."""
    scopes = metadata.get("scopes_supported")
    prm_scopes = (probe.learned.resource_metadata or {}).get("scopes_supported")
    evidence = [f"authorization server scopes_supported: {scopes}"]
    if prm_scopes is not None:
        evidence.append(f"protected resource scopes_supported: {prm_scopes}")
    hint = (
        "Advertise offline_access in the authorization server's scopes_supported and issue refresh tokens "
        "for it; then recreate the ChatGPT app so it reads the new metadata."
    )
    if scopes is None:
        probe.report.record(
            "auth.offline_access",
            Status.WARN,
            "the authorization server does not list scopes_supported",
            evidence=evidence,
            hint=hint,
        )
    elif "offline_access" not in scopes:
        probe.learned.differ(
            "chatgpt",
            "offline_access is not advertised: ChatGPT gets no refresh token and signs users in again at "
            "every expiry, where a spec client simply goes without (auth.offline_access)",
        )
        probe.report.record(
            "auth.offline_access",
            Status.FAIL,
            "offline_access is not in scopes_supported",
            evidence=evidence,
            hint=hint,
        )
    else:
        probe.report.record(
            "auth.offline_access", Status.PASS, "offline_access is advertised", evidence=evidence
        )


def record_token_auth_methods(probe: Probe, metadata: dict[str, Any]) -> None:
    """``auth.token_auth_methods``: client_secret_basic, which ChatGPT registers with, is accepted."""
    methods = metadata.get("token_endpoint_auth_methods_supported")
    evidence = [f"token_endpoint_auth_methods_supported: {methods}"]
    if methods is None:
        probe.report.record(
            "auth.token_auth_methods",
            Status.PASS,
            "not listed: the RFC 8414 default is client_secret_basic",
            evidence=evidence,
        )
    elif "client_secret_basic" not in methods:
        usable = [m for m in methods if m in ("client_secret_post", "none")]
        if usable:
            probe.learned.differ(
                "chatgpt",
                f"the token endpoint offers {' and '.join(usable)} but not client_secret_basic: spec clients "
                "use what is offered, ChatGPT authenticates with client_secret_basic (auth.token_auth_methods)",
            )
        probe.report.record(
            "auth.token_auth_methods",
            Status.FAIL,
            f"client_secret_basic is not supported (only {', '.join(methods) or 'nothing'})",
            evidence=evidence,
            hint="ChatGPT registers and authenticates with client_secret_basic (HTTP Basic at the token "
            "endpoint); with client_secret_post only, linking fails. Enable client_secret_basic.",
        )
    else:
        probe.report.record(
            "auth.token_auth_methods", Status.PASS, "client_secret_basic is supported", evidence=evidence
        )


def record_pkce(probe: Probe, metadata: dict[str, Any]) -> None:
    """``auth.pkce``: S256 advertised (MCP clients must refuse an authorization server without it)."""
    methods = metadata.get("code_challenge_methods_supported")
    evidence = [f"code_challenge_methods_supported: {methods}"]
    hint = "Support PKCE with S256 and list it in code_challenge_methods_supported (MCP authorization spec)."
    if methods is None or "S256" not in methods:
        # MCP clients must refuse to go on without S256 (2025-11-25, "Authorization Code Protection").
        probe.learned.blocked_by = probe.learned.blocked_by or "auth.pkce"
    if methods is None:
        probe.report.record(
            "auth.pkce",
            Status.FAIL,
            "code_challenge_methods_supported is missing",
            evidence=evidence,
            hint=hint,
        )
    elif "S256" not in methods:
        probe.report.record("auth.pkce", Status.FAIL, "S256 is not supported", evidence=evidence, hint=hint)
    else:
        probe.report.record("auth.pkce", Status.PASS, "PKCE S256 is supported", evidence=evidence)


def record_registration(probe: Probe, metadata: dict[str, Any]) -> None:
    """``auth.registration``: a registration endpoint (RFC 7591) or client ID metadata documents."""
    endpoint = metadata.get("registration_endpoint")
    cimd = metadata.get("client_id_metadata_document_supported") is True
    evidence = [f"registration_endpoint: {endpoint}", f"client_id_metadata_document_supported: {cimd}"]
    if endpoint:
        probe.report.record(
            "auth.registration", Status.PASS, "dynamic client registration is offered", evidence=evidence
        )
    elif cimd:
        probe.report.record(
            "auth.registration", Status.PASS, "client ID metadata documents are supported", evidence=evidence
        )
    else:
        given = " (the doctor uses the one given with --client-id)" if probe.options.client_id else ""
        probe.report.record(
            "auth.registration",
            Status.WARN,
            "no registration endpoint and no client ID metadata documents: only a pre-registered client "
            f"works{given}",
            evidence=evidence,
            hint="Enable dynamic client registration (RFC 7591) or client ID metadata documents, or register a "
            "client by hand and enter its ID and secret in the ChatGPT app's advanced OAuth settings.",
        )
