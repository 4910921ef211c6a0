"""The running server's state: store, connectors and the tool surface built from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridgehead.config import Settings
from bridgehead.connectors.base import Connector, ConnectorContext
from bridgehead.connectors.registry import build_connectors, collect_tools
from bridgehead.protocol.tools import ToolSurface
from bridgehead.store import Database

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request may need, created once per process."""

    settings: Settings
    database: Database
    connectors: list[Connector]
    surface: ToolSurface
    started: bool = field(default=False)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Build (but do not start) the runtime; raises ConfigError on invalid connector settings."""
        database = Database(settings.store_url(), echo=settings.store.echo)
        connectors = build_connectors(settings.connector_configs(), ConnectorContext(settings, database))
        surface = ToolSurface(collect_tools(connectors))
        return cls(settings, database, connectors, surface)

    async def start(self) -> None:
        """Migrate the store and start every connector (documents are indexed here)."""
        await self.database.migrate()
        for connector in self.connectors:
            await connector.start()
        self.started = True
        logger.info("Bridgehead ready: %d tools from %d connectors", len(self.surface), len(self.connectors))

    async def stop(self) -> None:
        for connector in reversed(self.connectors):
            try:
                await connector.stop()
            except Exception:
                logger.exception("connector %s failed to stop cleanly", connector.name)
        await self.database.close()
        self.started = False

    async def readiness(self) -> dict[str, bool]:
        """Per-component readiness for /readyz."""
        checks = {"database": await self.database.ping()}
        for connector in self.connectors:
            checks[f"connector:{connector.name}"] = self.started and await connector.ready()
        return checks
