"""What ChatGPT's linking does that a plain MCP client does not, probed on any server.

ChatGPT identifies itself with a client ID metadata document where the server supports them
(``oauth.cimd``), comes back to one of two redirect URI forms (``oauth.redirect_uris``), and
sends no ``scope`` at all when a user disconnects and connects again (``oauth.empty_scope``).
Each probe is an authorization request completed without a browser: the doctor only looks at
whether the server accepts it (a sign-in page, or a redirect back) or refuses it, and never
exchanges the codes these probes may get. The redirect URI and empty-scope probes run with the
ChatGPT profile only; ``--profile spec`` sends nothing a spec client would not.
"""

from __future__ import annotations

import secrets

from bridgehead.doctor.client import RegisteredClient, choose_method
from bridgehead.doctor.oauth import CLIENT_NAME, Authorization, authorize
from bridgehead.doctor.probe import (
    CHATGPT_CALLBACK_PREFIX,
    CHATGPT_REDIRECT_URI,
    Probe,
    Unreachable,
    describe,
    json_object,
)
from bridgehead.doctor.report import Status, excerpt

NOT_HTTPS_CLIENT_ID = "http://client-metadata.invalid/bridgehead-doctor.json"
"""A client ID no server may accept: a metadata document URL must be HTTPS (and .invalid never resolves)."""
CIMD_HINT = (
    "Advertise client_id_metadata_document_supported: true, accept an HTTPS URL as client_id by fetching the "
    "document there (timeout, size cap, no private addresses), require its client_id to be that URL and the "
    "redirect_uri to be one of its redirect_uris, and let such clients authenticate with none (PKCE) or "
    "private_key_jwt, listed in token_endpoint_auth_methods_supported."
)


async def check_linking(probe: Probe) -> None:
    """``oauth.cimd``, ``oauth.redirect_uris`` and ``oauth.empty_scope``."""
    learned = probe.learned
    if learned.blocked_by or not (learned.endpoints or {}).get("authorization_endpoint"):
        return  # the flow's checks already say why
    await check_cimd(probe)
    if not probe.chatgpt:
        for check_id in ("oauth.redirect_uris", "oauth.empty_scope"):
            probe.report.record(check_id, Status.NA, "a ChatGPT-specific probe: not run with --profile spec")
        return
    await check_redirect_uris(probe)
    await check_empty_scope(probe)


def accepted(authorization: Authorization) -> bool | None:
    """Whether the server took the request (a sign-in page, or a redirect back, even with an error),
    refused it (an error page), or it cannot be told (an unsafe redirect, no answer)."""
    kind = authorization.outcome.kind
    if kind in ("answer", "sign_in"):
        return True
    if kind == "refused":
        return False
    return None


def main_accepted(probe: Probe) -> bool:
    """Whether the flow's own authorization request got through (so a refusal of a probe that
    differs in one thing is that thing's fault)."""
    return probe.learned.authorization_kind in ("answer", "sign_in")


# -- client ID metadata documents -----------------------------------------------------------------


async def check_cimd(probe: Probe) -> None:
    """``oauth.cimd``: advertised, usable by public clients, refusing what no document can back, and
    (with --client-metadata-url) a whole flow with a document as the client."""
    report = probe.report
    if report.status("oauth.cimd") is Status.FAIL:
        return  # the flow's authorization with the document was refused: already said
    metadata = probe.learned.server_metadata
    if metadata is None:
        report.record("oauth.cimd", Status.SKIP, "blocked by auth.server_metadata")
        return
    supported = metadata.get("client_id_metadata_document_supported") is True
    methods = metadata.get("token_endpoint_auth_methods_supported")
    evidence = [
        f"client_id_metadata_document_supported: {metadata.get('client_id_metadata_document_supported')!r}",
        f"token_endpoint_auth_methods_supported: {methods!r}",
    ]
    if not supported:
        fallback = (
            "ChatGPT registers dynamically instead"
            if metadata.get("registration_endpoint")
            else "and there is no registration endpoint either"
        )
        if probe.options.client_metadata_url:
            evidence.append(f"--client-metadata-url {probe.options.client_metadata_url} was not used")
        report.record(
            "oauth.cimd",
            Status.WARN,
            f"client ID metadata documents are not supported ({fallback})",
            evidence=evidence,
            hint=CIMD_HINT,
        )
        return
    if isinstance(methods, list) and not {"none", "private_key_jwt"} & set(methods):
        report.record(
            "oauth.cimd",
            Status.FAIL,
            "advertised, but the token endpoint offers neither none nor private_key_jwt, the methods a client "
            "identified by a metadata document can use",
            evidence=evidence,
            hint=CIMD_HINT,
        )
        return
    problems: list[str] = []
    if probe.chatgpt:
        await refuse_unbacked_client(probe, evidence, problems)
    client = probe.learned.client
    if problems:
        report.record("oauth.cimd", Status.FAIL, "; ".join(problems), evidence=evidence, hint=CIMD_HINT)
        return
    if client is not None and client.kind == "metadata document":
        token = report.status("oauth.token")
        evidence.append(f"the flow used {client.client_id} as its client_id")
        message = (
            "a whole flow with the client ID metadata document worked"
            if token is Status.PASS
            else "the authorization request with the client ID metadata document was accepted"
        )
        report.record("oauth.cimd", Status.PASS, message, evidence=evidence)
        return
    report.record(
        "oauth.cimd",
        Status.PASS,
        "advertised, with a token endpoint method such clients can use (--client-metadata-url checks a whole "
        "flow)",
        evidence=evidence,
    )


