"""Which redirect URIs a client may name (OAuth 2.1 §2.3, RFC 8252 §7), however it registers.

Dynamic registration (RFC 7591) and Client ID Metadata Documents apply the same
rules; each turns a refusal into its own error (``invalid_redirect_uri`` or
``invalid_client``). Matching a request's ``redirect_uri`` against the list is
always an exact string comparison, done where the list is used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, urlsplit

MAX_REDIRECT_URIS = 20
MAX_URI_LENGTH = 2000
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class RedirectURIError(ValueError):
    """A redirect URI no client may register; the message says why."""


def split_url(value: str) -> SplitResult | None:
    """The parts of a URL, or None when it cannot be parsed (an unclosed IPv6 bracket, say)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None


def check_redirect_uri(uri: Any) -> str:
    """``uri`` if it is https, http on a loopback address, or a private-use scheme; RedirectURIError otherwise."""
    if not isinstance(uri, str) or len(uri) > MAX_URI_LENGTH:
        raise RedirectURIError(f"each redirect_uri must be a string of at most {MAX_URI_LENGTH} characters")
    parts = split_url(uri)
    if parts is None:
        raise RedirectURIError(f"redirect_uri {uri!r} is not a valid URL")
    if parts.fragment:
        raise RedirectURIError(f"redirect_uri {uri!r} must not contain a fragment")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri
    # Private-use URI schemes for native apps (RFC 8252 §7.1) are reverse domain names: com.example.app:/cb.
    if "." in parts.scheme and parts.scheme not in ("http", "https"):
        return uri
    raise RedirectURIError(
        f"redirect_uri {uri!r} must be https, http on a loopback address, or a private-use scheme"
    )


def check_redirect_uris(uris: Any) -> list[str]:
    """A non-empty list of acceptable redirect URIs, or RedirectURIError naming the first problem."""
    if not isinstance(uris, list) or not uris:
        raise RedirectURIError("redirect_uris must be a non-empty list")
    if len(uris) > MAX_REDIRECT_URIS:
        raise RedirectURIError(f"at most {MAX_REDIRECT_URIS} redirect_uris")
    return [check_redirect_uri(uri) for uri in uris]
