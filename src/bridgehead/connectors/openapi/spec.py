"""Loading an OpenAPI 3.0 or 3.1 document (a file or a URL, JSON or YAML) and following its references."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import httpx
import orjson
import yaml

from bridgehead.ssrf import AddressGuard, BlockedAddressError, guarded_sync_transport

MAX_SPEC_BYTES = 20 * 1024 * 1024
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


class SpecError(Exception):
    """The document cannot be loaded or is not an OpenAPI 3.0/3.1 document."""


_YAMLBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_YAMLBase):  # type: ignore[misc]
    """Safe YAML with dates left as strings: JSON Schema has no date type, and JSON cannot hold one."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _YAMLBase.yaml_implicit_resolvers.items()
}


def parse_document(raw: bytes, source: str) -> dict[str, Any]:
    """JSON or YAML text as a mapping; which one is decided by the first character, not the name."""
    text = raw.lstrip()
    try:
        data = orjson.loads(text) if text.startswith(b"{") else yaml.load(text, Loader=_SpecLoader)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{source} is neither valid JSON nor valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{source} does not hold an OpenAPI document (no top-level mapping)")
    return data


def _fetch(url: str, guard: AddressGuard, timeout: float, ca_file: str | None) -> bytes:
    transport = guarded_sync_transport(guard, ca_file)
    headers = {"accept": "application/json, application/yaml;q=0.9, */*;q=0.5"}
    try:
        with (
            httpx.Client(transport=transport, timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise SpecError(f"fetching {url} returned HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_SPEC_BYTES:
                    raise SpecError(f"{url} is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB")
            return bytes(body)
    except BlockedAddressError as exc:
        raise SpecError(f"cannot fetch {url}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise SpecError(f"cannot fetch {url}: {exc or type(exc).__name__}") from exc


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{path} is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from exc


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def load_document(
    source: str, *, guard: AddressGuard, timeout: float, ca_file: str | None = None
) -> OpenAPIDocument:
    """Read, parse and check the document at a path or an http(s) URL (fetched through the guard)."""
    raw = _fetch(source, guard, timeout, ca_file) if is_url(source) else _read(Path(source).expanduser())
    return OpenAPIDocument.from_mapping(parse_document(raw, source), source)


def _pointer_tokens(ref: str) -> list[str]:
    """The decoded tokens of a local reference ``#/a/b~1c`` (RFC 6901 inside a URI fragment)."""
    fragment = unquote(ref[1:])
    if fragment == "":
        return []
    if not fragment.startswith("/"):
        raise SpecError(f"$ref {ref!r} is not a JSON pointer")
    return [token.replace("~1", "/").replace("~0", "~") for token in fragment[1:].split("/")]


@dataclass(frozen=True)
class OpenAPIDocument:
    """A parsed OpenAPI 3.0 or 3.1 document."""

    data: dict[str, Any]
    version: str
    """"3.0" or "3.1"."""
    source: str

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "<document>") -> OpenAPIDocument:
        declared = data.get("openapi")
        if not isinstance(declared, str):
            hint = (
                " (Swagger 2.0 documents must be converted to OpenAPI 3 first)" if "swagger" in data else ""
            )
            raise SpecError(f"{source} has no `openapi` version field{hint}")
        match = re.match(r"^3\.([01])\.\d+", declared)
        if match is None:
            raise SpecError(f"{source} is OpenAPI {declared}; only 3.0.x and 3.1.x are supported")
        if not isinstance(data.get("paths", {}), dict):
            raise SpecError(f"{source}: `paths` is not a mapping")
        return cls(data, f"3.{match.group(1)}", source)

    @property
    def title(self) -> str:
        info = self.data.get("info")
        title = info.get("title") if isinstance(info, dict) else None
        return title if isinstance(title, str) and title else "the API"

    def resolve(self, ref: str) -> Any:
        """The value a local ``$ref`` points to; other references are not followed."""
        if not ref.startswith("#"):
            raise SpecError(f"$ref {ref!r} points outside the document; only local references are supported")
        node: Any = self.data
        for token in _pointer_tokens(ref):
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SpecError(f"$ref {ref!r} does not resolve")
        return node

    def deref(self, node: Any) -> Any:
        """Follow a chain of ``$ref`` on a non-schema object (parameter, request body, path item)."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise SpecError(f"$ref {ref!r} refers to itself")
            seen.add(ref)
            node = self.resolve(ref)
        return node

    def default_server(self) -> str | None:
        """The first server's URL with its variables at their defaults, made absolute when possible.

        A relative server URL is relative to where the document was fetched; for a
        document read from a file it cannot be used (None).
        """
        servers = self.data.get("servers")
        url = "/"
        if isinstance(servers, list) and servers and isinstance(servers[0], dict):
            server = servers[0]
            url = str(server.get("url") or "/")
            variables = server.get("variables")
            if isinstance(variables, dict):
                for name, variable in variables.items():
                    if isinstance(variable, dict) and "default" in variable:
                        url = url.replace("{" + str(name) + "}", str(variable["default"]))
        if is_url(url):
            return url
        if is_url(self.source):
            return urljoin(self.source, url)
        return None

    def paths(self) -> dict[str, Any]:
        paths = self.data.get("paths")
        return paths if isinstance(paths, dict) else {}