async def refuse_unbacked_client(probe: Probe, evidence: list[str], problems: list[str]) -> None:
    """A client ID URL that cannot be a metadata document (not HTTPS) must be refused before a code."""
    client = RegisteredClient(NOT_HTTPS_CLIENT_ID, None, "none", CHATGPT_REDIRECT_URI, "metadata document")
    authorization = await authorize(probe, client, None, browser=False)
    evidence.append(f"authorization request as client {NOT_HTTPS_CLIENT_ID}:")
    evidence += authorization.outcome.evidence
    params = authorization.params or {}
    if params.get("code"):
        problems.append(
            f"issued a code to the client {NOT_HTTPS_CLIENT_ID}, whose metadata document it cannot have fetched "
            "(not HTTPS): client IDs are not validated"
        )


# -- ChatGPT's redirect URIs ------------------------------------------------------------------------


async def check_redirect_uris(probe: Probe) -> None:
    """``oauth.redirect_uris``: both https://chatgpt.com/connector_platform_oauth_redirect and
    https://chatgpt.com/connector/oauth/{callback_id} are accepted (registered and authorized)."""
    report = probe.report
    learned = probe.learned
    main = learned.client
    registration = (learned.endpoints or {}).get("registration_endpoint")
    if main is not None and main.kind == "metadata document":
        report.record(
            "oauth.redirect_uris",
            Status.NA,
            "the client is a metadata document: its redirect_uris are the document's",
        )
        return
    can_register = bool(registration) and (main is None or main.kind == "dynamic")
    if not can_register and (main is None or main.kind != "pre-registered"):
        report.record("oauth.redirect_uris", Status.SKIP, "no client to check redirect URIs with")
        return
    forms = [CHATGPT_REDIRECT_URI, CHATGPT_CALLBACK_PREFIX + "bridgehead-doctor-" + secrets.token_hex(6)]
    evidence: list[str] = []
    refused: list[str] = []
    took: list[str] = []
    for uri in forms:
        if (
            main is not None
            and main.redirect_uri == uri
            and report.status("oauth.register") is not Status.FAIL
        ):
            verdict = main_accepted(probe)
            evidence.append(f"{uri}: the flow's own client ({'accepted' if verdict else 'not accepted'})")
            (took if verdict else refused).append(uri)
            continue
        if can_register:
            client, lines = await register_for(probe, str(registration), uri)
            evidence += lines
            if client is None:
                refused.append(uri)
                continue
        else:
            assert main is not None
            client = RegisteredClient(main.client_id, main.client_secret, main.method, uri, main.kind)
        authorization = await authorize(probe, client, learned.requested_scope, browser=False)
        verdict_or_none = accepted(authorization)
        evidence.append(f"{uri}: authorization request → {authorization.outcome.kind}")
        evidence += ["    " + line for line in authorization.outcome.evidence]
        if verdict_or_none is True:
            took.append(uri)
        elif verdict_or_none is False:
            refused.append(uri)
    if refused and (took or main_accepted(probe)):
        what = " and ".join(refused)
        learned.differ("chatgpt", f"ChatGPT's redirect URI {what} is refused (oauth.redirect_uris)")
        report.record(
            "oauth.redirect_uris",
            Status.FAIL,
            f"ChatGPT's redirect URI {what} is refused",
            evidence=evidence,
            hint="Accept both of ChatGPT's redirect URIs, https://chatgpt.com/connector_platform_oauth_redirect and "
            "https://chatgpt.com/connector/oauth/{callback_id}, each matched exactly against what the client "
            "registered (for a pre-registered client: add both to its allowed redirect URIs).",
        )
        return
    if refused or not took:
        blocker = "oauth.register" if main is None else "oauth.authorize"
        report.record("oauth.redirect_uris", Status.SKIP, f"blocked by {blocker}", evidence=evidence)
        return
    if main is not None and main.redirect_uri != CHATGPT_REDIRECT_URI and not main_accepted(probe) and took:
        learned.differ(
            "spec",
            "loopback redirect URIs (RFC 8252) of desktop MCP clients are refused while ChatGPT's are accepted "
            "(oauth.register, oauth.authorize)",
        )
    report.record("oauth.redirect_uris", Status.PASS, "both forms are accepted", evidence=evidence)


