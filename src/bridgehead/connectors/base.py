"""The connector extension point.

A connector turns one company system into MCP tools. It is a class with a
pydantic config model (``config_model``), a ``tools()`` method returning
:class:`Tool` descriptions with their handlers, and optional ``start``/``stop``
hooks and HTTP routes. Built-in connectors are registered exactly like
third-party ones: through the ``bridgehead.connectors`` entry point group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from bridgehead.config import Settings
    from bridgehead.store import Database


class ConnectorConfig(BaseModel):
    """Settings every connector shares; subclasses add their own fields."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="Instance name, unique per server.")
    tool_prefix: str = Field(
        default="",
        pattern=r"^([a-z][a-z0-9_]{0,31}_)?$",
        description="Prepended to every tool name of this instance (e.g. 'crm_').",
    )
    read_only: bool = Field(default=False, description="Hide every tool of this connector that can write.")


class ToolError(Exception):
    """A tool ran but failed in a way the model should see: becomes a result with isError=true."""


@dataclass(frozen=True)
class ToolHints:
    """The MCP tool annotations that tell ChatGPT whether to ask for confirmation."""

    read_only: bool
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


@dataclass(frozen=True)
class ToolOutput:
    """A tool result: the text the model reads and, optionally, structured content.

    ``content`` carries MCP content blocks verbatim when a connector relays them (an upstream
    MCP server's images or resources); ``is_error`` relays a tool error without raising.
    """

    text: str
    structured: dict[str, Any] | None = None
    content: Sequence[Any] | None = None
    is_error: bool = False


class CallContext:
    """What a tool handler knows about the call it is serving.

    ``base_url`` may be given as a function: working out the public origin from the request's
    headers costs more than many tool calls, and most tools never ask for it.
    """

    __slots__ = ("_base_url", "_resolve")

    def __init__(self, base_url: str | None = None, *, resolve: Callable[[], str] | None = None) -> None:
        if (base_url is None) == (resolve is None):
            raise TypeError("CallContext needs exactly one of base_url and resolve")
        self._base_url = base_url
        self._resolve = resolve

    @property
    def base_url(self) -> str:
        """The public origin of this server for this request, without a trailing slash."""
        if self._base_url is None:
            assert self._resolve is not None
            self._base_url = self._resolve()
        return self._base_url

    def __repr__(self) -> str:
        return f"CallContext(base_url={self.base_url!r})"


ToolHandler = Callable[[dict[str, Any], CallContext], Awaitable[ToolOutput]]


@dataclass(frozen=True)
class Tool:
    """One tool as a connector contributes it."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    hints: ToolHints
    handler: ToolHandler = field(compare=False, repr=False)
    output_schema: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConnectorContext:
    """What the server hands a connector when it builds it."""

    settings: Settings
    database: Database
    tools_changed: Callable[[], Awaitable[None]] | None = None
    """Call when ``tools()`` would now answer differently (e.g. an upstream server's list changed)."""


class Connector:
    """Base class for connectors. Subclasses set ``type_name`` and ``config_model``."""

    type_name: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    gates_readiness: ClassVar[bool] = True
    """Whether /readyz fails while this connector is not ready. External systems that come and go
    (an upstream server, a database) should not take every replica out of a load balancer."""

    def __init__(self, config: ConnectorConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:
        """Prepare the connector (open pools, index documents). Called once at server start."""

    async def stop(self) -> None:
        """Release what ``start`` acquired."""

    async def ready(self) -> bool:
        """True when the connector can serve calls; feeds /readyz."""
        return True

    def tools(self) -> Sequence[Tool]:
        """The tools this connector contributes, without ``tool_prefix`` applied."""
        raise NotImplementedError

    def routes(self) -> Sequence[BaseRoute]:
        """HTTP routes this connector serves (e.g. a page per document)."""
        return ()
