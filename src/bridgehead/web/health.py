"""Liveness (/healthz) and readiness (/readyz) probes for load balancers and orchestrators."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridgehead import __version__
from bridgehead.runtime import Runtime


def health_routes(runtime: Runtime) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> JSONResponse:
        ready, checks = await runtime.readiness()
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks, "tools": len(runtime.surface)},
            status_code=200 if ready else 503,
        )

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
    ]
