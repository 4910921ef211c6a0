"""Bridgehead: a self-hosted MCP server for ChatGPT and every other MCP client."""

__version__ = "0.1.0"
