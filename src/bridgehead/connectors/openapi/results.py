"""A backend response as a tool result: ``{"status", "headers", "body"}`` and its JSON text.

A 2xx response becomes structured content (the JSON body parsed, any other text as
a string, binary bodies described rather than shown) whose JSON is also the text
content. Anything else becomes the message of a tool error: the status and a
trimmed body. Secrets are redacted from both.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

import orjson

from bridgehead.connectors.base import ToolOutput
from bridgehead.connectors.openapi.backend import BackendResponse
from bridgehead.connectors.openapi.backend_auth import redact

ERROR_DETAIL_CHARS = 1000

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status the backend answered with."},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Selected response headers, names in lower case.",
        },
        "body": {"description": "The response body: parsed JSON, text, or a note about a binary body."},
        "truncated": {"type": "string", "description": "Present when the body was cut to the size limit."},
    },
    "required": ["status", "headers", "body"],
}


def _media_type(response: BackendResponse) -> tuple[str, str | None]:
    """The media type (lower case, no parameters) and the charset parameter, if any."""
    header = response.headers.get("content-type", "")
    media, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    return media.strip().lower(), charset


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _is_text(media: str) -> bool:
    return (
        media.startswith("text/")
        or _is_json(media)
        or media.endswith("+xml")
        or media
        in {
            "application/xml",
            "application/javascript",
            "application/x-www-form-urlencoded",
            "application/yaml",
            "application/x-yaml",
            "application/x-ndjson",
            "application/graphql",
        }
    )


def _decode(content: bytes, charset: str | None, complete: bool) -> str:
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # An incomplete body may end inside a character: `final=False` holds those bytes back.
    return str(decoder.decode(content, final=complete))


def response_body(response: BackendResponse, secrets: Sequence[str]) -> Any:
    """The body as JSON, text, or a note for binary content; None when there is none."""
    if not response.content:
        return None
    media, charset = _media_type(response)
    if not media:
        try:
            response.content.decode(charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            media = "application/octet-stream"
        else:
            media = "text/plain"
    if not _is_text(media):
        size = f"{'at least ' if response.truncated else ''}{len(response.content)} bytes"
        return f"[binary body: {size} of {media}, not shown]"
    text = redact(_decode(response.content, charset, not response.truncated), secrets)
    if not response.truncated and (_is_json(media) or text.lstrip()[:1] in ("{", "[")):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return text


def success_output(
    response: BackendResponse, header_names: Sequence[str], secrets: Sequence[str], limit: int
) -> ToolOutput:
    """A 2xx response as the tool's result."""
    headers = {
        name.lower(): redact(response.headers[name], secrets)
        for name in header_names
        if name in response.headers
    }
    payload: dict[str, Any] = {
        "status": response.status,
        "headers": headers,
        "body": response_body(response, secrets),
    }
    if response.truncated:
        payload["truncated"] = (
            f"The body was cut after its first {limit} bytes (the connector's max_response_bytes); "
            "the backend sent more. Ask for less (filters, paging) to see all of it."
        )
    return ToolOutput(orjson.dumps(payload).decode(), payload)


def failure_message(response: BackendResponse, label: str, secrets: Sequence[str]) -> str:
    """A non-2xx response as the message of a tool error: status, reason and a trimmed body."""
    message = f"{label} failed: HTTP {response.status} {response.reason}".rstrip()
    if response.attempts > 1:
        message += f" (after {response.attempts} attempts)"
    if response.status == 401:
        message += "; the backend did not accept the connector's credentials"
    body = response_body(response, secrets)
    if body is not None and body != "":
        detail = body if isinstance(body, str) else orjson.dumps(body).decode()
        if len(detail) > ERROR_DETAIL_CHARS:
            detail = detail[:ERROR_DETAIL_CHARS] + " […]"
        message += f"\n{detail}"
    return message
