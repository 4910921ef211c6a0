"""Reading form-encoded OAuth requests strictly."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from bridgehead.auth.errors import invalid_request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 50


async def read_form(request: Request) -> dict[str, str]:
    """The request's form fields; OAuth endpoints take application/x-www-form-urlencoded only, once each.

    The body is read here, within the size limit even when no Content-Length is
    sent, and every problem is an ``invalid_request`` (Starlette's own form
    parser answers some with a plain-text 400, which no OAuth client understands).
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise invalid_request("send parameters as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise invalid_request("request body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise invalid_request("request body too large")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeError as exc:
        raise invalid_request("the form is not ASCII with UTF-8 percent-encoding") from exc
    except ValueError as exc:  # more than MAX_FIELDS fields
        raise invalid_request(f"at most {MAX_FIELDS} parameters") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise invalid_request(f"parameter {key!r} must not repeat")
        fields[key] = value
    return fields
