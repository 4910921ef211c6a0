"""The echo tool as Bridgehead serves it: a module for the ``functions`` connector.

``bench/echo_throughput.py`` points a ``functions`` connector at this module
(``module = "bench.echo_tools"``, with the repository root on its
``search_path``). The tool does no work of its own, so a ``tools/call`` of it
measures the server and nothing else; ``bench/echo_servers.py`` serves the
same function through the other servers it is compared with.
"""

from __future__ import annotations

from bridgehead.connectors.functions import tool


@tool(read_only=True, idempotent=True, open_world=False)  # type: ignore[untyped-decorator]
async def echo(text: str) -> str:
    """Return the text it is given."""
    return text
