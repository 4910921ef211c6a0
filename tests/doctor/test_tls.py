"""The doctor over TLS: certificate checks, and http:// metadata behind an HTTPS front."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from bridgehead.doctor import Status
from tests.doctor.certificates import TlsFiles
from tests.doctor.conftest import UNTRIGGERED, HeadlessUser, assert_findings, explain, run_doctor, statuses


async def test_http_metadata_behind_https_is_named(
    bridgehead_over_tls: Callable[..., str], tls_files: TlsFiles
) -> None:
    """Reached over https, but the server believes it is http://127.0.0.1:PORT (a TLS-terminating proxy
    whose X-Forwarded-Proto it does not trust): every advertised URL is http://."""
    url = bridgehead_over_tls(lambda port: f"http://127.0.0.1:{port}")
    user = HeadlessUser("alice", verify=ssl.create_default_context(cafile=str(tls_files.ca)))
    report = await run_doctor(url, ca_bundle=tls_files.ca, interactive=True, browser=user)
    assert_findings(report, fails={"auth.metadata_urls"})
    found = statuses(report)
    # Nothing else is blamed: the doctor went on over https and checked the rest.
    assert {c for c, s in found.items() if s is not Status.PASS} == {"auth.metadata_urls", *UNTRIGGERED}, (
        explain(report)
    )
    metadata_urls = report.get("auth.metadata_urls")
    assert metadata_urls is not None and metadata_urls.hint
    assert any(line.startswith("token_endpoint: http://") for line in metadata_urls.evidence)


async def test_https_with_a_trusted_certificate(
    bridgehead_over_tls: Callable[..., str], tls_files: TlsFiles
) -> None:
    url = bridgehead_over_tls(lambda port: f"https://127.0.0.1:{port}")
    report = await run_doctor(url, ca_bundle=tls_files.ca)
    assert_findings(report)
    found = statuses(report)
    assert found["url.https"] is Status.PASS, explain(report)
    assert found["auth.metadata_urls"] is Status.PASS, explain(report)
    https = report.get("url.https")
    assert https is not None and any("certificate expires" in line for line in https.evidence)


async def test_an_untrusted_certificate_fails_url_https(bridgehead_over_tls: Callable[..., str]) -> None:
    url = bridgehead_over_tls(lambda port: f"https://127.0.0.1:{port}")
    report = await run_doctor(url)  # the test CA is not trusted
    assert_findings(report, fails={"url.https"})
    https = report.get("url.https")
    assert https is not None and "certificate" in https.message
    assert all(r.status is Status.SKIP for r in report.checks if r.id != "url.https"), explain(report)
