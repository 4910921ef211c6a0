"""Connectors turn company systems into MCP tools; see ``base.py`` for the extension point."""

from bridgehead.connectors.base import (
    CallContext,
    Connector,
    ConnectorConfig,
    ConnectorContext,
    Tool,
    ToolError,
    ToolHints,
    ToolOutput,
)

__all__ = [
    "CallContext",
    "Connector",
    "ConnectorConfig",
    "ConnectorContext",
    "Tool",
    "ToolError",
    "ToolHints",
    "ToolOutput",
]
