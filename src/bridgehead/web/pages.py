"""Server-rendered pages for people (login, consent, errors), with headers that keep them unframeable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from bridgehead import __version__

TEMPLATES = Path(__file__).resolve().parent / "templates"

_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)

PAGE_HEADERS = {
    "Content-Security-Policy": _POLICY + "; form-action 'self' https: http://127.0.0.1:* http://localhost:*",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# Browsers apply form-action to the redirects that follow a form submission, and the consent form
# ends in a redirect to whatever URI the client registered: an IPv6 loopback or a private-use
# scheme (RFC 8252) that no fixed source list can name. Exact redirect-URI matching is what
# protects that redirect, so the consent page goes without form-action.
_REDIRECTING_FORMS = frozenset({"consent.html"})
_REDIRECTING_FORM_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": _POLICY}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template into a response carrying the page security headers."""
    html = _env.get_template(template).render(version=__version__, **context)
    headers = _REDIRECTING_FORM_HEADERS if template in _REDIRECTING_FORMS else PAGE_HEADERS
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    return render("error.html", status, title=title, message=message)
