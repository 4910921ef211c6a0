"""The running server's state: store, connectors, the tool surface built from them, policy and auth."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridgehead.audit import AuditLog
from bridgehead.auth.service import AuthService
from bridgehead.config import Settings
from bridgehead.connectors.base import Connector, ConnectorContext
from bridgehead.connectors.registry import build_connectors, collect_tools
from bridgehead.policy import PolicyEngine
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
    policy: PolicyEngine
    auth: AuthService
    audit: AuditLog
    started: bool = field(default=False)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Build (but do not start) the runtime; raises ConfigError on invalid connector settings."""
        database = Database(settings.store_url(), echo=settings.store.echo)
        connectors = build_connectors(settings.connector_configs(), ConnectorContext(settings, database))
        tools = collect_tools(connectors)
        policy = PolicyEngine(settings.auth)
        schemes = policy.security_schemes if settings.auth.mode != "none" else None
        surface = ToolSurface(tools, schemes)
        auth = AuthService(settings, database, policy, policy.supported_scopes(tools))
        return cls(settings, database, connectors, surface, policy, auth, AuditLog(database, settings.audit))

    async def start(self) -> None:
        """Migrate the store, load signing keys and start every connector (documents are indexed here)."""
        await self.database.migrate()
        await self.auth.start()
        await self.audit.start()
        for connector in self.connectors:
            await connector.start()
        self.started = True
        logger.info(
            "Bridgehead ready: %d tools from %d connectors, auth mode %s",
            len(self.surface),
            len(self.connectors),
            self.settings.auth.mode,
        )

    async def stop(self) -> None:
        await self.audit.stop()
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
