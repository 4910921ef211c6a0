"""The running server's state: store, connectors, the tool surface built from them, policy and auth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bridgehead.audit import AuditLog
from bridgehead.auth.service import AuthService
from bridgehead.config import Settings
from bridgehead.connectors.base import Connector, ConnectorContext
from bridgehead.connectors.registry import build_connectors, collect_tools
from bridgehead.policy import PolicyEngine
from bridgehead.protocol.surface_history import SurfaceVersion, record_surface
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
    loader: Callable[[], Settings] | None = None
    context: ConnectorContext | None = None
    on_surface_change: Callable[[SurfaceVersion], Awaitable[None]] | None = None
    started: bool = field(default=False)
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, settings: Settings, loader: Callable[[], Settings] | None = None) -> Runtime:
        """Build (but do not start) the runtime; raises ConfigError on invalid connector settings.

        ``loader`` re-reads the configuration for :meth:`reload`.
        """
        database = Database(settings.store_url(), echo=settings.store.echo)
        created: list[Runtime] = []

        async def tools_changed() -> None:
            if created:
                await created[0].refresh_surface()

        context = ConnectorContext(settings, database, tools_changed)
        connectors = build_connectors(settings.connector_configs(), context)
        tools = collect_tools(connectors)
        policy = PolicyEngine(settings.auth)
        surface = ToolSurface(tools, cls._schemes(settings, policy))
        auth = AuthService(settings, database, policy, policy.supported_scopes(tools))
        audit = AuditLog(database, settings.audit)
        runtime = cls(settings, database, connectors, surface, policy, auth, audit, loader, context)
        created.append(runtime)
        return runtime

    @staticmethod
    def _schemes(settings: Settings, policy: PolicyEngine) -> Callable[..., list[dict[str, object]]] | None:
        return policy.security_schemes if settings.auth.mode != "none" else None

    async def reload(self) -> SurfaceVersion | None:
        """Re-read the configuration and swap in the new connectors and tool surface.

        Only connectors change live; other sections need a restart (a warning says so).
        Returns the new surface version, or None when the tool surface did not change.
        """
        if self.loader is None:
            raise RuntimeError("this server was started without a configuration to reload")
        async with self._reload_lock:
            settings = self.loader()
            unchanged = settings.model_dump(exclude={"connectors"}) == self.settings.model_dump(
                exclude={"connectors"}
            )
            if not unchanged:
                logger.warning("configuration changes outside [[connectors]] take effect after a restart")
            context = self.context or ConnectorContext(self.settings, self.database)
            connectors = build_connectors(settings.connector_configs(), context)
            collect_tools(connectors)  # duplicate names fail here, before anything is swapped
            for connector in connectors:
                await connector.start()
            previous = self.connectors
            self.connectors = connectors
            for connector in previous:
                try:
                    await connector.stop()
                except Exception:
                    logger.exception("connector %s failed to stop cleanly", connector.name)
            return await self._rebuild_surface()

    async def refresh_surface(self) -> SurfaceVersion | None:
        """Rebuild the tool surface from the running connectors (one of them says its tools changed)."""
        async with self._reload_lock:
            return await self._rebuild_surface()

    async def _rebuild_surface(self) -> SurfaceVersion | None:
        tools = collect_tools(self.connectors)
        self.surface = ToolSurface(tools, self._schemes(self.settings, self.policy))
        self.auth.supported_scopes = self.auth.clients.supported_scopes = self.policy.supported_scopes(tools)
        if not self.started:
            return None
        version = await record_surface(self.database, self.surface.fingerprint(), self.surface.wire())
        if version is not None:
            logger.info("tool surface changed (version %d):\n%s", version.id, version.diff)
            if self.on_surface_change is not None:
                await self.on_surface_change(version)
        return version

    async def start(self) -> None:
        """Migrate the store, load signing keys and start every connector (documents are indexed here)."""
        await self.database.migrate()
        await self.auth.start()
        await self.audit.start()
        for connector in self.connectors:
            await connector.start()
        version = await record_surface(self.database, self.surface.fingerprint(), self.surface.wire())
        if version is not None and version.id > 1:
            logger.warning(
                "the tool surface changed since the last start (version %d); ChatGPT users must click Refresh "
                "in the connector settings to see it:\n%s",
                version.id,
                version.diff,
            )
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

    async def readiness(self) -> tuple[bool, dict[str, bool]]:
        """(ready, per-component checks) for /readyz; only gating components decide readiness."""
        database = await self.database.ping()
        checks = {"database": database}
        ready = database and self.started
        for connector in self.connectors:
            ok = self.started and await connector.ready()
            checks[f"connector:{connector.name}"] = ok
            if connector.gates_readiness:
                ready = ready and ok
        return ready, checks