async def register_for(probe: Probe, endpoint: str, uri: str) -> tuple[RegisteredClient | None, list[str]]:
    """Register a client for one redirect URI, as ChatGPT would; the client, or None when refused."""
    metadata = probe.learned.server_metadata or {}
    method = choose_method("client_secret_basic", metadata.get("token_endpoint_auth_methods_supported"))
    body = {
        "client_name": CLIENT_NAME,
        "redirect_uris": [uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    }
    try:
        response = await probe.send("POST", probe.reachable_url(endpoint), json_body=body)
    except Unreachable as exc:
        return None, [f"{uri}: registration → {exc}"]
    document = json_object(response) or {}
    lines = [f"{uri}: registration {describe(response)}"]
    uris = document.get("redirect_uris")
    if not response.is_success or not isinstance(document.get("client_id"), str):
        lines.append(f"    {excerpt(document) if document else response.text[:200]}")
        return None, lines
    if isinstance(uris, list) and uri not in uris:
        lines.append(f"    registered redirect_uris {uris!r} lack it")
        return None, lines
    secret = document.get("client_secret")
    registered = str(document.get("token_endpoint_auth_method") or method)
    return RegisteredClient(
        str(document["client_id"]), secret if isinstance(secret, str) else None, registered, uri
    ), lines


# -- no scope on reconnect ------------------------------------------------------------------------


async def check_empty_scope(probe: Probe) -> None:
    """``oauth.empty_scope``: an authorization request without scope, or with an empty one (what
    ChatGPT sends after Disconnect → Connect), is not refused with invalid_scope."""
    report = probe.report
    client = probe.learned.client
    if client is None:
        report.record("oauth.empty_scope", Status.SKIP, "blocked by oauth.register")
        return
    if not main_accepted(probe):
        report.record("oauth.empty_scope", Status.SKIP, "blocked by oauth.authorize")
        return
    evidence: list[str] = []
    refused: list[str] = []
    for label, scope in (("no scope parameter", None), ("scope=(empty)", "")):
        authorization = await authorize(probe, client, scope, browser=False)
        params = authorization.params or {}
        outcome = authorization.outcome
        evidence.append(
            f"{label}: {outcome.kind}" + (f", error={params['error']}" if "error" in params else "")
        )
        evidence += ["    " + line for line in outcome.evidence]
        error = params.get("error")
        # Another error than the flow's own request got is this probe's: the missing scope.
        if error == "invalid_scope" or (error and error != probe.learned.authorization_error):
            refused.append(f"{label} (error={error})")
        elif outcome.kind == "refused":
            refused.append(f"{label} ({outcome.detail})")
    if refused:
        probe.learned.differ(
            "chatgpt",
            "an authorization request without scope is refused: ChatGPT sends none when a user reconnects "
            "(oauth.empty_scope)",
        )
        report.record(
            "oauth.empty_scope",
            Status.FAIL,
            f"refused: {'; '.join(refused)}",
            evidence=evidence,
            hint="Give an authorization request without scope (or with an empty one) the default scopes instead "
            "of invalid_scope: ChatGPT sends none after Disconnect → Connect, and the user is stuck.",
        )
        return
    report.record(
        "oauth.empty_scope",
        Status.PASS,
        "requests without scope are accepted (default scopes)",
        evidence=evidence,
    )


# -- ChatGPT and spec-conformant clients, side by side ----------------------------------------


def record_differences(probe: Probe) -> None:
    """``oauth.differences``: what the run found that fails only for ChatGPT, or only for spec clients."""
    current = probe.report.get("oauth.differences")
    if current is not None and current.status is Status.NA:
        return
    found = probe.learned.differences
    if not found:
        note = "" if probe.chatgpt else " (the ChatGPT-specific probes did not run: --profile spec)"
        probe.report.record(
            "oauth.differences",
            Status.PASS,
            "nothing found that works for one and fails for the other" + note,
        )
        return
    evidence = [
        (
            "fails for ChatGPT, works for spec-conformant clients: "
            if who == "chatgpt"
            else "fails for spec-conformant clients, works for ChatGPT: "
        )
        + what
        for who, what in found
    ]
    chatgpt = sum(1 for who, _ in found if who == "chatgpt")
    probe.report.record(
        "oauth.differences",
        Status.WARN,
        f"{chatgpt} thing(s) fail only for ChatGPT, {len(found) - chatgpt} only for spec-conformant clients",
        evidence=evidence,
        hint="Fix the checks named in the evidence: a server that works with the MCP SDKs can still fail to "
        "link with ChatGPT, and the other way round.",
    )
