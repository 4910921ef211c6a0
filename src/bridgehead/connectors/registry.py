"""Finds connector classes (entry points) and builds the configured instances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from bridgehead.config import ConfigError, ConfigProblem, format_location
from bridgehead.connectors.base import Connector, ConnectorContext, Tool

ENTRY_POINT_GROUP = "bridgehead.connectors"


def available_connector_types() -> dict[str, type[Connector]]:
    """Every connector class installed, by its type name."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[entry.name] = cls
    # Running from a source tree that was never installed: the built-ins still work.
    if "documents" not in found:
        from bridgehead.connectors.documents import DocumentsConnector

        found["documents"] = DocumentsConnector
    if "openapi" not in found:
        from bridgehead.connectors.openapi import OpenAPIConnector

        found["openapi"] = OpenAPIConnector
    if "functions" not in found:
        from bridgehead.connectors.functions import FunctionsConnector

        found["functions"] = FunctionsConnector
    if "upstream" not in found:
        from bridgehead.connectors.upstream import UpstreamConnector

        found["upstream"] = UpstreamConnector
    if "sql" not in found:
        from bridgehead.connectors.sql import SQLConnector

        found["sql"] = SQLConnector
    return found


def build_connectors(
    configs: Sequence[Mapping[str, Any]],
    context: ConnectorContext,
    types: Mapping[str, type[Connector]] | None = None,
) -> list[Connector]:
    """Validate each connector table against its own config model and instantiate it.

    Raises ConfigError naming every problem as ``connectors[i].key``.
    """
    known = dict(types) if types is not None else available_connector_types()
    problems: list[ConfigProblem] = []
    connectors: list[Connector] = []
    seen_names: set[str] = set()
    for index, raw in enumerate(configs):
        where = f"connectors[{index}]"
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in known:
            choices = ", ".join(sorted(known))
            problems.append(
                ConfigProblem(f"{where}.type", f"unknown connector type {kind!r} (installed: {choices})")
            )
            continue
        cls = known[kind]
        try:
            config = cls.config_model.model_validate(dict(raw))
        except ValidationError as exc:
            for error in exc.errors():
                loc = [p for p in error["loc"] if isinstance(p, (str, int))]
                message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
                problems.append(ConfigProblem(f"{where}.{format_location(loc)}", message))
            continue
        if config.name in seen_names:
            problems.append(ConfigProblem(f"{where}.name", f"duplicate connector name {config.name!r}"))
            continue
        seen_names.add(config.name)
        try:
            connectors.append(cls(config, context))
        except ConfigError as exc:
            # Keep going, so one check reports every broken connector.
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return connectors


def collect_tools(connectors: Sequence[Connector]) -> list[Tool]:
    """All tools of all connectors, prefixed, in a stable order; duplicate names are a ConfigError."""
    tools: list[Tool] = []
    owners: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for connector in connectors:
        for tool in connector.tools():
            if connector.config.read_only and not tool.hints.read_only:
                continue
            name = connector.config.tool_prefix + tool.name
            if name in owners:
                problems.append(
                    ConfigProblem(
                        f"connectors.{connector.name}",
                        f"tool {name!r} is also provided by connector {owners[name]!r}; set tool_prefix on one",
                    )
                )
                continue
            owners[name] = connector.name
            tools.append(replace(tool, name=name) if name != tool.name else tool)
    if problems:
        raise ConfigError(problems)
    return tools
