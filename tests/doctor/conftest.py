"""Fixtures for the doctor's tests: servers to examine (Bridgehead, broken ones, TLS) and a headless user."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridgehead.app import create_app
from bridgehead.doctor import Browser, DoctorOptions, Report, Status, diagnose
from bridgehead.doctor.probe import CHATGPT_REDIRECT_URI
from tests.auth.conftest import PASSWORD, add_user, oauth_server
from tests.auth.flow import form_fields
from tests.conftest import make_settings
from tests.doctor.broken_servers import Faults, broken_app, document_app, serve_app
from tests.doctor.certificates import TlsFiles, make_tls_files

TEST_TIMEOUT = 5.0
UNTRIGGERED = frozenset({"oauth.step_up", "tools.www_authenticate", "tools.call"})
"""Checks that only apply when a server asks for more scope, a tool result carries a challenge, or
--call-tool names a tool: n/a on a healthy server that does none of it."""
__all__ = ["oauth_server"]  # Bridgehead in oauth or mixed mode, with users alice and rita


async def run_doctor(url: str, **options: Any) -> Report:
    """Run the doctor with test-sized timeouts."""
    options.setdefault("timeout", TEST_TIMEOUT)
    options.setdefault("login_timeout", 20.0)
    return await diagnose(url, DoctorOptions(**options))


def statuses(report: Report) -> dict[str, Status]:
    return {result.id: result.status for result in report.checks}


def with_status(report: Report, status: Status) -> set[str]:
    return {result.id for result in report.checks if result.status is status}


def explain(report: Report) -> str:
    """The report as text, for assertion messages."""
    return "\n".join(
        f"{r.status.value:5} {r.id}: {r.message}" + "".join(f"\n        {e}" for e in r.evidence)
        for r in report.checks
    )


def assert_clean(report: Report, *, na: Iterable[str] = (), triggered: Iterable[str] = ()) -> None:
    """Every check passes, except plain HTTP on loopback and the checks that do not apply: the
    untriggered ones (unless ``triggered``) and ``na``."""
    found = statuses(report)
    expected_na = (UNTRIGGERED - set(triggered)) | set(na)
    assert {c for c, s in found.items() if s is Status.NA} == expected_na, explain(report)
    assert {c for c, s in found.items() if s not in (Status.PASS, Status.NA)} <= {"url.https"}, explain(
        report
    )


def assert_findings(report: Report, *, fails: Iterable[str] = (), warns: Iterable[str] = ()) -> None:
    """Exactly these checks fail, and no check warns beyond ``warns`` and plain HTTP on loopback."""
    fails, warns = set(fails), set(warns)
    assert with_status(report, Status.FAIL) == fails, explain(report)
    assert with_status(report, Status.WARN) <= {*warns, "url.https"}, explain(report)
    assert warns <= with_status(report, Status.WARN), explain(report)


class HeadlessUser(Browser):
    """Signs in on Bridgehead's login page and approves the consent page, like a person in a browser."""

    def __init__(self, username: str, *, verify: ssl.SSLContext | bool = True) -> None:
        self.username = username
        self.verify = verify
        self.opened: list[str] = []

    async def open(self, url: str) -> None:
        self.opened.append(url)
        async with httpx.AsyncClient(verify=self.verify, timeout=10, follow_redirects=False) as http:
            login = await http.get(url)
            assert login.status_code == 200, login.text
            consent = await http.post(
                login.url.join("/login"),
                data={**form_fields(login.text), "username": self.username, "password": PASSWORD},
            )
            assert consent.status_code == 200, consent.text
            answer = await http.post(
                consent.url.join("/consent"), data={**form_fields(consent.text), "decision": "allow"}
            )
            assert answer.status_code == 302, answer.text
            # The browser follows the redirect to the doctor's loopback listener.
            delivered = await http.get(answer.headers["location"])
            assert delivered.status_code == 200


@pytest.fixture
def broken_server() -> Iterator[Callable[..., str]]:
    """Start test servers with the given faults; yields a function returning each one's MCP URL."""
    with ExitStack() as stack:

        def start(path: str = "/mcp", **faults: bool) -> str:
            origin = stack.enter_context(serve_app(lambda port: broken_app(Faults(**faults))))
            return origin + path

        yield start


@pytest.fixture
def metadata_document() -> Iterator[Callable[..., str]]:
    """Serve a client ID metadata document on 127.0.0.1; yields a function returning its URL (its client_id).

    ``redirect_uris`` defaults to ChatGPT's; ``client_id`` overrides the document's own URL.
    """
    with ExitStack() as stack:

        def start(redirect_uris: list[str] | None = None, client_id: str | None = None) -> str:
            def document(url: str) -> dict[str, Any]:
                return {
                    "client_id": client_id or url,
                    "client_name": "ChatGPT (test document)",
                    "redirect_uris": redirect_uris or [CHATGPT_REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                }

            origin = stack.enter_context(serve_app(lambda port: document_app(document)))
            return origin + "/client.json"

        yield start


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def bridgehead_over_tls(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Callable[..., str]]:
    """Bridgehead in oauth mode served over TLS on 127.0.0.1 whose public base URL is ``public(port)``:
    a stand-in for a TLS-terminating proxy in front of a server that does not know about it."""
    with ExitStack() as stack:

        def start(public: Callable[[int], str]) -> str:
            store = f"sqlite+aiosqlite:///{tmp_path / 'tls-auth.db'}"
            add_user(store, "alice")

            def app_for_port(port: int) -> Any:
                settings = make_settings(
                    tmp_path,
                    auth={"mode": "oauth"},
                    store={"url": store},
                    server={"public_base_url": public(port)},
                )
                return create_app(settings)

            origin = stack.enter_context(serve_app(app_for_port, tls=tls_files))
            return origin + "/mcp"

        yield start
