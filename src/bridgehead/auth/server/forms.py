"""Reading form-encoded OAuth requests strictly."""

from __future__ import annotations

from starlette.requests import Request

from bridgehead.auth.errors import invalid_request

MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The request's form fields; OAuth endpoints take application/x-www-form-urlencoded only, once each."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise invalid_request("send parameters as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise invalid_request("request body too large")
    form = await request.form(max_files=0, max_fields=50)
    fields: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) > 1:
            raise invalid_request(f"parameter {key!r} must not repeat")
        value = values[0]
        if not isinstance(value, str):
            raise invalid_request(f"parameter {key!r} must be text")
        fields[key] = value
    return fields
