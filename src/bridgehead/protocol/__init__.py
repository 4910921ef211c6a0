"""MCP endpoint glue over the official SDK: the tool surface, transports and proxy handling."""
