"""Server-rendered pages for people (login, consent, errors), with headers that keep them unframeable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from bridgehead import __version__

TEMPLATES = Path(__file__).resolve().parent / "templates"

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self' https: http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template into a response carrying the page security headers."""
    html = _env.get_template(template).render(version=__version__, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    return render("error.html", status, title=title, message=message)
